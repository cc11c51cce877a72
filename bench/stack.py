"""The local stand-ins the benchmark talks to, each in its own process so that neither server's
CPU lands in the measured process: moto (DynamoDB + Secrets Manager) and the ETpay sandbox."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3

from local.template import ROOT, table_definitions

REGION = "us-east-1"
TABLE_NAME = "etpay-orders-bench"
SECRET_ID = "etpay/credentials-bench"  # noqa: S105 - a secret name, not a secret
MERCHANT_CODE = "bench-merchant"
MERCHANT_API_TOKEN = "bench-merchant-api-token-0123456789"  # noqa: S105 - a local benchmark credential
START_TIMEOUT_SECONDS = 30
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own 127.0.0.1 server
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start within {START_TIMEOUT_SECONDS} s")


class LocalStack:
    """moto server + ETpay sandbox on 127.0.0.1, the orders table and the credentials secret."""

    def __init__(self, workdir: Path):
        self._workdir = workdir
        self._processes: list[subprocess.Popen] = []
        self.aws_endpoint = ""
        self.etpay_credentials: dict[str, str] = {}

    def __enter__(self) -> "LocalStack":
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_) -> None:
        self.stop()

    def _start(self) -> None:
        self._workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        moto = subprocess.Popen(  # noqa: S603 - our own interpreter
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._processes.append(moto)
        self.aws_endpoint = f"http://127.0.0.1:{port}"
        _wait_for(self.aws_endpoint + "/moto-api/", moto, "moto server")

        credentials_file = self._workdir / "etpay-credentials.json"
        credentials_file.unlink(missing_ok=True)
        sandbox = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "local.etpay_sandbox",
                "--port",
                "0",
                "--merchant-code",
                MERCHANT_CODE,
                "--merchant-api-token",
                MERCHANT_API_TOKEN,
                "--credentials-file",
                str(credentials_file),
                "--log-level",
                "WARNING",
                # ETpay's real API is HTTPS with keep-alive: a client that pools connections (ours)
                # reuses them, one that opens a connection per call (etpay-sdk) does not.
                "--keep-alive",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._processes.append(sandbox)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not credentials_file.exists() or not credentials_file.read_text().strip():
            if sandbox.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the ETpay sandbox did not start")
            time.sleep(0.05)
        self.etpay_credentials = json.loads(credentials_file.read_text())
        _wait_for(self.etpay_credentials["api_url"] + "/_control/health", sandbox, "ETpay sandbox")

        os.environ.update(FAKE_AWS, AWS_ENDPOINT_URL=self.aws_endpoint)
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(TableName=TABLE_NAME, **table_definitions()["OrdersTable"])
        boto3.client("secretsmanager").create_secret(Name=SECRET_ID, SecretString=json.dumps(self.etpay_credentials))

    def stop(self) -> None:
        for process in reversed(self._processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self._processes.clear()

    def function_environment(self, service: str) -> dict[str, str]:
        """What template.yaml gives a function, pointed at the local stand-ins. Tracing is off: there
        is no X-Ray daemon here (Powertools turns it off outside Lambda anyway)."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **FAKE_AWS,
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "TABLE_NAME": TABLE_NAME,
            "ETPAY_SECRET_ID": SECRET_ID,
            "STAGE": "sandbox",
            "CURRENCY": "CLP",
            "MAX_ORDER_AMOUNT": "7000000",
            "NOTIFICATION_URL": "https://example.invalid/notifications",
            "POWERTOOLS_SERVICE_NAME": service,
            "POWERTOOLS_METRICS_NAMESPACE": "EtpayPayments",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "RECONCILE_AFTER_SECONDS": "900",
            "RECONCILE_BATCH_SIZE": "50",
            # Read by the servers' processes; the -I runs get -B on the command line instead.
            "PYTHONDONTWRITEBYTECODE": "1",
        }

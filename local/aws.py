"""The stack's AWS side on this machine: moto's server in a subprocess, with the template's tables
and secrets created in it, so the functions talk to "AWS" over HTTP exactly as in the cloud."""

import json
import logging
import os
import secrets as secrets_random
import select
import signal
import string
import subprocess
import sys
from pathlib import Path
from typing import IO, Any, Literal

import boto3
from botocore.config import Config

from local.examples import EXAMPLE_NOTIFICATION_KEY
from local.template import load_template, resources_of_type, table_definitions

logger = logging.getLogger("local.aws")

MOTO_SCRIPT = Path(__file__).resolve().parent / "moto_process.py"
REGION = "us-east-1"
# moto accepts any credentials; fixed fake ones keep a developer's real profile out of it.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
}
# Generated secrets whose local value is fixed, so the committed example events verify locally.
LOCAL_SECRET_VALUES = {"NotificationKeySecret": EXAMPLE_NOTIFICATION_KEY}
START_TIMEOUT_SECONDS = 30.0
STOP_GRACE_SECONDS = 3.0


class EmulatorError(RuntimeError):
    pass


def physical_names(stack_name: str) -> dict[str, str]:
    """What `!Ref` of each table and secret of the template gives in the local stack."""
    names = {}
    for logical_id in resources_of_type("AWS::DynamoDB::Table"):
        names[logical_id] = f"{stack_name}-{logical_id}"
    for logical_id in resources_of_type("AWS::SecretsManager::Secret"):
        names[logical_id] = f"{stack_name}/{logical_id}"
    return names


class AwsEmulator:
    """moto's server, started by start() and ended by stop() (or when this process exits)."""

    def __init__(self, port: int, log_path: Path, python: str = sys.executable):
        self.requested_port = port  # 0 or a busy port: moto_process.py picks a free one
        self._log_path = log_path
        self._python = python
        self._process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None
        self.port: int | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "AwsEmulator":
        self._log = open(self._log_path, "ab")  # closed in stop()
        environment = {**child_environment(), **FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGION}
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [self._python, "-I", "-B", str(MOTO_SCRIPT), "--port", str(self.requested_port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=environment,
            start_new_session=True,
        )
        self.port = self._read_port()
        logger.info("AWS emulator (moto) on %s", self.endpoint_url)
        return self

    def _read_port(self) -> int:
        assert self._process is not None and self._process.stdout is not None
        readable, _, _ = select.select([self._process.stdout], [], [], START_TIMEOUT_SECONDS)
        line = self._process.stdout.readline() if readable else b""
        try:
            return int(json.loads(line)["port"])
        except (ValueError, KeyError, TypeError):
            self.stop()
            raise EmulatorError(f"the AWS emulator did not start; see {self._log_path}") from None

    def client(self, service: Literal["dynamodb", "secretsmanager"]) -> Any:
        return boto3.session.Session().client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
            config=Config(retries={"mode": "standard", "max_attempts": 3}),
        )

    def create_resources(self, names: dict[str, str], etpay_credentials: dict[str, str]) -> None:
        """Every table of the template with its own key schema; every secret of the template that
        holds ETpay credentials, filled with `etpay_credentials` (the sandbox's); every secret the
        template has generated (GenerateSecretString): its LOCAL_SECRET_VALUES value (the examples
        in events/ rely on them), else generated here the way Secrets Manager would."""
        dynamodb = self.client("dynamodb")
        for logical_id, definition in table_definitions().items():
            dynamodb.create_table(TableName=names[logical_id], **definition)
        secrets = self.client("secretsmanager")
        for logical_id, resource in resources_of_type("AWS::SecretsManager::Secret", load_template()).items():
            generate = resource["Properties"].get("GenerateSecretString")
            if generate is not None:
                value = LOCAL_SECRET_VALUES.get(logical_id) or generated_secret(generate)
                secrets.create_secret(Name=names[logical_id], SecretString=value)
                continue
            template_value = json.loads(resource["Properties"].get("SecretString") or "{}")
            if set(template_value) != set(etpay_credentials):
                raise EmulatorError(f"{logical_id} does not hold ETpay credentials; add a local value for it")
            secrets.create_secret(Name=names[logical_id], SecretString=json.dumps(etpay_credentials))

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.stdin:
                process.stdin.close()  # the emulator's signal to stop
            try:
                process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                _kill_group(process, signal.SIGTERM)
                try:
                    process.wait(STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    _kill_group(process, signal.SIGKILL)
                    process.wait()
            if process.stdout:
                process.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None


def generated_secret(options: dict) -> str:
    """What Secrets Manager's GenerateSecretString makes of these options (the ones the template
    uses: a length, letters and digits only when punctuation is excluded)."""
    alphabet = string.ascii_letters + string.digits
    if not options.get("ExcludePunctuation"):
        alphabet += string.punctuation
    length = int(options.get("PasswordLength", 32))
    return "".join(secrets_random.choice(alphabet) for _ in range(length))


def _kill_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def child_environment() -> dict[str, str]:
    """What any child needs from ours: nothing of the developer's AWS setup, no proxies."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108 - only a fallback for libraries
        # Never read a developer's ~/.aws: every call goes to the emulator with fake credentials.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "NO_PROXY": "127.0.0.1,localhost",
    }

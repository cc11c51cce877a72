"""The template's functions run as Lambda runs them: each execution environment is a long-lived
subprocess (`lambda_worker.py`) that imports the handler once and takes one event at a time.

A pool per function starts environments on demand up to a limit, like Lambda's concurrency;
an environment that crashes or runs past the function's timeout is thrown away, as Lambda does.
"""

import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger("local.functions")

WORKER_SCRIPT = Path(__file__).resolve().parent / "lambda_worker.py"
# Importing boto3 and Powertools takes about a second; a slow machine gets generous headroom.
INIT_TIMEOUT_SECONDS = 30.0
# How long a closed environment gets to exit on its own before it is terminated, then killed.
STOP_GRACE_SECONDS = 2.0
# Lambda's own default concurrency is far higher; a laptop needs only a few environments.
DEFAULT_MAX_ENVIRONMENTS = 4
READ_CHUNK_BYTES = 64 * 1024


class InvocationError(Exception):
    """The function did not return a result (Lambda would report a function error)."""


class FunctionTimeout(InvocationError):
    pass


@dataclass(frozen=True)
class FunctionSpec:
    name: str  # the template's logical id
    code_dir: Path
    handler: str  # module.function
    layer_dirs: tuple[Path, ...]
    environment: dict[str, str] = field(repr=False)
    timeout_seconds: float
    memory_mb: int
    log_path: Path


class Environment:
    """One execution environment: a worker subprocess and its result pipe."""

    def __init__(self, spec: FunctionSpec, python: str):
        self.spec = spec
        read_fd, write_fd = os.pipe()
        self._log: IO[bytes] = open(spec.log_path, "ab")  # closed in stop()
        command = [
            python,
            "-I",
            "-B",
            str(WORKER_SCRIPT),
            "--result-fd",
            str(write_fd),
            "--code-dir",
            str(spec.code_dir),
            "--handler",
            spec.handler,
        ]
        for layer in spec.layer_dirs:
            command += ["--layer-dir", str(layer)]
        try:
            # Its own session: a Ctrl-C in the terminal reaches only the parent, which then
            # stops every environment in order. stdin closing (the parent gone) ends it too.
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
                command,
                stdin=subprocess.PIPE,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=spec.environment,
                cwd=spec.code_dir,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        except OSError:
            os.close(read_fd)
            self._log.close()
            raise
        finally:
            os.close(write_fd)
        self._results = read_fd
        self._buffer = b""

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self) -> None:
        message = self._read_message(INIT_TIMEOUT_SECONDS)
        if not message.get("ready"):
            error = message.get("error") or {}
            raise InvocationError(f"{self.spec.name} failed to start: {error.get('errorType', 'unknown error')}")

    def invoke(self, event: dict[str, Any], request_id: str) -> dict[str, Any]:
        deadline = time.time() + self.spec.timeout_seconds
        request = {"event": event, "request_id": request_id, "deadline_ms": int(deadline * 1000)}
        stdin = self.process.stdin
        if stdin is None:
            raise InvocationError(f"{self.spec.name}: the execution environment has no stdin")
        try:
            stdin.write(json.dumps(request, separators=(",", ":")).encode() + b"\n")
            stdin.flush()
        except (BrokenPipeError, OSError):
            raise InvocationError(f"{self.spec.name}: the execution environment is gone") from None
        return self._read_message(self.spec.timeout_seconds)

    def _read_message(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FunctionTimeout(f"{self.spec.name} timed out after {timeout:g} s")
            readable, _, _ = select.select([self._results], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(self._results, READ_CHUNK_BYTES)
            if not chunk:
                raise InvocationError(f"{self.spec.name}: the execution environment exited")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            raise InvocationError(f"{self.spec.name}: unreadable answer from the execution environment") from None

    def terminate(self) -> None:
        """Stop the process under a running invocation; the invoking thread then sees it exit."""
        _signal_group(self.process, signal.SIGTERM)

    def stop(self, graceful: bool = True) -> None:
        """Close it: on its own when graceful (stdin closed), else killed at once, as Lambda ends an
        environment that timed out or broke."""
        try:
            if self.process.stdin and not self.process.stdin.closed:
                self.process.stdin.close()
        except OSError:
            pass
        if not graceful:
            _signal_group(self.process, signal.SIGKILL)
        try:
            self.process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, signal.SIGKILL)
                self.process.wait()
        try:
            os.close(self._results)
        except OSError:
            pass
        self._log.close()


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


class FunctionPool:
    """The execution environments of one function. Each takes one event at a time."""

    def __init__(
        self, spec: FunctionSpec, python: str = sys.executable, max_environments: int = DEFAULT_MAX_ENVIRONMENTS
    ):
        self.spec = spec
        self._python = python
        self._max = max_environments
        self._idle: list[Environment] = []
        self._busy: set[Environment] = set()
        self._count = 0
        self._closed = False
        self._available = threading.Condition()

    def warm(self) -> None:
        """Start one environment now, so the first request does not pay the cold start."""
        environment = self._reserve()
        self._release(environment)

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """The handler's return value. Raises InvocationError / FunctionTimeout like a failed Lambda."""
        environment = self._reserve()
        request_id = str(uuid.uuid4())
        try:
            reply = environment.invoke(event, request_id)
        except InvocationError:
            # A timed out or crashed environment is never reused: Lambda throws it away too.
            self._discard(environment)
            raise
        self._release(environment)
        if "error" in reply:
            error = reply["error"]
            raise InvocationError(f"{self.spec.name} raised {error.get('errorType', 'an error')}")
        return reply["result"]

    def _reserve(self) -> Environment:
        with self._available:
            while True:
                if self._closed:
                    raise InvocationError(f"{self.spec.name} is stopping")
                if self._idle:
                    environment = self._idle.pop()
                    self._busy.add(environment)
                    return environment
                if self._count < self._max:
                    self._count += 1
                    break
                self._available.wait()
        # Started outside the lock: a cold start must not hold up the other environments.
        try:
            environment = Environment(self.spec, self._python)
        except OSError:
            self._forget()
            raise
        try:
            environment.wait_ready()
        except InvocationError:
            environment.stop(graceful=False)
            self._forget()
            raise
        logger.info("%s: execution environment %d started", self.spec.name, environment.pid)
        with self._available:
            self._busy.add(environment)
            closed = self._closed
        if closed:
            self._discard(environment)
            raise InvocationError(f"{self.spec.name} is stopping")
        return environment

    def _release(self, environment: Environment) -> None:
        with self._available:
            self._busy.discard(environment)
            if not self._closed:
                self._idle.append(environment)
                self._available.notify()
                return
        environment.stop()
        self._forget()

    def _discard(self, environment: Environment) -> None:
        with self._available:
            self._busy.discard(environment)
        environment.stop(graceful=False)
        self._forget()

    def _forget(self) -> None:
        with self._available:
            self._count -= 1
            self._available.notify_all()

    def stop(self, timeout: float = 2 * STOP_GRACE_SECONDS) -> None:
        """Stop every environment: idle ones now, busy ones by ending the process under the event."""
        with self._available:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = list(self._busy)
            self._available.notify_all()
        for environment in idle:
            environment.stop()
            self._forget()
        for environment in busy:
            environment.terminate()
        deadline = time.monotonic() + timeout
        with self._available:
            while self._count > 0 and time.monotonic() < deadline:
                self._available.wait(deadline - time.monotonic())

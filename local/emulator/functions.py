"""The template's functions run as Lambda runs them: each execution environment is a long-lived
subprocess (`worker.py`) that imports the handler once and takes one event at a time.

A pool per function starts environments on demand up to a limit, like Lambda's concurrency;
an environment that crashes or runs past the function's timeout is thrown away, as Lambda does.
Each invocation carries the stack's clock offset: the worker moves the function's clock by it.
"""

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.emulator.processes import Child, read_ready, signal_group, stop_child

logger = logging.getLogger("local.functions")

WORKER_SCRIPT = Path(__file__).resolve().parent / "worker.py"
# Importing boto3 and Powertools takes about a second; a slow machine gets generous headroom.
INIT_TIMEOUT_SECONDS = 30.0
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
        self.closed = False  # set by the pool's stop(): every wait ends at once
        read_fd, write_fd = os.pipe()
        command = [python, "-I", "-B", str(WORKER_SCRIPT), "--result-fd", str(write_fd)]
        command += ["--code-dir", str(spec.code_dir), "--handler", spec.handler]
        for layer in spec.layer_dirs:
            command += ["--layer-dir", str(layer)]
        log = open(spec.log_path, "ab")  # noqa: SIM115 - closed by stop()
        try:
            # Its own session: a Ctrl-C in the terminal reaches only the parent, which stops
            # every environment in order. stdin closing (the parent gone) ends it too.
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
                command,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=spec.environment,
                cwd=spec.code_dir,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        except BaseException:
            os.close(read_fd)
            log.close()
            raise
        finally:
            os.close(write_fd)
        self._child = Child(process, log)
        self._results = read_fd
        self._buffer = b""

    @property
    def pid(self) -> int:
        return self._child.process.pid

    def wait_ready(self) -> None:
        message = self._read_message(INIT_TIMEOUT_SECONDS)
        if not message.get("ready"):
            error = message.get("error") or {}
            raise InvocationError(f"{self.spec.name} failed to start: {error.get('errorType', 'unknown error')}")

    def invoke(self, event: dict[str, Any], request_id: str, clock_offset: float = 0.0) -> dict[str, Any]:
        deadline = time.time() + self.spec.timeout_seconds
        request = {"event": event, "request_id": request_id, "deadline_ms": int(deadline * 1000)}
        if clock_offset:
            request["clock_offset"] = clock_offset
        stdin = self._child.process.stdin
        try:
            assert stdin is not None
            stdin.write(json.dumps(request, separators=(",", ":")).encode() + b"\n")
            stdin.flush()
        except (OSError, ValueError):
            raise InvocationError(f"{self.spec.name}: the execution environment is gone") from None
        return self._read_message(self.spec.timeout_seconds)

    def _read_message(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FunctionTimeout(f"{self.spec.name} timed out after {timeout:g} s")
            if not read_ready(self._results, remaining, lambda: self.closed):
                if self.closed:
                    raise InvocationError(f"{self.spec.name} is stopping")
                continue
            chunk = os.read(self._results, READ_CHUNK_BYTES)
            if not chunk:
                raise InvocationError(f"{self.spec.name}: the execution environment exited")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            message: dict[str, Any] = json.loads(line)
        except ValueError:
            raise InvocationError(f"{self.spec.name}: unreadable answer from the execution environment") from None
        return message

    def terminate(self) -> None:
        """Stop the process under a running invocation; the invoking thread then sees it exit."""
        self.closed = True
        signal_group(self._child.process, signal.SIGTERM)

    def stop(self, graceful: bool = True) -> None:
        """Close it: on its own when graceful (stdin closed), else killed at once, as Lambda ends an
        environment that timed out or broke."""
        self.closed = True
        stop_child(self._child, graceful)
        try:
            os.close(self._results)
        except OSError:
            pass


class FunctionPool:
    """The execution environments of one function. Each takes one event at a time."""

    def __init__(
        self,
        spec: FunctionSpec,
        python: str = sys.executable,
        max_environments: int = DEFAULT_MAX_ENVIRONMENTS,
        clock_offset: Callable[[], float] = float,
    ):
        self.spec = spec
        self._python = python
        self._max = max_environments
        self._clock_offset = clock_offset
        self._idle: list[Environment] = []
        self._busy: set[Environment] = set()
        self._starting: set[Environment] = set()
        self._count = 0
        self._closed = False
        self._available = threading.Condition()

    def warm(self) -> None:
        """Start one environment now, so the first request does not pay the cold start."""
        self._release(self._reserve())

    def invoke(self, event: dict[str, Any]) -> Any:
        """The handler's return value. Raises InvocationError / FunctionTimeout like a failed Lambda."""
        environment = self._reserve()
        try:
            reply = environment.invoke(event, str(uuid.uuid4()), self._clock_offset())
        except InvocationError:
            self._discard(environment)  # a timed out or crashed environment is never reused
            raise
        self._release(environment)
        if "error" in reply:
            raise InvocationError(f"{self.spec.name} raised {reply['error'].get('errorType', 'an error')}")
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
            # Started under the lock, so stop() always knows it; made ready outside it, so a cold
            # start does not hold up the other environments.
            try:
                environment = Environment(self.spec, self._python)
            except BaseException:
                self._count -= 1
                self._available.notify_all()
                raise
            self._starting.add(environment)
        try:
            environment.wait_ready()
        except BaseException:
            with self._available:
                self._starting.discard(environment)
            environment.stop(graceful=False)
            self._forget()
            raise
        logger.info("%s: execution environment %d started", self.spec.name, environment.pid)
        with self._available:
            self._starting.discard(environment)
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

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every environment: idle ones now, busy or starting ones by ending the process under
        the event (the thread that invoked it then reaps it)."""
        with self._available:
            self._closed = True
            idle, self._idle = self._idle, []
            running = list(self._busy | self._starting)
            self._available.notify_all()
        for environment in idle:
            environment.stop()
            self._forget()
        for environment in running:
            environment.terminate()
        deadline = time.monotonic() + timeout
        with self._available:
            while self._count > 0 and time.monotonic() < deadline:
                self._available.wait(deadline - time.monotonic())

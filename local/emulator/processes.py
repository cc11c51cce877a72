"""The emulator's child processes (moto, DynamoDB Local, the functions' workers) and the stack's
own HTTP servers: started so a Ctrl-C in the terminal reaches only the parent (each child has a
session of its own), waited for in short slices so a stop is seen at once, and stopped in order:
stdin closed (each child's signal to end), then SIGTERM, then SIGKILL to its whole group."""

import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from socketserver import BaseServer
from typing import IO

# How long a child gets to end on its own, then after SIGTERM, before SIGKILL.
STOP_GRACE_SECONDS = 2.0
# A wait looks for a stop this often.
SLICE_SECONDS = 0.05


@dataclass
class Child:
    process: subprocess.Popen[bytes]
    log: IO[bytes] | None = None


def signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def read_ready(fd: int, timeout: float, stopping: Callable[[], bool]) -> bool:
    """Whether `fd` has something to read within `timeout`; False at once when `stopping()`."""
    deadline = time.monotonic() + timeout
    while not stopping():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if select.select([fd], [], [], min(remaining, SLICE_SECONDS))[0]:
            return True
    return False


def read_line(process: subprocess.Popen[bytes], timeout: float, stopping: Callable[[], bool]) -> bytes:
    """The child's first line on stdout (b"" if none came in time, or on a stop)."""
    assert process.stdout is not None
    return process.stdout.readline() if read_ready(process.stdout.fileno(), timeout, stopping) else b""


def stop_child(child: Child, graceful: bool = True, grace: float = STOP_GRACE_SECONDS) -> None:
    """End it (stdin closed, then SIGTERM, then SIGKILL, to its whole group) and reap it."""
    process = child.process
    try:
        if process.stdin is not None and not process.stdin.closed:
            process.stdin.close()
    except OSError:
        pass
    if not graceful:
        signal_group(process, signal.SIGKILL)
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            process.wait(grace)
            break
        except subprocess.TimeoutExpired:
            signal_group(process, signum)
    process.wait()
    for stream in (process.stdout, child.log):
        if stream is not None:
            stream.close()


# How often a serving loop looks for shutdown(): the longest stop_serving waits for an idle server
# (the tests stop a webhook receiver after each of a hundred tests).
SHUTDOWN_POLL_SECONDS = 0.01


def serve_in_background(server: BaseServer, name: str) -> threading.Thread:
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS}, name=name, daemon=True
    )
    thread.start()
    return thread


def stop_serving(server: BaseServer, thread: threading.Thread | None) -> None:
    """Stop answering and close the socket: senders then see their connection refused."""
    if thread is not None:
        server.shutdown()
        thread.join()
    server.server_close()


def bind[S](make: Callable[[tuple[str, int]], S], port: int) -> S:
    """A server on 127.0.0.1:`port`, or on a free port when that one is taken (the caller warns)."""
    try:
        return make(("127.0.0.1", port))
    except OSError:
        if port == 0:
            raise
        return make(("127.0.0.1", 0))

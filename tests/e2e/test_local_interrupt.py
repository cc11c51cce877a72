"""Ctrl-C at any moment of `python -m local`: at each point of start-up (the CLI waits there, by its
LOCAL_PAUSE_AT test hook, so the interrupt lands exactly there), mid-import, and while serving. Each
time: an exit within a few seconds, exactly one line after the interrupt, no traceback, no process
of the stack left running (moto, DynamoDB Local's JVM, the function workers) and no port held."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_local_cli import FREE_PORTS, READY_TIMEOUT_SECONDS, REPO_ROOT, Output, children_of, is_running

STOPPED = "Stopped: the local stack and every process it started have ended."
# Generous: a stop takes well under a second but for a worker that is importing (about one).
EXIT_SECONDS = 10
# What each pause point has printed last when the CLI waits there.
POINTS = {
    "start": "Starting the local stack",
    "stage1": "AWS emulator (moto) on",
    "stage2": "tables, secrets, queues and buses created",
    "stage3": "functions warm",
    "ready": "state ",
    "serving": "Serving.",
}


def _start(tmp_path: Path, *args: str, pause: str = "") -> tuple[subprocess.Popen[str], Output]:
    process = subprocess.Popen(
        [sys.executable, "-m", "local", *FREE_PORTS, "--log-dir", str(tmp_path), *args],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "LOCAL_PAUSE_AT": pause},
    )
    return process, Output(process)


def descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        for child in children_of(todo.pop()):
            found.add(child)
            todo.append(child)
    return found


def _ports(text: str) -> set[int]:
    return {int(port) for port in re.findall(r"http://127\.0\.0\.1:(\d+)", text)}


def _interrupt(process: subprocess.Popen[str], output: Output) -> list[str]:
    """SIGINT, then every line printed after it, once the process has exited."""
    before = len(output.lines)
    process.send_signal(signal.SIGINT)
    started = time.monotonic()
    try:
        assert process.wait(EXIT_SECONDS) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert time.monotonic() - started < EXIT_SECONDS
    output.wait_for("never printed", 2)  # the rest of the output: the process has exited
    return output.lines[before:]


def _assert_nothing_left(pids: set[int], ports: set[int], text: str) -> None:
    assert "Traceback" not in text and "Error" not in text, text
    assert [pid for pid in pids if is_running(pid)] == []
    for port in ports:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"


@pytest.mark.parametrize("point", list(POINTS))
def test_an_interrupt_at_each_point_of_start_up_stops_everything(tmp_path, point):
    process, output = _start(tmp_path, "--schedule-every", "1", pause=point)
    assert output.wait_for(POINTS[point], READY_TIMEOUT_SECONDS), output.text
    output.wait_for("never printed", 0.3)  # the CLI waits at the point now: read what it printed up to there
    pids = descendants(process.pid)

    after = _interrupt(process, output)

    assert after == [STOPPED], output.text
    _assert_nothing_left(pids, _ports(output.text), output.text)


def test_an_interrupt_with_persisted_tables_stops_dynamodb_local_too(tmp_path):
    process, output = _start(tmp_path, "--persist", "--state-dir", str(tmp_path / "state"), "--no-demo", pause="stage1")
    assert output.wait_for("tables in DynamoDB Local", READY_TIMEOUT_SECONDS), output.text
    output.wait_for("never printed", 0.3)
    pids = descendants(process.pid)
    assert any("java" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace") for pid in pids)

    assert _interrupt(process, output) == [STOPPED], output.text
    _assert_nothing_left(pids, _ports(output.text), output.text)


@pytest.mark.parametrize("after", ["Starting the local stack", "AWS emulator (moto) on", "Demo payment:"])
def test_an_interrupt_without_a_pause_stops_as_cleanly(tmp_path, after):
    """Wherever the interrupt lands (an import, a process starting, a request of the demo): the same."""
    process, output = _start(tmp_path)
    assert output.wait_for(after, READY_TIMEOUT_SECONDS), output.text
    pids = descendants(process.pid)

    lines = _interrupt(process, output)

    assert lines[-1] == STOPPED and lines.count(STOPPED) == 1, output.text
    _assert_nothing_left(pids | descendants(process.pid), _ports(output.text), output.text)

"""`python -m local` (make local / make local-demo): the demo over HTTP, and a clean stop that
leaves no process behind."""

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import urllib3

REPO_ROOT = Path(__file__).resolve().parents[2]
FREE_PORTS = [
    "--api-port",
    "0",
    "--sandbox-port",
    "0",
    "--aws-port",
    "0",
    "--merchant-port",
    "0",
    "--webhook-port",
    "0",
]
# Startup must stay under 15 s (the budget); the rest is headroom for a loaded CI machine.
READY_TIMEOUT_SECONDS = 45
STOP_TIMEOUT_SECONDS = 15


def _cli(*args: str, log_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "local", *FREE_PORTS, "--log-dir", str(log_dir), *args],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


class Output:
    """The CLI's output, read in the background so a silent CLI cannot hang the test."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None  # _cli's stdout is a pipe
        for line in process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return False
            if line is None:
                return False
            self.lines.append(line)
            if text in line:
                return True
        return False

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # /proc/PID/stat: "pid (comm) state ppid ..."; comm may contain spaces.
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its exit status is left


@pytest.fixture
def running(tmp_path):
    started: list[subprocess.Popen] = []

    def start(*args: str) -> tuple[subprocess.Popen, Output]:
        process = _cli(*args, log_dir=tmp_path)
        started.append(process)
        return process, Output(process)

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc to find child processes")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_stack_serves_after_the_demo_and_a_signal_stops_every_process(running, signum):
    process, output = running()

    assert output.wait_for("Serving.", READY_TIMEOUT_SECONDS), output.text
    assert "Demo OK" in output.text
    assert "/session/" in output.text  # the second order's payment_url, for a browser
    # and the merchant page ETpay sends that payer back to
    assert re.search(r"http://127\.0\.0\.1:\d+/orders/DEMO-\w+/completed", output.text), output.text
    workers = children_of(process.pid)
    assert len(workers) >= 3  # moto and one environment per API function

    process.send_signal(signum)

    assert process.wait(STOP_TIMEOUT_SECONDS) == 0
    assert [pid for pid in workers if is_running(pid)] == []


@pytest.mark.parametrize(
    ("args", "currency", "order"),
    [((), "CLP", "50000 CLP"), (("--currency", "MXN"), "MXN", "1500 MXN by SPEI")],
    ids=["Chile", "Mexico"],
)
def test_demo_only_pays_an_order_and_exits_0(running, args, currency, order):
    process, output = running("--demo-only", *args)

    assert process.wait(READY_TIMEOUT_SECONDS + STOP_TIMEOUT_SECONDS) == 0
    output.wait_for("Demo OK", 1)
    assert f"currency       {currency} (ETpay" in output.text
    assert re.search(rf"order DEMO-\w+, {order}$", output.text, re.MULTILINE), output.text
    assert re.search(r"\] GET /orders/(DEMO-\w+) -> 200  order \1 PAID$", output.text, re.MULTILINE)
    assert f"Demo OK: the {currency} order was paid end to end." in output.text


def test_the_terminal_shows_a_line_for_any_order_and_each_reconciliation(running):
    process, output = running("--schedule-every", "1")
    assert output.wait_for("Serving", READY_TIMEOUT_SECONDS), output.text
    api_url = first_group(r"API +(http://\S+)", output.text)

    reply = urllib3.request(
        "POST", f"{api_url}/sessions?note=not-printed", json={"merchant_order_id": "MINE-1", "order_amount": 990}
    )

    assert reply.status == 201
    assert output.wait_for("POST /sessions -> 201  order MINE-1 PENDING", READY_TIMEOUT_SECONDS), output.text
    assert output.wait_for("ReconcileFunction (scheduled) -> handed out", READY_TIMEOUT_SECONDS), output.text
    assert "not-printed" not in output.text
    assert reply.json()["session_token"] not in output.text
    process.send_signal(signal.SIGINT)
    assert process.wait(STOP_TIMEOUT_SECONDS) == 0


def first_group(pattern: str, text: str) -> str:
    """The first group of `pattern`'s first match in `text`, which must have one."""
    found = re.search(pattern, text)
    assert found is not None, text
    return found.group(1)


def _occupy(port: int) -> socket.socket | None:
    """A listening socket on `port`; None when something else already holds it (busy all the same)."""
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", port))
    except OSError:
        holder.close()
        return None
    holder.listen()
    return holder


def test_every_port_fallback_is_warned_about_and_the_emulators_names_events_env_json(running):
    env_json = json.loads((REPO_ROOT / "events" / "env.json").read_text())
    aws_port = urlsplit(env_json["Parameters"]["AWS_ENDPOINT_URL"]).port
    holders = [_occupy(0), _occupy(0), _occupy(aws_port)]
    try:
        assert holders[0] is not None and holders[1] is not None  # port 0: always a free one
        api_port, sandbox_port = holders[0].getsockname()[1], holders[1].getsockname()[1]
        process, output = running(
            *("--api-port", str(api_port), "--sandbox-port", str(sandbox_port), "--aws-port", str(aws_port)),
            *("--no-demo", "--demo-only"),
        )
        assert process.wait(READY_TIMEOUT_SECONDS + STOP_TIMEOUT_SECONDS) == 0
    finally:
        for holder in holders:
            if holder is not None:
                holder.close()
    output.wait_for("never printed", 1)  # reads the rest of the output: the process has exited

    warnings = [line for line in output.lines if "WARNING" in line]
    assert len(warnings) == 3, output.text
    assert f"port {api_port} is busy: the local API listens on" in warnings[0]
    assert f"port {sandbox_port} is busy: the ETpay sandbox listens on" in warnings[1]
    assert f"port {aws_port} is busy: the AWS emulator (moto) listens on" in warnings[2]
    assert f"events/env.json still points at http://127.0.0.1:{aws_port}" in warnings[2]
    assert f"(port {aws_port} was busy" in output.text

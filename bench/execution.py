"""One execution environment under measurement: bench/lambda_runner.py in a fresh, bare interpreter
(`-S -P -B`: no site-packages, no script directory, no bytecode written) with an environment of
our making, Lambda's path its PYTHONPATH, fed one event at a time. The driver seeds each event's
state while the process waits on its stdin, so none of that lands in what is measured."""

import json
import os
import select
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

RUNNER = Path(__file__).resolve().with_name("lambda_runner.py")
# What Lambda's python3.13 would be: the venv's base interpreter, the standard library on its path.
INTERPRETER: str = getattr(sys, "_base_executable", sys.executable)
# Where this venv's packages are: the runtime's are copied from here.
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
ANSWER_SECONDS = 120


class Execution:
    def __init__(self, paths: list[str], runtime: Path, environment: dict[str, str], log: Path, inspect: bool = False):
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log_path, self._log = log, open(log, "ab")  # noqa: SIM115 - closed on exit
        command = [INTERPRETER, "-S", "-P", "-B", str(RUNNER), *(["--inspect"] if inspect else [])]
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, cwd=paths[0], text=True,
            env=environment | {"PYTHONPATH": ":".join([*paths, str(runtime)])},
        )  # fmt: skip
        assert self._process.stdin is not None and self._process.stdout is not None
        self._stdin, self._stdout = self._process.stdin, self._process.stdout
        self.imported = self._answer()
        if not self.imported["file"].startswith(paths[0]):
            raise RuntimeError(f"loaded {self.imported['file']}, not the handler under test in {paths[0]}")

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """The handler's answer and its figures: ms, cpu_ms, response, calls (with inspect)."""
        self._stdin.write(json.dumps(event) + "\n")
        self._stdin.flush()
        return self._answer()

    def log_bytes(self) -> int:
        """What the process has written to its log (the handler's logs) so far."""
        return os.fstat(self._log.fileno()).st_size

    def close(self) -> dict[str, Any]:
        """Ends the process: its peak RSS (maxrss_kb) and, with inspect, the modules it loaded."""
        self._stdin.close()
        last = self._answer()
        self._process.wait(timeout=ANSWER_SECONDS)
        return last

    def __enter__(self) -> "Execution":
        return self

    def __exit__(self, *_: object) -> None:
        self._process.kill()
        self._process.wait()
        self._log.close()

    def _answer(self) -> dict[str, Any]:
        line = self._stdout.readline() if select.select([self._stdout], [], [], ANSWER_SECONDS)[0] else ""
        if not line:
            self._process.kill()
            tail = self._log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the measured process gave no answer; its log ({self._log_path}) ends:\n{tail}")
        answer: dict[str, Any] = json.loads(line)
        return answer

"""Our ETpay client against the official `etpay-sdk` 1.0.1: sequential session creations on the
local sandbox, each client in its own process (the sandbox runs in a third one), in alternating
rounds."""

import json
import statistics
import subprocess
import sys
from pathlib import Path

from bench_paths import ROOT
from stack import BenchStack

BENCH_DIR = Path(__file__).resolve().parent
WORKER = BENCH_DIR / "etpay_client_worker.py"
SDK_PYTHON = BENCH_DIR / ".venv-sdk" / "bin" / "python"
WARMUP = 5
TIMEOUT_SECONDS = 300


def _interpreter(client: str) -> list[str]:
    if client == "sdk":
        if not SDK_PYTHON.exists():
            raise SystemExit(f"{SDK_PYTHON} is missing: `make bench` creates it (uv venv + etpay-sdk==1.0.1)")
        return [str(SDK_PYTHON)]
    return [sys.executable]


def _run(client: str, credentials: Path, count: int) -> dict:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "layers" / "etpay"), "PYTHONDONTWRITEBYTECODE": "1"}
    completed = subprocess.run(  # noqa: S603 - our own interpreters and files
        [*_interpreter(client), str(WORKER), client, str(credentials), str(count), str(WARMUP), f"sdk-bench-{client}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{client} client run failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def sdk_version() -> str:
    if not SDK_PYTHON.exists():
        return "not installed"
    completed = subprocess.run(  # noqa: S603 - our own interpreter
        [str(SDK_PYTHON), "-c", "import importlib.metadata as m; print(m.version('etpay-sdk'), m.version('requests'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.stdout.strip() or "unknown"


def measure(stack: BenchStack, workdir: Path, total: int, rounds: int = 5) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    credentials = workdir / "etpay-credentials.json"
    credentials.write_text(json.dumps(stack.etpay_credentials))
    per_round = max(1, total // rounds)
    samples = {"ours": [], "sdk": []}
    for index in range(rounds):
        for client in ("ours", "sdk") if index % 2 == 0 else ("sdk", "ours"):
            samples[client].append(_run(client, credentials, per_round))
    print("  ETpay client comparison done", file=sys.stderr, flush=True)
    return {
        client: {
            "requests": per_round * rounds,
            "rps": statistics.median(run["count"] / run["wall_s"] for run in runs),
            "cpu_ms": statistics.median(run["cpu_s"] * 1000 / run["count"] for run in runs),
        }
        for client, runs in samples.items()
    }

"""Our ETpay client against ETpay's own `etpay-sdk` 1.0.1: sequential session creations on the local
sandbox (HTTP/1.1 keep-alive, as ETpay's HTTPS API), each client in a process of its own, in
alternating rounds. etpay-sdk lives only in bench/.venv-sdk (`make bench` makes it).

The driver (measure) runs this file as a script in each client's interpreter: our client on this
venv with the layer's source on PYTHONPATH, etpay-sdk on bench/.venv-sdk. As a script it imports
the standard library only, then the client it measures."""

import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

SDK_PYTHON = Path(__file__).resolve().parent / ".venv-sdk" / "bin" / "python"
LAYER_SOURCE = Path(__file__).resolve().parents[1] / "layers" / "etpay"
WARMUP = 5
TIMEOUT_SECONDS = 300


def ours(credentials: dict[str, str]) -> Any:
    from etpay.client import EtpayClient
    from etpay.credentials import Credentials
    from etpay.sessions import SessionRequest

    client = EtpayClient(Credentials.from_mapping(credentials))
    return lambda order_id: client.initialize_session(SessionRequest(order_id, 50_000)).token


def sdk(credentials: dict[str, str]) -> Any:
    from etpay_sdk import Configs, TransactionParams, Transactions  # type: ignore[import-not-found]

    # The SDK takes the services' base URL as `api_url` and appends /session/initialize itself.
    configs = Configs(credentials["merchant_code"], credentials["merchant_api_token"], credentials["api_url"])

    def create(order_id: str) -> str:
        response = Transactions(configs, TransactionParams(merchant_order_id=order_id, order_amount=50_000)).create()
        response.raise_for_status()
        return str(response.json()["token"])

    return create


def time_creations(client: str, credentials: dict[str, str], count: int) -> dict[str, float]:
    create = {"ours": ours, "sdk": sdk}[client](credentials)
    for _ in range(WARMUP):
        create(f"sdk-bench-{uuid.uuid4().hex[:16]}")
    order_ids = [f"sdk-bench-{uuid.uuid4().hex[:16]}" for _ in range(count)]
    cpu, wall = time.process_time(), time.perf_counter()
    if not all(create(order_id) for order_id in order_ids):
        raise SystemExit("a session without a token")
    return {"count": count, "wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


def _run(client: str, credentials: dict[str, str], count: int) -> dict[str, float]:
    if client == "sdk" and not SDK_PYTHON.exists():
        raise SystemExit(f"{SDK_PYTHON} is missing: `make bench` makes it (uv venv + etpay-sdk==1.0.1)")
    python = str(SDK_PYTHON) if client == "sdk" else sys.executable
    completed = subprocess.run(  # noqa: S603 - our own interpreters and file
        [python, "-P", __file__, client, str(count)],
        input=json.dumps(credentials), capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(LAYER_SOURCE), "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    if completed.returncode != 0:
        raise RuntimeError(f"the {client} client's run failed:\n{completed.stderr[-3000:]}")
    result: dict[str, float] = json.loads(completed.stdout)
    return result


def sdk_version() -> str:
    if not SDK_PYTHON.exists():
        return "not installed"
    script = "import importlib.metadata as m; print(m.version('etpay-sdk'), m.version('requests'))"
    completed = subprocess.run([str(SDK_PYTHON), "-c", script], capture_output=True, text=True, check=False)  # noqa: S603
    return completed.stdout.strip() or "unknown"


def measure(credentials: dict[str, str], total: int, rounds: int = 5) -> dict[str, dict[str, float]]:
    samples: dict[str, list[dict[str, float]]] = {"ours": [], "sdk": []}
    for index in range(rounds):
        for client in ("ours", "sdk") if index % 2 == 0 else ("sdk", "ours"):
            samples[client].append(_run(client, credentials, max(1, total // rounds)))
    return {
        client: {
            "requests": sum(run["count"] for run in runs),
            "rps": statistics.median(run["count"] / run["wall_s"] for run in runs),
            "cpu_ms": statistics.median(run["cpu_s"] * 1000 / run["count"] for run in runs),
        }
        for client, runs in samples.items()
    }


if __name__ == "__main__":
    print(json.dumps(time_creations(sys.argv[1], json.load(sys.stdin), int(sys.argv[2]))))

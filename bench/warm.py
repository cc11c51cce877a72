"""Builds the warm plan (events per route and side, fresh orders and PENDING sessions) and runs
bench/warm_worker.py on the precompiled tree (bytecode only matters for cold starts)."""

import json
import sys
from pathlib import Path

import fixtures
from coldstart import INTERPRETER, run_worker
from stack import TABLE_NAME, BenchStack
from trees import Tree

WORKER = Path(__file__).resolve().parent / "warm_worker.py"
WORKER_TIMEOUT_SECONDS = 600


def build_plan(tree: Tree, requests: int, chunk: int, warmup: int) -> dict:
    chunks = max(1, requests // chunk)
    per_side = warmup + chunks * chunk
    handlers = {
        "payments": {
            "ours": str(tree.root / "PaymentsFunction" / "app.py"),
            "baseline": str(tree.root / "baseline" / "PaymentsFunction" / "app.py"),
        },
        "notifications": {
            "ours": str(tree.root / "NotificationsFunction" / "app.py"),
            "baseline": str(tree.root / "baseline" / "NotificationsFunction" / "app.py"),
        },
    }
    sessions, orders = {}, {}
    for side in ("ours", "baseline"):
        sessions[side] = [fixtures.create_session_event(fixtures.new_order_id(f"warm-{side}")) for _ in range(per_side)]
        # GET /orders reads the orders this side's POST /sessions route creates (it runs first).
        orders[side] = [
            fixtures.get_order_event(json.loads(event["body"])["merchant_order_id"]) for event in sessions[side]
        ]
    return {
        "warmup": warmup,
        "chunk": chunk,
        "chunks": chunks,
        "routes": [
            {"name": "POST /sessions", "status": [200, 201], "handlers": handlers["payments"], "events": sessions},
            {"name": "GET /orders/{id}", "status": [200], "handlers": handlers["payments"], "events": orders},
            # Its events are built by the worker, untimed: a paid notification for every session
            # that side's POST /sessions opened, signed with the signature_token ETpay gave it.
            {
                "name": "POST /notifications",
                "status": [200],
                "handlers": handlers["notifications"],
                "events": None,
                "notifies": "POST /sessions",
            },
        ],
        "notification_template": fixtures.notification_event("header.payload.signature"),
        "claims_template": fixtures.example_notification_claims(),
        "table": TABLE_NAME,
    }


def measure(tree: Tree, stack: BenchStack, workdir: Path, requests: int, chunk: int = 20, warmup: int = 10) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    plan_path, result_path = workdir / "warm-plan.json", workdir / "warm-result.json"
    plan_path.write_text(json.dumps(build_plan(tree, requests, chunk, warmup)))
    result, _ = run_worker(
        [
            INTERPRETER,
            "-I",
            "-S",
            "-B",
            str(WORKER),
            str(plan_path),
            str(result_path),
            str(tree.runtime),
            str(tree.root / "EtpayLayer" / "python"),
        ],
        stack.function_environment("payments"),
        result_path,
        WORKER_TIMEOUT_SECONDS,
        "warm benchmark",
    )
    print("  warm requests done", file=sys.stderr, flush=True)
    return result

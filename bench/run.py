"""`make bench`: cold starts, warm cost per request, our ETpay client against etpay-sdk, artifact
sizes and AWS cost per million payments, each measured side by side against a baseline in one
run, then the notification-to-webhook latency on the local stack and what events and webhooks add
to the cost. Prints one table and writes docs/BENCHMARKS.md. Everything runs on 127.0.0.1.

usage: .venv/bin/python bench/run.py [--runs 11] [--requests 200] [--sdk-requests 200]
       [--webhook-payments 200] [--no-write]
"""

import argparse
import importlib.metadata
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench_paths import ROOT, ensure_paths

ensure_paths()

import boto3  # noqa: E402
import coldstart  # noqa: E402
import costs  # noqa: E402
import etpay_clients  # noqa: E402
import event_costs  # noqa: E402
import importtime  # noqa: E402
import reconcile_scale  # noqa: E402
import trees  # noqa: E402
import warm  # noqa: E402
import webhook_latency  # noqa: E402
from stack import TABLE_NAME, BenchStack  # noqa: E402

from local.emulator.template import load_template  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
WORKDIR = BENCH_DIR / ".work"
REPORT = ROOT / "docs" / "BENCHMARKS.md"
IMPORTTIME_REPEATS = 2
COLD_ROUTE = {
    "PaymentsFunction": "POST /sessions",
    "NotificationsFunction": "POST /notifications",
    "ReconcileFunction": "scheduled run",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="fresh processes per cold-start variant (median)")
    parser.add_argument("--requests", type=int, default=200, help="warm requests per route and side")
    parser.add_argument("--sdk-requests", type=int, default=200, help="session creations per ETpay client")
    parser.add_argument("--scale-orders", type=int, default=100_000, help="orders in the reconciler's scale run")
    parser.add_argument(
        "--scale-concurrency", type=int, default=reconcile_scale.CONCURRENCY, help="status-check workers at a time"
    )
    parser.add_argument("--webhook-payments", type=int, default=200, help="payments timed from notification to webhook")
    parser.add_argument("--build-dir", type=Path, default=ROOT / ".aws-sam" / "build")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    return parser.parse_args()


# -- environment ----------------------------------------------------------------------------------------
def machine() -> dict[str, str]:
    model = "unknown"
    ram = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "CPU": model, "RAM": ram, "OS": platform.platform()}


def versions(layer: Path) -> dict[str, str]:
    distributions = importlib.metadata.distributions(path=[str(layer)])
    in_layer = {dist.metadata["Name"].lower().replace("_", "-"): dist.version for dist in distributions}
    sdk = etpay_clients.sdk_version().split()
    return {
        "Python": platform.python_version(),
        "boto3 (runtime)": importlib.metadata.version("boto3"),
        "botocore (layer)": in_layer.get("botocore", "-"),
        "aws-lambda-powertools": in_layer.get("aws-lambda-powertools", "-"),
        "aws-xray-sdk": in_layer.get("aws-xray-sdk", "-"),
        "PyJWT": in_layer.get("pyjwt", "-"),
        "urllib3": in_layer.get("urllib3", "-"),
        "etpay-sdk": sdk[0] if sdk else "-",
        "requests (for etpay-sdk)": sdk[1] if len(sdk) > 1 else "-",
        "moto (local AWS)": importlib.metadata.version("moto"),
    }


# -- formatting -----------------------------------------------------------------------------------------
def ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def ratio(ours: float, other: float) -> str:
    return f"{ours / other:.2f}×" if other else "-"


def mib(kb: float) -> str:
    return f"{kb / 1024:.0f} MiB"


def size(value: int) -> str:
    return f"{value / 1024 / 1024:.1f} MiB" if value >= 1024 * 1024 else f"{value / 1024:.1f} KiB"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main_rows(cold: dict, warm_: dict, clients: dict, sizes: list[dict], cost: dict) -> list[list[str]]:
    rows = []
    for mode in trees.MODES:
        label = "as built" if mode == "as built" else "all precompiled"
        for function in ("PaymentsFunction", "NotificationsFunction", "ReconcileFunction"):
            ours = cold[coldstart.Variant(function, "ours", mode)]
            base = cold.get(coldstart.Variant(function, "baseline", mode))
            what = f"{function} ({COLD_ROUTE[function]})"
            for key, name in (
                ("import_ms", "import"),
                ("first_ms", "first request"),
                ("total_ms", "import + first request"),
            ):
                rows.append(
                    [
                        f"cold start, {label}",
                        f"{what}: {name}",
                        ms(ours[key]),
                        ms(base[key]) if base else "-",
                        ratio(ours[key], base[key]) if base else "-",
                    ]
                )
            rows.append(
                [
                    f"cold start, {label}",
                    f"{what}: peak RSS",
                    mib(ours["maxrss_kb"]),
                    mib(base["maxrss_kb"]) if base else "-",
                    ratio(ours["maxrss_kb"], base["maxrss_kb"]) if base else "-",
                ]
            )
    for route, sides in warm_.items():
        ours, base = sides["ours"], sides["baseline"]
        rows.append(
            [
                "warm, per request",
                f"{route}: CPU",
                ms(ours["cpu_ms"]),
                ms(base["cpu_ms"]),
                ratio(ours["cpu_ms"], base["cpu_ms"]),
            ]
        )
        rows.append(
            [
                "warm, per request",
                f"{route}: wall",
                ms(ours["wall_ms"]),
                ms(base["wall_ms"]),
                ratio(ours["wall_ms"], base["wall_ms"]),
            ]
        )
    ours_c, sdk_c = clients["ours"], clients["sdk"]
    rows.append(
        [
            "ETpay client vs etpay-sdk",
            "session creations per second",
            f"{ours_c['rps']:.0f}/s",
            f"{sdk_c['rps']:.0f}/s",
            ratio(ours_c["rps"], sdk_c["rps"]),
        ]
    )
    rows.append(
        [
            "ETpay client vs etpay-sdk",
            "client CPU per creation",
            ms(ours_c["cpu_ms"]),
            ms(sdk_c["cpu_ms"]),
            ratio(ours_c["cpu_ms"], sdk_c["cpu_ms"]),
        ]
    )
    for entry in sizes:
        if entry["artifact"].startswith("baseline"):
            continue
        rows.append(
            [
                "size",
                f"{entry['artifact']} ({entry['files']} files)",
                f"{size(entry['bytes'])} dir, {size(entry['zip_bytes'])} zip",
                "-",
                "-",
            ]
        )
    rows.append(
        [
            "AWS cost",
            "per million payments",
            f"${cost['ours']['total']:.2f}",
            f"${cost['baseline']['total']:.2f}",
            ratio(cost["ours"]["total"], cost["baseline"]["total"]),
        ]
    )
    return rows


def cost_rows(cost: dict) -> list[list[str]]:
    rows = []
    for (name, ours), (base_name, base) in zip(
        cost["ours"]["lines"].items(), cost["baseline"]["lines"].items(), strict=True
    ):
        rows.append([name, f"${ours:.2f}", base_name, f"${base:.2f}"])
    rows.append(
        [
            "**total per million payments**",
            f"**${cost['ours']['total']:.2f}**",
            "",
            f"**${cost['baseline']['total']:.2f}**",
        ]
    )
    return rows


def breakdown_section(breakdowns: dict) -> str:
    parts = []
    for function, (packages, roots, ours_total, base_total) in breakdowns.items():
        parts.append(
            f"#### {function}, as built: import-time self total {ours_total:.0f} ms, baseline {base_total:.0f} ms\n"
        )
        parts.append("Self time per top-level package (no double counting), largest excess first:\n")
        parts.append(
            table(
                [
                    "package",
                    "ours",
                    "ours precompiled",
                    "of which in the first request",
                    "modules",
                    "baseline",
                    "excess",
                ],
                [
                    [
                        f"`{row['package']}`",
                        ms(row["ours_ms"]),
                        ms(row["ours_precompiled_ms"]),
                        ms(row["ours_first_request_ms"]),
                        str(row["ours_modules"]),
                        ms(row["baseline_ms"]) if row["baseline_modules"] else "not imported",
                        ms(row["excess_ms"]),
                    ]
                    for row in packages
                ],
            )
        )
        parts.append("\nModules the baseline never imports, where they enter (cumulative, includes children):\n")
        parts.append(
            table(
                ["module", "cumulative", "self", "imported by", "when"],
                [
                    [f"`{item.module}`", ms(item.cumulative_ms), ms(item.self_ms), f"`{item.parent}`", item.phase]
                    for item in roots
                ],
            )
        )
        parts.append("")
    return "\n".join(parts)


@dataclass(frozen=True)
class Measurements:
    """Everything one run measured and the setting it ran with: what docs/BENCHMARKS.md is made of."""

    runs: int  # fresh processes per cold-start variant
    requests: int  # warm requests per route and side
    sdk_requests: int  # session creations per ETpay client
    machine: dict[str, str]
    versions: dict[str, str]
    main_table: str  # the summary table, also printed
    cost: dict  # per million payments, per side
    memory_mb: int  # the template's MemorySize
    architecture: str
    sizes: list[dict]
    layer_parts: list[tuple[str, int]]  # the layer's top-level entries and their bytes
    breakdowns: dict  # per function: import-time comparison against the baseline
    largest_item_bytes: int
    cold: dict  # coldstart.Variant -> its medians
    warm: dict  # route -> side -> its medians
    reconcile_scale: str  # the scale run's section (markdown)
    webhook_payments: int  # payments timed from notification to webhook
    events: dict  # notification-to-webhook latency and what the events cost
    events_cost: dict
    elapsed_seconds: float


def write_report(m: Measurements) -> None:
    command = "make bench" if os.environ.get("MAKELEVEL") else "python " + shlex.join(sys.argv)
    init_cost_rows = []
    for function in ("PaymentsFunction", "NotificationsFunction"):
        for side in ("ours", "baseline"):
            result = m.cold[coldstart.Variant(function, side, "as built")]
            init_cost_rows.append(
                [
                    function,
                    side,
                    ms(result["total_ms"]),
                    f"${costs.per_million_cold_starts(result['total_ms'], m.memory_mb):.2f}",
                ]
            )
    text = f"""# Benchmarks

Generated by `{command}` on {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")} in {m.elapsed_seconds:.0f} s
(`bench/run.py --runs {m.runs} --requests {m.requests} --sdk-requests {m.sdk_requests}
--webhook-payments {m.webhook_payments}`).
Every number is a median of repeated runs; "ours" and its comparison were measured side by side,
interleaved, in the same run, so **read the ratios, not the absolute times**: this machine is not
a Lambda (512 MB gets about 0.29 of a vCPU), and AWS and ETpay are local stand-ins.

**Machine**: {", ".join(f"{k} {v}" for k, v in m.machine.items())}

**Versions**: {", ".join(f"{k} {v}" for k, v in m.versions.items())}

{m.main_table}

## What is measured

- **Cold start**: a fresh `python3.13 -I -S` process per run whose path is Lambda's: the function
  directory (`/var/task`), the layer's `python/` (`/opt/python`), then only the packages Lambda's
  runtime provides (boto3, botocore, s3transfer, jmespath, dateutil, six, urllib3), precompiled as
  the runtime ships them. It imports `app` ("import") and serves one API Gateway event ("first
  request"): PaymentsFunction a new order's `POST /sessions` (Secrets Manager, ETpay, DynamoDB),
  NotificationsFunction a paid notification for a PENDING session, ReconcileFunction one scheduled
  run. AWS is a moto server and ETpay the local sandbox, both in other processes on 127.0.0.1.
  {m.runs} runs per variant, all variants shuffled in each round, after one discarded warm-up round.
  "As built" is what `sam build` ships: our layer carries unchecked-hash `.pyc` compiled by
  `layers/etpay/Makefile`; the baseline, packaged as a plain pip build is, carries none, and
  `/var/task` and `/opt` are read-only, so Python compiles its modules on every cold start.
  "All precompiled" gives both sides checked-hash `.pyc` files: the comparison of the code
  itself. The processes see Lambda's own variables (`LAMBDA_TASK_ROOT`,
  `AWS_LAMBDA_FUNCTION_NAME`, ...), which libraries read (the X-Ray SDK builds no sampling
  clients inside Lambda). Powertools tracing is off (`POWERTOOLS_TRACE_DISABLED`: no X-Ray
  daemon here), as in `tests/integration/test_built_artifacts.py`.
- **Baseline** (`bench/baseline/`): handlers that make the same AWS requests and store the same
  item as ours, with bare boto3 (default client settings), urllib3 and PyJWT and nothing else.
  `POST /sessions`: claim the order with one conditional PutItem, secret read (cached 300 s),
  ETpay `/session/initialize`, one conditional UpdateItem storing the session. `POST
  /notifications`: one consistent GetItem of the order (its sessions are in the same item),
  verify the HS256 JWT, one conditional UpdateItem settling session and order. `GET /orders`: one
  consistent GetItem. Its layer is PyJWT alone. The claim is part of the job, not overhead: it is
  what keeps identical concurrent `POST /sessions` to one ETpay call (issue 4, checked on
  DynamoDB Local). Before the one-item-per-order storage (commit d316e3c) ours made 4 DynamoDB
  calls for `POST /sessions` and 3 for `POST /notifications`; measured then against a baseline
  without the claim (one two-item transaction after ETpay) it was 3.33× and 1.78× in CPU. The
  same rework measured against that old baseline gave 1.87× and 1.11×.
- **Warm**: one process with Lambda's path holding both sides' handlers, {m.requests} requests per
  route and side after 10 warm-up ones, timed in alternating chunks of 20;
  CPU is `time.process_time()` (the servers run in other processes), "wall" includes the local
  moto and sandbox round trips. AWS calls per request, counted with botocore's event hooks:
{warm_calls(m.warm)}
- **ETpay client vs etpay-sdk**: sequential `/session/initialize` calls on the local sandbox,
  `etpay.EtpayClient.initialize_session` against `etpay_sdk.Transactions(Configs(code, token,
  api_url), TransactionParams(...)).create()` (etpay-sdk lives only in `bench/.venv-sdk`), each
  client in its own process, {m.sdk_requests} creations each in 5 alternating rounds after 5 warm-up
  ones. The sandbox runs with HTTP/1.1 keep-alive, as ETpay's HTTPS API does: our client pools and reuses
  connections, etpay-sdk opens a new one per call (`requests.post` without a session).

## Cost per million payments

One payment = 1 `POST /sessions` + 1 `POST /notifications` + 1 `GET /orders/{{id}}`, warm. Lambda at
the template's {m.memory_mb} MB, {m.architecture}, billed on the measured warm wall time per request rounded up to
1 ms (local AWS and ETpay: real network latency to DynamoDB and ETpay would add to both sides).
API Gateway REST $3.50/M, Lambda $0.20/M requests + $0.0000166667/GB-s, DynamoDB on-demand
$1.25/M WRU, $0.25/M RRU: consistent GetItem = 1 RRU, a write = 1 WRU (neither side uses
transactions, which would cost 2 units per item); the largest stored item is {m.largest_item_bytes} bytes,
under 1 KB. Secrets Manager is read once per 5 minutes per warm function ($0.05 per 10,000
calls): negligible per payment.

{table(["ours", "", "baseline", ""], cost_rows(m.cost))}

Cold starts are billed too (Lambda bills the INIT phase): one million cold starts "as built"
(import + first request, measured here) cost:

{table(["function", "side", "import + first request", "per million cold starts"], init_cost_rows)}

{event_costs.report_section(m.events, m.events_cost)}

## Sizes

{table(["artifact", "files", "directory", "zip (deflate)"], size_rows(m.sizes))}

The layer, by top-level entry (largest first): {", ".join(f"`{name}` {size(b)}" for name, b in m.layer_parts[:10])}.

## The reconciler at scale

`bench/reconcile_scale.py`, on AWS's DynamoDB Local (a real engine, in memory, about 600 writes a
second on this machine: wall-clock times here say more about it than about DynamoDB) and the ETpay
sandbox answering the status checks over HTTP, on a simulated clock: a sweep every simulated
minute, the checks it hands out run by a pool of workers. Today's reconciler is the one before
sessions expired (50 sessions per 5-minute run), replayed on the same data; its DynamoDB units are
counted from its requests (one index query per run, a consistent read and a write per check).

{m.reconcile_scale}

## Where our cold start goes (python -X importtime, as built)

Median of {IMPORTTIME_REPEATS} fresh processes per side, same paths and event as above (both as
built; "ours precompiled" is ours from the all-precompiled tree). `-X importtime` adds its own
overhead, so compare these with each other, not with the table. "Self" time of a module includes
the code its body runs at import (object construction, not only compilation).

{breakdown_section(m.breakdowns)}
"""
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text)


def size_rows(sizes: list[dict]) -> list[list[str]]:
    return [[e["artifact"], str(e["files"]), size(e["bytes"]), size(e["zip_bytes"])] for e in sizes]


def warm_calls(warm_: dict) -> str:
    lines = []
    for route, sides in warm_.items():
        for side in ("ours", "baseline"):
            calls = sides[side]["aws_calls_per_request"]
            described = ", ".join(f"{op.removeprefix('dynamodb:')} {count:g}" for op, count in calls.items()) or "none"
            lines.append(f"  - {route}, {side}: {described}")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    started = time.monotonic()

    def phase(name: str) -> None:
        print(f"[{time.monotonic() - started:5.0f} s] {name} ...", file=sys.stderr, flush=True)

    template = load_template()
    memory = int(template["Globals"]["Function"]["MemorySize"])
    arch = template["Globals"]["Function"]["Architectures"][0]

    phase("preparing Lambda-like trees from the sam build")
    trees_ = trees.prepare(args.build_dir, WORKDIR / "trees")
    shipped_bytecode = trees.bytecode_files(trees_["as built"])
    sizes = trees.package_sizes(trees_["as built"], WORKDIR)
    layer_parts = trees.layer_breakdown(trees_["as built"])

    with BenchStack(WORKDIR / "stack") as stack:
        phase("cold starts")
        for variant in coldstart.variants():  # one discarded round: page cache, moto's first calls
            coldstart.run_once(variant, trees_[variant.mode], stack, WORKDIR / "cold")
        cold = coldstart.measure(trees_, stack, WORKDIR / "cold", args.runs)

        phase("import-time breakdown")
        breakdowns = {}
        for function in ("PaymentsFunction", "NotificationsFunction"):

            def profile(side: str, mode: str, function: str = function) -> dict:
                variant = coldstart.Variant(function, side, mode)
                return importtime.profile(variant, trees_[mode], stack, WORKDIR / "importtime", IMPORTTIME_REPEATS)

            ours, base = profile("ours", "as built"), profile("baseline", "as built")
            ours_pyc = profile("ours", "precompiled")
            breakdowns[function] = (
                importtime.package_comparison(ours, base, ours_pyc),
                importtime.ours_only_roots(ours, base),
                sum(item.self_ms for item in ours.values()),
                sum(item.self_ms for item in base.values()),
            )

        written = trees.bytecode_files(trees_["as built"]) - shipped_bytecode
        if written:
            raise SystemExit(f"the as-built tree gained {written} .pyc files: the cold starts were not as built")

    # A fresh moto for the warm part: a small table keeps moto's answers far inside the functions'
    # timeouts.
    with BenchStack(WORKDIR / "stack-warm") as stack:
        phase("warm requests")
        warm_ = warm.measure(trees_["precompiled"], stack, WORKDIR / "warm", args.requests)

        phase("ETpay client vs etpay-sdk")
        clients = etpay_clients.measure(stack, WORKDIR / "sdk", args.sdk_requests)

        items = boto3.client("dynamodb").scan(TableName=TABLE_NAME)["Items"]
        item_bytes = costs.largest_item_bytes(items)

    phase(f"the reconciler at scale ({args.scale_orders:,} orders on DynamoDB Local)")
    scale = reconcile_scale.run(
        orders=args.scale_orders, concurrency=args.scale_concurrency, progress=lambda text: phase("  " + text)
    )
    print(reconcile_scale.markdown(scale))

    phase("notification-to-webhook latency")
    events_ = webhook_latency.measure(args.webhook_payments, WORKDIR)
    events_cost = event_costs.per_million_payments(events_)
    phase("done")

    cost = {side: costs.per_million_payments(warm_, side, memory) for side in ("ours", "baseline")}
    main_table = table(
        ["section", "measure", "ours", "baseline / etpay-sdk", "ratio"],
        main_rows(cold, warm_, clients, sizes, cost) + event_costs.main_rows(events_, events_cost),
    )
    print(main_table)
    elapsed = time.monotonic() - started
    if not args.no_write:
        write_report(
            Measurements(
                runs=args.runs,
                requests=args.requests,
                sdk_requests=args.sdk_requests,
                machine=machine(),
                versions=versions(trees_["as built"].root / "EtpayLayer" / "python"),
                main_table=main_table,
                cost=cost,
                memory_mb=memory,
                architecture=arch,
                sizes=sizes,
                layer_parts=layer_parts,
                breakdowns=breakdowns,
                largest_item_bytes=item_bytes,
                cold=cold,
                warm=warm_,
                reconcile_scale=reconcile_scale.markdown(scale),
                webhook_payments=args.webhook_payments,
                events=events_,
                events_cost=events_cost,
                elapsed_seconds=elapsed,
            )
        )
        print(f"\nwritten to {REPORT.relative_to(ROOT)} ({elapsed:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()

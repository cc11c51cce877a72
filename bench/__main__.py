"""`make bench` (python -m bench): every part, then docs/BENCHMARKS.md.

Parts (`--only` runs some; each saves its results in bench/.work/results, and the report is written
from the latest of every part, each section saying when it ran and under what load):
- functions: the seven functions against their bare baselines, as built by `sam build`: cold starts,
  warm invocations, their AWS requests and modules; the memory sizes and the costs derived from them;
- clients: our ETpay client against etpay-sdk;
- webhooks: notification-to-webhook latency on the local stack;
- scale: the reconciler with 100,000 orders on DynamoDB Local.
"""

import argparse
import importlib.metadata
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import costs, etpay_clients, measure, reconcile_scale, report, trees, webhooks
from bench.functions import CLAIM_RECORD, FUNCTIONS
from bench.stack import BenchStack
from local.emulator.template import ROOT

WORKDIR = Path(__file__).resolve().parent / ".work"
RESULTS = WORKDIR / "results"
REPORT = ROOT / "docs" / "BENCHMARKS.md"
PARTS = ("functions", "clients", "webhooks", "scale")
# Whether the stream function runs for a new order's claim too (the template's stream filter decides).
CLAIM_TEXT = (
    "the template's filter on the stream lets the new order's claim through too, so the stream "
    "function also runs for it, which makes no event and is measured on its own."
    if costs.EXTRA_INVOCATIONS
    else "the template's filter on the stream passes only those that carry a session, so the new "
    "order's claim invokes nothing."
)
PACKAGES = ("boto3", "aws-lambda-powertools", "aws-xray-sdk", "PyJWT", "urllib3", "moto")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        nargs="*",
        choices=PARTS,
        default=PARTS,
        help="run these parts only (none: only write the report from the saved results)",
    )
    parser.add_argument("--runs", type=int, default=11, help="cold starts per function, side and tree (median)")
    parser.add_argument("--requests", type=int, default=160, help="warm invocations per function and side")
    parser.add_argument(
        "--warm-processes",
        type=int,
        default=8,
        help="rounds the warm invocations are spread over, a process per side in each: a process's own"
        " layout moves its figures by 10-30%%, so one or two would decide a ratio",
    )
    parser.add_argument("--sdk-requests", type=int, default=200, help="session creations per ETpay client")
    parser.add_argument("--webhook-payments", type=int, default=200, help="payments timed to their webhook")
    parser.add_argument("--scale-orders", type=int, default=100_000, help="orders in the reconciler's scale run")
    parser.add_argument("--build-dir", type=Path, default=ROOT / ".aws-sam" / "build")
    parser.add_argument("--no-write", action="store_true", help="leave docs/BENCHMARKS.md alone")
    return parser.parse_args()


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")  # fmt: skip
    memory = int(Path("/proc/meminfo").read_text().split()[1]) / 1024**2
    return f"{os.cpu_count()} × {cpu}, {memory:.0f} GiB, {platform.platform()}, Python {platform.python_version()}"


def functions_part(args: argparse.Namespace) -> dict[str, Any]:
    tree = trees.prepare(args.build_dir, WORKDIR / "trees", FUNCTIONS)
    shipped = trees.bytecode_files(tree["as built"])
    with BenchStack(WORKDIR / "stack") as stack:
        progress("what each function's first request asks of AWS")
        inspected = measure.inspect(tree["as built"], stack, WORKDIR / "logs")
        progress("cold starts")
        cold = measure.cold_starts(tree, stack, WORKDIR / "logs", args.runs)
        progress("warm invocations")
        warm = measure.warm(tree["precompiled"], stack, WORKDIR / "logs", args.requests, rounds=args.warm_processes)
        # What a payment costs counts the stream function's run on the claim's record too.
        claim = measure.warm(tree["precompiled"], stack, WORKDIR / "logs", args.requests, rounds=args.warm_processes,
                             functions=(CLAIM_RECORD,), sides=("traced",))[CLAIM_RECORD.name]["traced"]  # fmt: skip
        items = measure.largest_items(stack)
    if trees.bytecode_files(tree["as built"]) != shipped:
        raise SystemExit("the as-built tree gained .pyc files: its cold starts were not as built")
    return {"cold": cold, "warm": warm, "inspect": inspected, "runs": args.runs,
            "warm_processes": args.warm_processes, "claim_record": claim,
            "largest_items": items, "format": report.FORMATS["functions"]}  # fmt: skip


def clients_part(args: argparse.Namespace) -> dict[str, Any]:
    with BenchStack(WORKDIR / "stack") as stack:
        clients = etpay_clients.measure(stack.sandbox.credentials(), args.sdk_requests)
    return {"clients": clients, "sdk": etpay_clients.sdk_version()}


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def run_part(name: str, measure_: Callable[[], dict[str, Any]]) -> None:
    progress(f"{name} ...")
    load_before, started = os.getloadavg(), time.monotonic()
    result = measure_()
    result |= {"measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
               "elapsed_s": time.monotonic() - started, "load_before": load_before,
               "load_after": os.getloadavg()}  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1))


def section(parts: dict[str, dict[str, Any]], name: str, render: Callable[[dict[str, Any]], str]) -> str:
    if name not in parts:
        return f"_Not measured yet: `python -m bench --only {name}`._"
    if parts[name].get("format", 1) < report.FORMATS.get(name, 1):
        return f"_Measured by an earlier bench, which this report cannot read: `python -m bench --only {name}`._"
    return report.when(parts[name]) + "\n\n" + render(parts[name])


def write_report(parts: dict[str, dict[str, Any]]) -> None:
    versions = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in PACKAGES)
    sdk = " with requests ".join(parts.get("clients", {}).get("sdk", "not measured").split(" ", 1))
    functions = parts.get("functions", {})
    text = f"""# Benchmarks

Written by `make bench` (`python -m bench`) on {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}. Each part
says when it ran and the load average then: the machine is shared, so **read the ratios, not the
absolute times**. All on 127.0.0.1: AWS is moto, ETpay the local sandbox. Versions: {versions};
etpay-sdk {sdk}.

## Memory size per function

There is no Lambda here: the sizes are compared as power tuning compares them, on a model. Each
invocation's CPU and wall time were measured on one full core of this machine, for ours as
deployed (as built, tracing on): cold starts (import, then the first request; medians of
{functions.get("runs", "-")} fresh processes) and warm invocations (medians). Lambda gives CPU in
proportion to memory, one vCPU at {costs.FULL_VCPU_MB:,} MB: below that the model stretches the CPU time
by {costs.FULL_VCPU_MB:,} / memory and keeps the rest of the wall time (waiting on AWS and ETpay) as
measured. Lambda x86_64 in us-east-1 bills ${costs.LAMBDA_PER_GB_SECOND:.10f} per GB-second, per 1 ms,
and $0.20 per million requests (AWS's Lambda pricing page, first tier, read 2026-12-06); since
August 2025 a cold start's INIT is billed too. Per million invocations, {costs.COLD_SHARE:.0%} are counted
as cold starts (AWS reports INITs in under 1% of invocations). Left out: Lambda's CPU is not this
machine's; below one vCPU its CPU comes in time slices that may overlap waits; the waits are on
local stand-ins over plain HTTP, not on DynamoDB and ETpay across a network (which adds the same
milliseconds at every size, in favour of the smaller ones) nor the TLS handshakes of a first request
(CPU, in favour of the larger ones); a cold start's own fixed costs (fetching the code, starting the
runtime). The rule: a function someone waits on over HTTP (the API's) takes the smallest size whose
cold start stays under {costs.COLD_START_TARGET_MS / 1000:g} s and whose warm invocation is within
{costs.WARM_SLOWDOWN - 1:.0%} of the 1,024 MB one; the others, which nobody waits on by the millisecond,
the cheapest; every size must hold the peak RSS with 40% to spare and keep a cold
start within a tenth of the function's timeout. **←** marks the choice.

{section(parts, "functions", report.power_section)}

## Cold starts and warm invocations, against bare baselines

A fresh `python3.13 -S` process per cold start, its path Lambda's: the function's directory, the
layer, then only what Lambda's runtime ships (boto3, botocore, s3transfer, jmespath, dateutil, six,
urllib3, precompiled); the template's environment and Lambda's own variables. "As built" is what
`sam build` ships: the layer with bytecode compiled ahead, the baselines as a plain pip build,
without (Lambda's directories are read-only: Python compiles them at every cold start);
"precompiled" gives both sides bytecode. Each bare baseline (`bench/baseline/`) makes the same AWS
requests as ours for the same event, at import (the secrets ours reads ahead, which a bare handler
reads in its init too) and in each request, with bare boto3 (and urllib3 or PyJWT where the work
needs them); the events are in `bench/functions.py`, a fresh order, session or event each time, so
every invocation takes the same path. moto's server closes its connection after every answer, so
here each AWS request, ours and bare alike, opens a TCP connection that Lambda, keeping its
connections to AWS alive, would open once.

**Tracing.** The template deploys every function with `Tracing: Active`, and ours then loads the X-Ray
SDK through Powertools' Tracer; the bare baselines trace nothing. So ours is compared with them
**with tracing off** (`POWERTOOLS_TRACE_DISABLED=true`, as a stack deployed with tracing turned off
runs: the X-Ray SDK is never loaded), and measured once more **with tracing on**, as deployed (its
segments go where no daemon listens), in a table of its own beside ours untraced: what the X-Ray
SDK costs, cold and warm. The memory sizes above and the costs below are modelled on ours as
deployed, tracing on. Cold runs (ours untraced and bare in both trees, ours traced as built) are
shuffled in every round after a discarded one; warm ones in
{functions.get("warm_processes", 2)} rounds of one process per side, alive together, each warmed up by 5
invocations, then invoked in turn.

{section(parts, "functions", report.functions_sections)}

## Cost per million payments

A payment is two parts. Its own: `POST /sessions` and its paid notification, through API Gateway,
the payments and notifications functions and the orders table. Its events': two events (session
opened, payment succeeded), each recorded in the events table, put on the bus, queued and delivered
as a webhook once, through the stream and delivery functions. Each of a payment's three writes to the
orders table is a stream record; {CLAIM_TEXT} API Gateway and the sessions and notifications functions
are the payment's own cost, not the events'. Lambda as above (ours as deployed), each function at the
template's memory, then at the one recommended; the AWS requests counted in the functions' warm
invocations; the log bytes they wrote; DynamoDB's write and read units from the largest item in each
table after the run. Left out: X-Ray's own charges, the empty receives of Lambda's SQS pollers and
the stream's polling (whatever the traffic), Secrets Manager's reads (each execution environment's
at its start, then the notification key's every minute and the others' every five), the merchant's
`GET /events` reads, storage. Other us-east-1 prices: API Gateway REST ${costs.API_GATEWAY_REST:.2f} per million,
DynamoDB on-demand ${costs.DYNAMODB_WRU} per million write and ${costs.DYNAMODB_RRU} per million read units,
EventBridge ${costs.EVENTBRIDGE_EVENT:.2f} per million events, SQS ${costs.SQS_REQUEST:.2f} per million requests,
CloudWatch Logs ${costs.LOGS_PER_GB:.2f} per GB; free tiers ignored.

{section(parts, "functions", report.cost_section)}

## Our ETpay client against etpay-sdk

Sequential `/session/initialize` calls on the sandbox (HTTP/1.1 keep-alive, as ETpay's HTTPS API):
our client pools and reuses connections, etpay-sdk opens one per call.

{section(parts, "clients", report.clients_section)}

## Notification to webhook

On the whole local stack after 5 warm-up payments: from the sandbox POSTing a paid notification to
the merchant's receiver holding the verified `payment.succeeded` webhook, through `/notifications`,
the orders table's stream (polled four times a second, as Lambda polls a shard), the stream function,
the webhook queue and the delivery function. In AWS the stream and the merchant's answer add to it.

{section(parts, "webhooks", report.webhooks_section)}

## The reconciler at scale

`bench/reconcile_scale.py`: the shipped sweep and workers on DynamoDB Local (a real engine, in
memory, a few hundred writes a second here: its wall-clock times say more about it than about
DynamoDB), the sandbox answering the status checks over HTTP, on a simulated clock.

{section(parts, "scale", lambda part: reconcile_scale.markdown(part["scale"]))}
"""
    REPORT.write_text(text)


def main() -> None:
    args = parse_args()
    measures: dict[str, Callable[[], dict[str, Any]]] = {
        "functions": lambda: functions_part(args),
        "clients": lambda: clients_part(args),
        "webhooks": lambda: {"webhooks": webhooks.measure(args.webhook_payments, WORKDIR)},
        "scale": lambda: {"scale": reconcile_scale.in_subprocess(args.scale_orders, progress)},
    }
    for name in PARTS:
        if name in args.only:
            run_part(name, measures[name])
    parts = {name: json.loads((RESULTS / f"{name}.json").read_text()) for name in PARTS
             if (RESULTS / f"{name}.json").exists()}  # fmt: skip
    if not args.no_write:
        write_report(parts)
        progress(f"written to {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

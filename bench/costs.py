"""Memory sizes compared as power tuning compares them, and what a payment costs, modelled from the
measurements (there is no Lambda here; docs/BENCHMARKS.md says how). Prices: us-east-1, x86_64 (the
template's architecture), first tier, as AWS's pricing pages list them (read 2026-12-06)."""

import math
from dataclasses import dataclass

from local.emulator.template import routes

LAMBDA_PER_GB_SECOND = 0.0000166667
LAMBDA_PER_REQUEST = 0.20 / 1e6
FULL_VCPU_MB = 1769
SIZES = (256, 512, 1024)
# The functions someone waits on: the API's (a person or a caller over HTTP); nobody waits on the others.
SYNCHRONOUS = {route.function for route in routes()}
# A synchronous function's cold start (import + first request) should stay under this, and its warm
# invocation within WARM_SLOWDOWN of the 1,024 MB one; an asynchronous one takes the cheapest size.
COLD_START_TARGET_MS = 1000
WARM_SLOWDOWN = 1.25
# The share of invocations that are cold starts: AWS reports INITs in under 1% of invocations.
COLD_SHARE = 0.01
# Other services per million requests or units (DynamoDB on-demand after its November 2024 cut).
API_GATEWAY_REST = 3.50
DYNAMODB_WRU, DYNAMODB_RRU = 0.625, 0.125
EVENTBRIDGE_EVENT, SQS_REQUEST = 1.00, 0.40
LOGS_PER_GB = 0.50
# One payment: its session opened and paid, two events, both on the bus and delivered as webhooks.
# At low traffic nothing is batched: the stream function runs once per event, the delivery once per
# webhook. The sweep runs by the minute, whatever the payments; a notified payment is never checked.
PAYMENT = {"PaymentsFunction": 1, "NotificationsFunction": 1, "EventPublisherFunction": 2,
           "WebhookDeliveryFunction": 2}  # fmt: skip
SWEEPS_PER_MONTH = 60 * 24 * 30


def duration_ms(cpu_ms: float, wall_ms: float, memory_mb: int) -> float:
    """One invocation's duration at `memory_mb`, from its CPU and wall time on a full core."""
    return cpu_ms * max(1.0, FULL_VCPU_MB / memory_mb) + max(0.0, wall_ms - cpu_ms)


def invocation_cost(billed_ms: float, memory_mb: int) -> float:
    return math.ceil(billed_ms) / 1000 * memory_mb / 1024 * LAMBDA_PER_GB_SECOND + LAMBDA_PER_REQUEST


@dataclass(frozen=True)
class Size:
    memory_mb: int
    warm_ms: float
    cold_ms: float  # import + first request
    per_million: float  # dollars per million invocations, COLD_SHARE of them cold


def sizes(warm: dict[str, float], cold: dict[str, float]) -> list[Size]:
    found = []
    for memory in SIZES:
        warm_ms = duration_ms(warm["cpu_ms"], warm["ms"], memory)
        init_ms = duration_ms(cold["import_cpu_ms"], cold["import_ms"], memory)
        first_ms = duration_ms(cold["first_cpu_ms"], cold["first_ms"], memory)
        cost = (1 - COLD_SHARE) * invocation_cost(warm_ms, memory) + COLD_SHARE * (
            invocation_cost(init_ms + first_ms, memory)
        )
        found.append(Size(memory, warm_ms, init_ms + first_ms, cost * 1e6))
    return found


def recommend(function: str, options: list[Size], peak_rss_mb: float, timeout_s: float) -> tuple[Size, str]:
    """The size the figures point to, and why. Every size must hold the peak RSS with 40% to spare
    and keep a cold start within a tenth of the function's timeout."""
    fitting = [size for size in options if peak_rss_mb <= 0.6 * size.memory_mb and size.cold_ms <= 100 * timeout_s]
    if not fitting:
        return options[-1], "none fits its memory and timeout with room to spare: the largest measured"
    cheapest, fastest = min(fitting, key=lambda size: size.per_million), fitting[-1]
    if function not in SYNCHRONOUS:
        return cheapest, (f"nobody waits on it by the millisecond: the cheapest (its cold start, "
                          f"{cheapest.cold_ms:,.0f} ms, is under a tenth of its {timeout_s:g} s timeout)")  # fmt: skip
    for size in fitting:
        if size.cold_ms <= COLD_START_TARGET_MS and size.warm_ms <= WARM_SLOWDOWN * fastest.warm_ms:
            extra = size.per_million - cheapest.per_million
            return size, (f"the smallest whose cold start ({size.cold_ms:,.0f} ms) is under "
                          f"{COLD_START_TARGET_MS / 1000:g} s and whose warm invocation ({size.warm_ms:.0f} ms) is "
                          f"within {WARM_SLOWDOWN - 1:.0%} of {fastest.memory_mb} MB's"
                          + (f", for ${extra:.2f} more per million invocations than {cheapest.memory_mb} MB"
                             if extra >= 0.005 else ""))  # fmt: skip
    return fastest, (f"no size measured keeps its cold start under {COLD_START_TARGET_MS / 1000:g} s: the largest, "
                     "the fastest warm and cold")  # fmt: skip


def per_million_payments(memory: dict[str, int], durations: dict[str, list[Size]], calls: dict[str, dict[str, int]],
                         log_bytes: dict[str, float]) -> list[tuple[str, float]]:  # fmt: skip
    """What a million payments cost, line by line, with each function at `memory[function]`.
    `calls`: the AWS requests of one warm invocation of each function."""
    lines = []
    for function, count in PAYMENT.items():
        size = next(size for size in durations[function] if size.memory_mb == memory[function])
        lines.append((f"Lambda, {function} ({count} invocation{'s' if count > 1 else ''})", count * size.per_million))
    requests: dict[str, float] = {}
    for function, count in PAYMENT.items():
        for operation, made in calls[function].items():
            requests[operation] = requests.get(operation, 0) + count * made
    writes = sum(made for operation, made in requests.items() if operation.split(":")[1] in ("PutItem", "UpdateItem"))
    reads = requests.get("dynamodb:GetItem", 0) + 0.5 * requests.get("dynamodb:Query", 0)
    # Each webhook message is also received and deleted by Lambda's poller.
    sqs = requests.get("sqs:SendMessage", 0) * 3
    logs = sum(count * log_bytes[function] for function, count in PAYMENT.items())
    api = sum(count for function, count in PAYMENT.items() if function in SYNCHRONOUS)
    lines += [
        (f"API Gateway REST ({api:g} requests)", api * API_GATEWAY_REST),
        (f"DynamoDB writes ({writes:g} WRU, items under 1 KB, index entries not counted)", writes * DYNAMODB_WRU),
        (f"DynamoDB reads ({reads:g} RRU)", reads * DYNAMODB_RRU),
        (f"EventBridge ({requests.get('events:PutEvents', 0):g} events)",
         requests.get("events:PutEvents", 0) * EVENTBRIDGE_EVENT),
        (f"SQS ({sqs:g} requests: send, receive, delete)", sqs * SQS_REQUEST),
        (f"CloudWatch Logs ({logs:,.0f} bytes)", logs * 1e6 / 1024**3 * LOGS_PER_GB),
    ]  # fmt: skip
    return lines

"""Memory sizes compared as power tuning compares them, and what a payment costs, modelled from the
measurements (there is no Lambda here; docs/BENCHMARKS.md says how). Prices: us-east-1, x86_64 (the
template's architecture), first tier, as AWS's pricing pages list them (read 2026-12-06)."""

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local.emulator.event_sources import passes
from local.emulator.template import load_template, routes

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
# One payment: its session opened over the API and its paid notification (the payment's own work),
# then two events (session opened, payment succeeded), each published and delivered as a webhook once
# (the events'). At low traffic nothing is batched: the stream function runs once per stream record,
# the delivery once per webhook. The sweep runs by the minute, whatever the payments; a notified
# payment is never checked.
PAYMENT_OWN = {"PaymentsFunction": 1, "NotificationsFunction": 1}
EVENTS_PER_PAYMENT = 2
EVENTS = {"EventPublisherFunction": EVENTS_PER_PAYMENT, "WebhookDeliveryFunction": EVENTS_PER_PAYMENT}
PAYMENT = PAYMENT_OWN | EVENTS
# The orders table's stream has a record for each of a payment's three writes: the new order's claim,
# its session stored, its payment. Whether the stream function also runs for the claim's record
# (which makes no event and no request; measured on its own: bench.functions.CLAIM_RECORD) is the
# template's stream filter's to say: asked here of the template itself.


def claim_reaches_the_stream_function() -> bool:
    """Whether the template's filter on the orders table's stream lets a new order's claim through."""
    filters = load_template()["Resources"]["EventPublisherStream"]["Properties"]["FilterCriteria"]["Filters"]
    key = {"pk": {"S": "ORDER#OC-1"}}
    claim = {"eventName": "INSERT", "dynamodb": {"Keys": key, "NewImage": key | {"claim_id": {"S": "c1"}}}}
    return passes(tuple(json.loads(entry["Pattern"]) for entry in filters), claim)


EXTRA_INVOCATIONS = {"EventPublisherFunction": 1} if claim_reaches_the_stream_function() else {}
# What a table's writes leave out: the orders table's check index has an entry from a session's
# opening to its end (its write and its removal cost write units too).
INDEXES = {"OrdersTable": "check index entries not counted"}
# The events' part of a payment's cost is to stay at or under this, per million payments.
EVENTS_TARGET = 10.00
# What each function writes to and reads from.
TABLES = {"PaymentsFunction": "OrdersTable", "NotificationsFunction": "OrdersTable",
          "EventPublisherFunction": "EventsTable", "WebhookDeliveryFunction": "EventsTable"}  # fmt: skip
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


@dataclass(frozen=True)
class Line:
    what: str
    cost: float  # dollars per million payments
    arithmetic: str  # the counts and prices it multiplies


def value_bytes(value: Mapping[str, Any]) -> int:
    """A DynamoDB JSON value's size as DynamoDB bills it: strings and binaries their bytes, numbers
    a byte per two significant digits and one, booleans and nulls one, maps and lists 3 bytes and
    1 byte per element (a map's with its name), sets the sum of their elements."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = inner.lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + value_bytes(item) for name, item in inner.items())
    if kind == "L":
        return 3 + sum(1 + value_bytes(item) for item in inner)
    return sum(value_bytes({kind[0]: item}) for item in inner)  # SS, NS, BS


def item_bytes(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB bills it: its attributes' names and values."""
    return sum(len(name.encode()) + value_bytes(value) for name, value in item.items())


def units(item_size: int | None, unit_bytes: int) -> int:
    """Capacity units per request on an item of `item_size` bytes (None: not measured, one unit)."""
    return max(1, math.ceil((item_size or 0) / unit_bytes))


def plural(count: float, word: str) -> str:
    return f"{count:g} {word}{'' if count == 1 else 's'}"


def at(options: list[Size], memory_mb: int) -> Size:
    return next(size for size in options if size.memory_mb == memory_mb)


def lambda_lines(group: Mapping[str, int], memory: Mapping[str, int], durations: Mapping[str, list[Size]],
                 extra: Mapping[str, list[Size]]) -> list[Line]:  # fmt: skip
    """`extra`: per function, the sizes of its EXTRA_INVOCATIONS (measured on their own)."""
    lines = []
    for function, count in group.items():
        size = at(durations[function], memory[function])
        arithmetic = f"{count:g} × ${size.per_million:.2f}"
        cost, invocations = count * size.per_million, count
        if function in extra and function in EXTRA_INVOCATIONS:
            more, other = EXTRA_INVOCATIONS[function], at(extra[function], memory[function])
            arithmetic += f" + {more:g} × ${other.per_million:.2f} (the claim's record)"
            cost, invocations = cost + more * other.per_million, invocations + more
        arithmetic += f" per million invocations at {size.memory_mb} MB"
        lines.append(Line(f"Lambda, {function} ({plural(invocations, 'invocation')})", cost, arithmetic))
    return lines


def group_lines(group: Mapping[str, int], memory: Mapping[str, int], durations: Mapping[str, list[Size]],
                calls: Mapping[str, Mapping[str, int]], log_bytes: Mapping[str, float],
                item_size: Mapping[str, int], extra: Mapping[str, list[Size]]) -> list[Line]:  # fmt: skip
    """What a million payments cost for one group of functions (PAYMENT_OWN, EVENTS), line by
    line, each function at `memory[function]`. `calls`: the AWS requests of one warm invocation of
    each function; `log_bytes`: what one wrote to its log; `item_size`: the largest item of each
    table, in bytes; `extra`: the sizes of the invocations beyond the group's (EXTRA_INVOCATIONS),
    which make no request and write no log."""
    lines = lambda_lines(group, memory, durations, extra)
    made: dict[str, float] = {}
    for function, count in group.items():
        for operation, number in calls[function].items():
            made[operation] = made.get(operation, 0) + count * number
    api = sum(count for function, count in group.items() if function in SYNCHRONOUS)
    if api:
        lines.append(Line(f"API Gateway REST ({plural(api, 'request')})", api * API_GATEWAY_REST,
                          f"{api:g} × ${API_GATEWAY_REST:.2f} per million requests"))  # fmt: skip
    tables = sorted({TABLES[function] for function in group})
    table = " and ".join(tables)
    largest = max((item_size.get(name) or 0 for name in tables), default=0) or None
    where = f"largest item {largest:,} B" if largest else "items not measured"
    writes = {operation: made.get(f"dynamodb:{operation}", 0) for operation in ("PutItem", "UpdateItem")}
    wru = units(largest, 1024)
    total = sum(writes.values()) * wru
    left_out = "".join(f"; {INDEXES[name]}" for name in tables if name in INDEXES)
    lines.append(Line(f"DynamoDB writes, {table} ({total:g} WRU{left_out})", total * DYNAMODB_WRU,
                      "(" + " + ".join(f"{count:g} {operation}" for operation, count in writes.items() if count)
                      + f") × {wru} WRU ({where}) × ${DYNAMODB_WRU} per million WRU"))  # fmt: skip
    gets, queries = made.get("dynamodb:GetItem", 0), made.get("dynamodb:Query", 0)
    rru = units(largest, 4096)
    reads = (gets + 0.5 * queries) * rru
    lines.append(Line(f"DynamoDB reads, {table} ({reads:g} RRU)", reads * DYNAMODB_RRU,
                      f"{gets:g} consistent GetItem"
                      + (f" + {queries:g} Query at ½" if queries else "")
                      + f" × {rru} RRU × ${DYNAMODB_RRU} per million RRU"))  # fmt: skip
    events = made.get("events:PutEvents", 0)
    if events:
        lines.append(Line(f"EventBridge ({plural(events, 'event')})", events * EVENTBRIDGE_EVENT,
                          f"{events:g} PutEvents entries × ${EVENTBRIDGE_EVENT:.2f} per million"))  # fmt: skip
    sent = made.get("sqs:SendMessage", 0)
    if sent:
        # Each webhook message is also received and deleted by Lambda's poller.
        lines.append(Line(f"SQS ({plural(sent * 3, 'request')}: send, receive, delete)", sent * 3 * SQS_REQUEST,
                          f"{sent:g} messages × 3 requests × ${SQS_REQUEST:.2f} per million"))  # fmt: skip
    logged = sum(count * log_bytes[function] for function, count in group.items())
    lines.append(Line(f"CloudWatch Logs ({logged:,.0f} bytes)", logged * 1e6 / 1024**3 * LOGS_PER_GB,
                      " + ".join(f"{count:g} × {log_bytes[function]:,.0f} B" for function, count in group.items())
                      + f" = {logged:,.0f} B, × 10⁶ / 1024³ × ${LOGS_PER_GB:.2f} per GB"))  # fmt: skip
    return lines


def per_million_payments(memory: Mapping[str, int], durations: Mapping[str, list[Size]],
                         calls: Mapping[str, Mapping[str, int]], log_bytes: Mapping[str, float],
                         item_size: Mapping[str, int],
                         extra: Mapping[str, list[Size]]) -> dict[str, list[Line]]:  # fmt: skip
    """What a million payments cost: the payment's own part and the events' (group -> lines)."""
    return {
        "own": group_lines(PAYMENT_OWN, memory, durations, calls, log_bytes, item_size, {}),
        "events": group_lines(EVENTS, memory, durations, calls, log_bytes, item_size, extra),
    }

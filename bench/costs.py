"""AWS cost per million payments, from the measured warm durations and the counted DynamoDB calls.
One payment = 1 POST /sessions + 1 POST /notifications + 1 GET /orders/{id}."""

import math

# us-east-1 list prices (the brief's figures).
API_GATEWAY_REST_PER_MILLION = 3.50
LAMBDA_PER_MILLION_REQUESTS = 0.20
LAMBDA_PER_GB_SECOND = 0.0000166667  # x86_64
DYNAMODB_PER_MILLION_WRU = 1.25
DYNAMODB_PER_MILLION_RRU = 0.25
PAYMENT_ROUTES = ("POST /sessions", "POST /notifications", "GET /orders/{id}")
# Items stay under 1 KB (writes) and 4 KB (reads): 1 unit each (strongly consistent reads
# included), 2 for each item of a transaction.
WRU = {"PutItem": 1, "UpdateItem": 1, "DeleteItem": 1}
RRU = {"GetItem": 1}
TRANSACTIONAL_UNITS_PER_ITEM = 2


def capacity_units(calls: dict[str, float]) -> tuple[float, float]:
    """(read units, write units) per request from the counted calls."""
    reads = writes = 0.0
    for operation, count in calls.items():
        parts = operation.split(":")
        if parts[0] != "dynamodb":
            continue
        if len(parts) == 3 and parts[1] == "TransactWriteItems":
            writes += TRANSACTIONAL_UNITS_PER_ITEM * count
        elif len(parts) == 3 and parts[1] == "TransactGetItems":
            reads += TRANSACTIONAL_UNITS_PER_ITEM * count
        elif parts[1] in WRU:
            writes += WRU[parts[1]] * count
        elif parts[1] in RRU:
            reads += RRU[parts[1]] * count
    return reads, writes


def per_million_payments(warm: dict, side: str, memory_mb: int) -> dict:
    gb = memory_mb / 1024
    billed_ms = sum(math.ceil(warm[route][side]["wall_ms"]) for route in PAYMENT_ROUTES)
    reads = writes = 0.0
    for route in PAYMENT_ROUTES:
        r, w = capacity_units(warm[route][side]["aws_calls_per_request"])
        reads, writes = reads + r, writes + w
    lines = {
        "API Gateway REST (3 requests)": 3 * API_GATEWAY_REST_PER_MILLION,
        "Lambda requests (3)": 3 * LAMBDA_PER_MILLION_REQUESTS,
        f"Lambda duration ({billed_ms} ms at {memory_mb} MB)": billed_ms / 1000 * gb * LAMBDA_PER_GB_SECOND * 1e6,
        f"DynamoDB writes ({writes:g} WRU)": writes * DYNAMODB_PER_MILLION_WRU,
        f"DynamoDB reads ({reads:g} RRU)": reads * DYNAMODB_PER_MILLION_RRU,
    }
    return {"lines": lines, "total": sum(lines.values()), "billed_ms": billed_ms, "reads": reads, "writes": writes}


def per_million_cold_starts(init_ms: float, memory_mb: int) -> float:
    """Lambda bills the INIT phase too: what a million cold starts of this length cost."""
    return math.ceil(init_ms) / 1000 * (memory_mb / 1024) * LAMBDA_PER_GB_SECOND * 1e6


def largest_item_bytes(items: list[dict]) -> int:
    """DynamoDB's item size rule, roughly: attribute names plus values (numbers ~ digits / 2 + 1)."""

    def size(value: dict) -> int:
        kind, raw = next(iter(value.items()))
        if kind == "S":
            return len(raw.encode())
        if kind == "N":
            return len(raw.lstrip("-").replace(".", "")) // 2 + 1
        if kind in ("BOOL", "NULL"):
            return 1
        if kind == "SS":
            return sum(len(entry.encode()) for entry in raw)
        if kind == "M":  # an order's sessions: names and values, plus 3 bytes of overhead
            return 3 + sum(len(name.encode()) + size(entry) for name, entry in raw.items())
        if kind == "L":
            return 3 + sum(1 + size(entry) for entry in raw)
        return len(str(raw))

    return max((sum(len(name) + size(value) for name, value in item.items()) for item in items), default=0)

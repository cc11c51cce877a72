"""What the events and webhooks add to the AWS bill per million payments, from what
`webhook_latency.py` measured on the local stack: invocations per payment, their durations, the
event record's size and the log bytes written. One payment = one session, paid: two events
(session.created, payment.succeeded), both on the bus and both delivered as webhooks.

Prices: us-east-1 list prices, the same figures as costs.py for the services both use, read
2026-11-29; free tiers ignored."""

import math

from costs import DYNAMODB_PER_MILLION_RRU, DYNAMODB_PER_MILLION_WRU, LAMBDA_PER_GB_SECOND, LAMBDA_PER_MILLION_REQUESTS

EVENTBRIDGE_PER_MILLION_CUSTOM_EVENTS = 1.00  # PutEvents to a custom bus, per 64 KB chunk
SQS_PER_MILLION_REQUESTS = 0.40  # standard queue, per 64 KB chunk
CLOUDWATCH_LOGS_PER_GB_INGESTED = 0.50
# DynamoDB Streams: GetRecords made by a Lambda event source mapping are free; the stream itself
# costs nothing to write.
STREAM_READS_BY_LAMBDA = 0.0
EVENTS_PER_PAYMENT = 2
# Invocations per payment at low traffic, where nothing is batched: the stream function once for
# the session's writes (claim and session, milliseconds apart) and once for the payment's (minutes
# later); the delivery function once per webhook. The benchmark's back-to-back payments let one
# invocation take all three writes, so its own count is lower and only reported.
INVOCATIONS_PER_PAYMENT = {"EventPublisherFunction": 2, "WebhookDeliveryFunction": EVENTS_PER_PAYMENT}
# Per webhook: SendMessage by the stream function, then the event source's ReceiveMessage and
# DeleteMessageBatch (one each per batch; counted per message, as at low traffic).
SQS_REQUESTS_PER_WEBHOOK = 3
# Per event: the record's PutItem, its keys-only index entry, the "sent" UpdateItem; then the
# delivery's UpdateItem. One strongly consistent GetItem by the delivery function.
WRITES_PER_EVENT = ("PutItem", "index entry", "mark sent", "delivery attempt")
READS_PER_EVENT = 1
WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
# What the merchant's endpoint takes to answer is billed as the delivery function's duration;
# the local receiver answers in about a millisecond, a real one in this much (an assumption).
MERCHANT_RESPONSE_MS = 200
MEMORY_MB = {"EventPublisherFunction": 512, "WebhookDeliveryFunction": 256}


def per_million_payments(measured: dict) -> dict:
    """Each line: (what, how it is computed, dollars per million payments)."""
    lines = []
    invocations = INVOCATIONS_PER_PAYMENT
    durations = measured["median_invocation_ms"]

    lines.append(("DynamoDB Streams reads by Lambda", "free for Lambda triggers", STREAM_READS_BY_LAMBDA))
    events = EVENTS_PER_PAYMENT
    lines.append(
        (
            "EventBridge custom-bus events",
            f"{events} events x ${EVENTBRIDGE_PER_MILLION_CUSTOM_EVENTS:.2f}/M",
            events * EVENTBRIDGE_PER_MILLION_CUSTOM_EVENTS,
        )
    )
    sqs_requests = events * SQS_REQUESTS_PER_WEBHOOK
    lines.append(
        (
            "SQS requests",
            f"{events} webhooks x {SQS_REQUESTS_PER_WEBHOOK} requests (send, receive, delete) x "
            f"${SQS_PER_MILLION_REQUESTS:.2f}/M",
            sqs_requests * SQS_PER_MILLION_REQUESTS,
        )
    )
    for function in ("EventPublisherFunction", "WebhookDeliveryFunction"):
        count = invocations[function]
        lines.append(
            (
                f"Lambda requests, {function}",
                f"{count:.2f} invocations x ${LAMBDA_PER_MILLION_REQUESTS:.2f}/M",
                count * LAMBDA_PER_MILLION_REQUESTS,
            )
        )
        billed_ms = math.ceil(durations[function]) + (
            MERCHANT_RESPONSE_MS if function == "WebhookDeliveryFunction" else 0
        )
        gb = MEMORY_MB[function] / 1024
        lines.append(
            (
                f"Lambda duration, {function}",
                f"{count:.2f} x {billed_ms} ms x {gb:g} GB x ${LAMBDA_PER_GB_SECOND}/GB-s",
                count * billed_ms / 1000 * gb * LAMBDA_PER_GB_SECOND * 1e6,
            )
        )
    units = max(1, math.ceil(measured["event_record_bytes"] / WRITE_UNIT_BYTES))
    # The index entry holds three short keys: one unit whatever the record's size.
    writes = events * (units * (len(WRITES_PER_EVENT) - 1) + 1)
    lines.append(
        (
            "DynamoDB writes, events table",
            f"{events} events x ({' + '.join(WRITES_PER_EVENT)}), record {measured['event_record_bytes']} B "
            f"= {writes} WRU x ${DYNAMODB_PER_MILLION_WRU:.2f}/M",
            writes * DYNAMODB_PER_MILLION_WRU,
        )
    )
    reads = events * READS_PER_EVENT * max(1, math.ceil(measured["event_record_bytes"] / READ_UNIT_BYTES))
    lines.append(
        (
            "DynamoDB reads, events table",
            f"{events} strongly consistent GetItem = {reads} RRU x ${DYNAMODB_PER_MILLION_RRU:.2f}/M",
            reads * DYNAMODB_PER_MILLION_RRU,
        )
    )
    log_bytes = sum(measured["log_bytes_per_payment"].values())
    lines.append(
        (
            "CloudWatch Logs ingestion",
            f"{log_bytes:.0f} B of log per payment x ${CLOUDWATCH_LOGS_PER_GB_INGESTED:.2f}/GB",
            log_bytes * 1e6 / 1024**3 * CLOUDWATCH_LOGS_PER_GB_INGESTED,
        )
    )
    return {"lines": lines, "total": sum(cost for _, _, cost in lines)}


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def main_rows(measured: dict, cost: dict) -> list[list[str]]:
    """The rows of the benchmark's main table (section, measure, ours, comparison, ratio)."""
    return [
        [
            "events",
            f"notification to webhook, p50 ({measured['payments']} payments)",
            f"{measured['p50_ms']:.0f} ms",
            "-",
            "-",
        ],
        [
            "events",
            f"notification to webhook, p99 ({measured['payments']} payments)",
            f"{measured['p99_ms']:.0f} ms",
            "-",
            "-",
        ],
        ["AWS cost", "events and webhooks added, per million payments", f"${cost['total']:.2f}", "-", "-"],
    ]


def report_section(measured: dict, cost: dict) -> str:
    invocations = measured["invocations_per_payment"]
    durations = measured["median_invocation_ms"]
    publisher = f"{invocations['EventPublisherFunction']:.2f} (median {durations['EventPublisherFunction']:.0f} ms)"
    delivery = f"{invocations['WebhookDeliveryFunction']:.2f} (median {durations['WebhookDeliveryFunction']:.0f} ms)"
    rows = [[what, how, f"${dollars:.2f}"] for what, how, dollars in cost["lines"]]
    rows.append(["**total added per million payments**", "", f"**${cost['total']:.2f}**"])
    return f"""## Events: notification to webhook

`bench/webhook_latency.py`: {measured["payments"]} payments one after another on the local stack
(`local/`, after 5 warm-up payments), each timed from the ETpay sandbox POSTing its paid notification to the
merchant's receiver holding the signed `payment.succeeded` webhook (signature checked with
standardwebhooks). The path is the stack's: `/notifications`, the orders table's stream (polled
four times a second per shard, as Lambda polls), the stream function, the webhook queue (long
polling), the delivery function. In AWS the stream adds its own propagation (typically well under
a second) and the merchant's response time adds to the delivery.

| measure | value |
|---|---|
| p50 | {measured["p50_ms"]:.0f} ms |
| p99 | {measured["p99_ms"]:.0f} ms |
| mean | {measured["mean_ms"]:.0f} ms |
| max | {measured["max_ms"]:.0f} ms |
| stream function invocations per payment | {publisher} |
| delivery function invocations per payment | {delivery} |
| largest event record | {measured["event_record_bytes"]} B |

## Added AWS cost: events and webhooks

Per million payments (one session, paid: {EVENTS_PER_PAYMENT} events, both on the bus and both
webhooks delivered at the first attempt), from the counts and durations measured above; us-east-1
list prices as read on 2026-11-29, free tiers ignored, the same Lambda and DynamoDB prices as the
section above (AWS reported halving DynamoDB on-demand prices in November 2024, to $0.625/M WRU
and $0.125/M RRU: that would halve the DynamoDB lines here and above). The delivery function is
billed for the merchant's response too: {MERCHANT_RESPONSE_MS} ms are assumed. Invocations are
counted as at low traffic, nothing batched (the stream function twice per payment: once for the
session's writes, once for the payment's); under load the event sources batch up to 10 records
or messages, dividing the Lambda request lines. Not per payment: Lambda's SQS
pollers long-poll the webhook queue even when it is empty (about 0.65 M requests, $0.26, a month),
and the webhook secret is read at most every 5 minutes per execution environment.

{_table(["what", "arithmetic", "per million payments"], rows)}
"""

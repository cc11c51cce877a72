"""Notification-to-webhook latency on the whole local stack (`local/`): from the ETpay sandbox
POSTing a paid notification to the merchant's receiver holding the signed `payment.succeeded`
webhook. The path is the stack's own: /notifications, the orders table's stream (polled four times
a second, as Lambda polls a shard), the stream function, the webhook queue, the delivery function."""

import math
import statistics
import time
import uuid
from pathlib import Path

from local.demo import DemoClient
from local.stack import LocalStack

WARM_UP_PAYMENTS = 5
# A bound on waiting for one webhook, not a performance assertion.
WEBHOOK_WAIT_SECONDS = 30.0


def pay_and_wait(stack: LocalStack, client: DemoClient) -> float:
    """One payment; seconds from the notification being sent to its webhook arriving."""
    order_id = f"BENCH-{uuid.uuid4().hex[:12]}"
    session = client.create_session(order_id)
    if session.status != 201:
        raise RuntimeError(f"POST /sessions answered {session.status}")
    sent = time.monotonic()
    completed = client.complete_in_sandbox(session.body["session_token"])
    if completed.status != 200 or completed.body.get("delivery_status") != 200:
        raise RuntimeError(f"the notification was not accepted: {completed.body}")
    webhook = stack.webhooks.wait_for(
        lambda received: received.type == "payment.succeeded" and received.merchant_order_id == order_id,
        WEBHOOK_WAIT_SECONDS,
    )
    if webhook is None or not webhook.verified:
        raise RuntimeError(f"no verified payment.succeeded webhook for {order_id}")
    return webhook.received_at - sent


def measure(payments: int, workdir: Path) -> dict[str, float]:
    with LocalStack.on_free_ports(workdir / "webhook-latency-logs") as stack:
        client = DemoClient(stack.api_url, stack.sandbox_url)
        try:
            for _ in range(WARM_UP_PAYMENTS):
                pay_and_wait(stack, client)
            stack.events.wait_idle()
            milliseconds = sorted(pay_and_wait(stack, client) * 1000 for _ in range(payments))
        finally:
            client.close()
    # Nearest-rank percentiles.
    return {
        "payments": payments,
        "p50_ms": milliseconds[math.ceil(0.50 * payments) - 1],
        "p99_ms": milliseconds[math.ceil(0.99 * payments) - 1],
        "mean_ms": statistics.fmean(milliseconds),
        "max_ms": milliseconds[-1],
    }

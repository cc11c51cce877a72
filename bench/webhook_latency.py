"""Notification-to-webhook latency on the local stack (`local/`): from the ETpay sandbox POSTing a
paid notification to the merchant's receiver holding the signed `payment.succeeded` webhook. The
path is the stack's own: /notifications, the orders table's stream (polled four times a second,
as Lambda polls a shard), the stream function, the webhook queue, the delivery function.

Also what the costs need: how many invocations of each function a payment took, how long they
ran, how big an event record is and how many log bytes a payment wrote."""

import statistics
import time
import uuid
from pathlib import Path

from bench_paths import ensure_paths

ensure_paths()

from costs import largest_item_bytes  # noqa: E402

from local.demo import DemoClient  # noqa: E402
from local.emulator.aws import emulator_client  # noqa: E402
from local.stack import LocalStack  # noqa: E402

WARM_UP_PAYMENTS = 5
# A bound on waiting for one webhook, not a performance assertion.
WEBHOOK_WAIT_SECONDS = 30.0
EVENT_FUNCTIONS = ("EventPublisherFunction", "WebhookDeliveryFunction")


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))]


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


def measure(payments: int, workdir: Path) -> dict:
    log_dir = workdir / "webhook-latency-logs"
    with LocalStack.on_free_ports(log_dir) as stack:
        client = DemoClient(stack.api_url, stack.sandbox.base_url)
        try:
            for _ in range(WARM_UP_PAYMENTS):
                pay_and_wait(stack, client)
            if not stack.events.wait_idle():
                raise RuntimeError("the event sources did not settle after the warm-up")
            pollers = {poller.mapping.function: poller for poller in stack.events.sources.pollers}
            before = {name: len(pollers[name].invocation_ms) for name in EVENT_FUNCTIONS}
            log_bytes_before = {name: _size(log_dir / f"{name}.log") for name in EVENT_FUNCTIONS}
            latencies = [pay_and_wait(stack, client) for _ in range(payments)]
            # The session.created webhooks of the last payments may still be on their way.
            stack.events.wait_idle()
            durations = {name: pollers[name].invocation_ms[before[name] :] for name in EVENT_FUNCTIONS}
            log_bytes = {name: _size(log_dir / f"{name}.log") - log_bytes_before[name] for name in EVENT_FUNCTIONS}
            items = emulator_client(stack.aws_url, "dynamodb").scan(TableName=stack.resource_name("EventsTable"))
        finally:
            client.close()
    milliseconds = [seconds * 1000 for seconds in latencies]
    return {
        "payments": payments,
        "p50_ms": percentile(milliseconds, 0.50),
        "p99_ms": percentile(milliseconds, 0.99),
        "mean_ms": statistics.fmean(milliseconds),
        "max_ms": max(milliseconds),
        "invocations_per_payment": {name: len(durations[name]) / payments for name in EVENT_FUNCTIONS},
        "median_invocation_ms": {name: statistics.median(durations[name]) for name in EVENT_FUNCTIONS},
        "log_bytes_per_payment": {name: log_bytes[name] / payments for name in EVENT_FUNCTIONS},
        "event_record_bytes": largest_item_bytes(items["Items"]),
    }


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0

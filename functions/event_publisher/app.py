"""The orders table's change stream: each transition it records becomes an event on the stack's
EventBridge bus and, with webhooks on, a webhook queued for the merchant. Only this function may
read the stream (its images hold each session's signature_token)."""

# First: the garbage collector paused while the function initialises (see the module).
from payments.config import collector  # noqa: F401

# isort: split
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from payments.adapters.order_history import changes_from_stream_event
from payments.app.publishing import PUBLISH_TIME_RESERVE_MS
from payments.config import logs, tracing, wiring

logger = logs.function_logger()
metrics = Metrics()
tracer = tracing.tracer()
# Built while Lambda initialises the function, not at its first request (and SnapStart's hooks).
STARTUP = wiring.prepare(wiring.event_publisher)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    failed = wiring.event_publisher().publish_changes(
        changes_from_stream_event(event),
        has_time=lambda: context.get_remaining_time_in_millis() > PUBLISH_TIME_RESERVE_MS,
    )
    # ReportBatchItemFailures: the stream is retried from the first record not published.
    return {"batchItemFailures": [{"itemIdentifier": sequence_number} for sequence_number in failed]}

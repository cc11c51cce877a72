"""The webhook queue: POSTs each event, signed, to MerchantWebhookUrl; a failed attempt is hidden
for its backoff and reported, so SQS offers it again then (and dead-letters it after the last)."""

# First: the garbage collector paused while the function initialises (see the module).
from payments.config import collector  # noqa: F401

# isort: split
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from payments.adapters.queues import webhooks_from_sqs_event
from payments.config import logs, tracing, wiring

logger = logs.function_logger()
metrics = Metrics()
tracer = tracing.tracer()
# Built while Lambda initialises the function, not at its first request (and SnapStart's hooks).
STARTUP = wiring.prepare(wiring.webhook_delivery, secrets_ahead=wiring.webhook_keys_ahead)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    failed = wiring.webhook_delivery().deliver_batch(webhooks_from_sqs_event(event))
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}

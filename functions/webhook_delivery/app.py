"""The webhook queue: POSTs each event, signed, to MerchantWebhookUrl; a failed attempt is hidden
for its backoff and reported, so SQS offers it again then (and dead-letters it after the last)."""

from aws_lambda_powertools import Logger, Metrics, Tracer

from payments.delivery import webhooks_from_sqs_event
from payments.event_runtime import webhook_delivery

logger = Logger()
metrics = Metrics()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    failed = webhook_delivery().deliver_batch(webhooks_from_sqs_event(event))
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}

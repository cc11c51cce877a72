"""POST /notifications: ETpay's payment notifications. No API auth; the verified JWT is the proof."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from etpay import token_from_body
from payments.errors import ValidationFailed
from payments.http import json_response, read_body, register_error_handlers
from payments.runtime import payments_service
from payments.settings import MAX_NOTIFICATION_BODY_BYTES

logger = Logger()
metrics = Metrics()
tracer = Tracer()
app = APIGatewayRestResolver()
register_error_handlers(app)

# The same body for every accepted delivery, first or repeated: ETpay only needs a 2xx.
RECEIVED = {"received": True}


@app.post("/notifications")
@tracer.capture_method
def receive_notification():
    event = app.current_event
    body = read_body(event, MAX_NOTIFICATION_BODY_BYTES)
    token = token_from_body(body, event.headers.get("content-type"))
    if token is None:
        raise ValidationFailed({"payment": "required: the notification JWT"}, "no notification in the body")
    payments_service().apply_notification(token)
    return json_response(200, RECEIVED)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)

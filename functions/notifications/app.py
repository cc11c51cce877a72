"""POST /notifications: ETpay's payment notifications. No API auth: the URL's notification key and
the verified JWT are the proof."""

from aws_lambda_powertools import Logger, Metrics, Tracer

from etpay import token_from_body
from payments.errors import ValidationFailed
from payments.http import Request, Router, json_response
from payments.runtime import payments_service
from payments.settings import MAX_NOTIFICATION_BODY_BYTES, NOTIFICATION_KEY_PARAMETER

logger = Logger()
metrics = Metrics()
tracer = Tracer()
router = Router()

# The same body for every accepted delivery, first or repeated: ETpay only needs a 2xx.
RECEIVED = {"received": True}


@router.route("POST", "/notifications")
@tracer.capture_method(capture_response=False, capture_error=False)
def receive_notification(request: Request):
    # Before the body is even looked at: without the key nothing else is worth an answer.
    payments_service().authenticate_notification(request.query_parameters.get(NOTIFICATION_KEY_PARAMETER))
    body = request.body(MAX_NOTIFICATION_BODY_BYTES)
    token = token_from_body(body, request.headers.get("content-type"))
    if token is None:
        raise ValidationFailed({"payment": "required: the notification JWT"}, "no notification in the body")
    payments_service().apply_notification(token)
    return json_response(200, RECEIVED)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    return router.resolve(event, context)

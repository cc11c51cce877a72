"""POST /notifications: ETpay's payment notifications. No API auth: the URL's notification key and
the verified JWT are the proof."""

# First: the garbage collector paused while the function initialises (see the module).
from payments.config import collector  # noqa: F401

# isort: split
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from etpay.notification import token_from_body
from payments.api.http import Request, Response, Router, json_response
from payments.api.validation import MAX_NOTIFICATION_BODY_BYTES
from payments.config import logs, tracing, wiring
from payments.domain.errors import ValidationFailed
from payments.domain.sessions import NOTIFICATION_KEY_PARAMETER

logger = logs.function_logger()
metrics = Metrics()
tracer = tracing.tracer()
router = Router()
# Built while Lambda initialises the function, not at its first request (and SnapStart's hooks).
STARTUP = wiring.prepare(wiring.receive_notification, secrets_ahead=wiring.notification_key_ahead)

# The same body for every accepted delivery, first or repeated: ETpay only needs a 2xx.
RECEIVED = {"received": True}


@router.route("POST", "/notifications")
@tracer.capture_method(capture_response=False, capture_error=False)
def receive_notification(request: Request) -> Response:
    notifications = wiring.receive_notification()
    # Before the body is even looked at: without the key nothing else is worth an answer.
    notifications.authenticate(request.query_parameters.get(NOTIFICATION_KEY_PARAMETER))
    body = request.body(MAX_NOTIFICATION_BODY_BYTES)
    token = token_from_body(body, request.headers.get("content-type"))
    if token is None:
        raise ValidationFailed({"payment": "required: the notification JWT"}, "no notification in the body")
    notifications.apply(token)
    return json_response(200, RECEIVED)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return router.resolve(event, context)

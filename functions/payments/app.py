"""POST /sessions, GET /orders/{merchant_order_id} and the review queue (GET /reviews,
POST /orders/{merchant_order_id}/review): called by the merchant's own backend and its operators."""

# First: the garbage collector paused while the function initialises (see the module).
from payments.config import collector  # noqa: F401

# isort: split
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from payments.api.http import Request, Response, Router, json_response, notification_url
from payments.api.validation import (
    MAX_REVIEW_BODY_BYTES,
    MAX_SESSION_BODY_BYTES,
    parse_json_object,
    parse_review_limit,
    parse_review_resolution,
    parse_session_start,
    require_order_id,
)
from payments.api.views import queued_review_view
from payments.config import logs, tracing, wiring
from payments.config.settings import get_settings
from payments.domain.reviews import decode_cursor, encode_cursor
from payments.domain.views import order_view, session_view

logger = logs.function_logger()
metrics = Metrics()
tracer = tracing.tracer()
router = Router()
# Built while Lambda initialises the function, not at its first request (and SnapStart's hooks).
STARTUP = wiring.prepare(wiring.open_session, wiring.reviews, secrets_ahead=wiring.payments_secrets_ahead)


@router.route("POST", "/sessions")
@tracer.capture_method(capture_response=False, capture_error=False)
def create_session(request: Request) -> Response:
    settings = get_settings()
    payload = parse_json_object(request.body(MAX_SESSION_BODY_BYTES))
    start = parse_session_start(payload, settings.max_order_amount, settings.market)
    logger.append_keys(merchant_order_id=start.merchant_order_id)
    result = wiring.open_session().start_session(
        start, notification_url(request, settings.notification_url), seconds_left=request.remaining_seconds
    )
    return json_response(201 if result.created else 200, session_view(result.order))


@router.route("GET", "/orders/{merchant_order_id}")
@tracer.capture_method(capture_response=False, capture_error=False)
def get_order(request: Request) -> Response:
    merchant_order_id = require_order_id(request.path_parameters.get("merchant_order_id"))
    logger.append_keys(merchant_order_id=merchant_order_id)
    return json_response(200, order_view(wiring.open_session().get_order(merchant_order_id)))


@router.route("GET", "/reviews")
@tracer.capture_method(capture_response=False, capture_error=False)
def list_reviews(request: Request) -> Response:
    limit = parse_review_limit(request.query_parameters.get("limit"))
    cursor = request.query_parameters.get("cursor")
    page = wiring.reviews().page(decode_cursor(cursor) if cursor is not None else {}, limit)
    body: dict[str, Any] = {"reviews": [queued_review_view(entry) for entry in page.entries]}
    if page.after is not None:
        body["next_cursor"] = encode_cursor(page.after)
    return json_response(200, body)


@router.route("POST", "/orders/{merchant_order_id}/review")
@tracer.capture_method(capture_response=False, capture_error=False)
def resolve_review(request: Request) -> Response:
    merchant_order_id = require_order_id(request.path_parameters.get("merchant_order_id"))
    logger.append_keys(merchant_order_id=merchant_order_id)
    resolution = parse_review_resolution(parse_json_object(request.body(MAX_REVIEW_BODY_BYTES)))
    order = wiring.reviews().resolve(
        merchant_order_id, resolution.resolution, resolution.note, resolved_by=request.caller
    )
    return json_response(200, order_view(order))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return router.resolve(event, context)

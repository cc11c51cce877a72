"""GET /events/{event_id}, GET /orders/{merchant_order_id}/events and POST /events/{event_id}/redeliver:
the merchant's backend reads what it was told, and how the webhooks went."""

# First: the garbage collector paused while the function initialises (see the module).
from payments.config import collector  # noqa: F401

# isort: split
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from payments.api.event_views import require_event_id, stored_event_view
from payments.api.http import Request, Response, Router, json_response
from payments.api.validation import require_order_id
from payments.config import logs, tracing, wiring

logger = logs.function_logger()
metrics = Metrics()
tracer = tracing.tracer()
router = Router()
# Built while Lambda initialises the function, not at its first request (and SnapStart's hooks).
STARTUP = wiring.prepare(wiring.event_queries)


@router.route("GET", "/events/{event_id}")
@tracer.capture_method
def get_event(request: Request) -> Response:
    event_id = require_event_id(request.path_parameters.get("event_id"))
    return json_response(200, stored_event_view(wiring.event_queries().get_event(event_id)))


@router.route("GET", "/orders/{merchant_order_id}/events")
@tracer.capture_method
def get_order_events(request: Request) -> Response:
    merchant_order_id = require_order_id(request.path_parameters.get("merchant_order_id"))
    logger.append_keys(merchant_order_id=merchant_order_id)
    events = wiring.event_queries().order_events(merchant_order_id)
    return json_response(
        200, {"merchant_order_id": merchant_order_id, "events": [stored_event_view(event) for event in events]}
    )


@router.route("POST", "/events/{event_id}/redeliver")
@tracer.capture_method
def redeliver_event(request: Request) -> Response:
    event_id = require_event_id(request.path_parameters.get("event_id"))
    # 202 whether this request queued a redelivery or joined one already pending.
    result = wiring.event_queries().redeliver(event_id, requested_by=request.caller)
    return json_response(202, stored_event_view(result.event))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return router.resolve(event, context)

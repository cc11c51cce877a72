"""GET /events/{event_id}, GET /orders/{merchant_order_id}/events and POST /events/{event_id}/redeliver:
the merchant's backend reads what it was told, and how the webhooks went."""

from aws_lambda_powertools import Logger, Metrics, Tracer

from payments.event_runtime import events_service
from payments.event_service import require_event_id
from payments.events import stored_event_view
from payments.http import Request, Router, json_response
from payments.validation import require_order_id

logger = Logger()
metrics = Metrics()
tracer = Tracer()
router = Router()


@router.route("GET", "/events/{event_id}")
@tracer.capture_method
def get_event(request: Request):
    event_id = require_event_id(request.path_parameters.get("event_id"))
    return json_response(200, stored_event_view(events_service().get_event(event_id)))


@router.route("GET", "/orders/{merchant_order_id}/events")
@tracer.capture_method
def get_order_events(request: Request):
    merchant_order_id = require_order_id(request.path_parameters.get("merchant_order_id"))
    logger.append_keys(merchant_order_id=merchant_order_id)
    events = events_service().order_events(merchant_order_id)
    return json_response(
        200, {"merchant_order_id": merchant_order_id, "events": [stored_event_view(event) for event in events]}
    )


@router.route("POST", "/events/{event_id}/redeliver")
@tracer.capture_method
def redeliver_event(request: Request):
    event_id = require_event_id(request.path_parameters.get("event_id"))
    return json_response(202, stored_event_view(events_service().redeliver(event_id)))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    return router.resolve(event, context)

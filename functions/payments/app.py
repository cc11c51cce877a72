"""POST /sessions and GET /orders/{merchant_order_id}: called by the merchant's own backend."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from payments.http import (
    json_response,
    notification_url,
    order_view,
    read_body,
    register_error_handlers,
    session_view,
)
from payments.requests import parse_json_object, parse_session_start, require_order_id
from payments.runtime import payments_service
from payments.settings import MAX_SESSION_BODY_BYTES, get_settings

logger = Logger()
metrics = Metrics()
tracer = Tracer()
app = APIGatewayRestResolver()
register_error_handlers(app)


@app.post("/sessions")
@tracer.capture_method
def create_session():
    settings = get_settings()
    payload = parse_json_object(read_body(app.current_event, MAX_SESSION_BODY_BYTES))
    request = parse_session_start(payload, settings.max_order_amount)
    logger.append_keys(merchant_order_id=request.merchant_order_id)
    result = payments_service().start_session(request, notification_url(app.current_event, settings))
    return json_response(201 if result.created else 200, session_view(result.order))


@app.get("/orders/<merchant_order_id>")
@tracer.capture_method
def get_order(merchant_order_id: str):
    require_order_id(merchant_order_id)
    logger.append_keys(merchant_order_id=merchant_order_id)
    return json_response(200, order_view(payments_service().get_order(merchant_order_id)))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)

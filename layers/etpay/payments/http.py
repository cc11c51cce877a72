"""The HTTP edge shared by both functions: request bodies in, JSON responses out, and the one
place where domain errors become HTTP status codes."""

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from payments.errors import PaymentsError, StorageUnavailable, ValidationFailed
from payments.model import Order
from payments.settings import RETRY_AFTER_SECONDS, Settings

logger = Logger(child=True)

STATUS_BY_CODE = {
    "validation_error": 400,
    "invalid_notification": 401,
    "not_found": 404,
    "order_amount_mismatch": 409,
    "order_already_paid": 409,
    "request_in_progress": 409,
    "internal_error": 500,
    "etpay_error": 502,
    "configuration_unavailable": 503,
    "etpay_timeout": 504,
}
# Answers a caller should simply repeat after a moment.
RETRYABLE_CODES = frozenset({"request_in_progress", "configuration_unavailable", "etpay_timeout", "etpay_error"})
JSON_HEADERS = {"Cache-Control": "no-store"}


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body, separators=(",", ":")),
        headers={**JSON_HEADERS, **(headers or {})},
    )


def error_response(status: int, code: str, message: str, **extra: Any) -> Response:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 or code in RETRYABLE_CODES else None
    return json_response(status, {"error": code, "message": message, **extra}, headers)


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(ValidationFailed)
    def _validation(error: ValidationFailed) -> Response:
        return error_response(400, error.code, error.message, fields=error.fields)

    @app.exception_handler(StorageUnavailable)
    def _storage(error: StorageUnavailable) -> Response:
        return error_response(503, error.code, error.message)

    @app.exception_handler(PaymentsError)
    def _domain(error: PaymentsError) -> Response:
        return error_response(STATUS_BY_CODE.get(error.code, 500), error.code, error.message)

    @app.not_found
    def _not_found(_: Exception) -> Response:
        return error_response(404, "not_found", "no such route")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "internal error")


def read_body(event: APIGatewayProxyEvent, max_bytes: int) -> str:
    """The request body as text, base64 bodies included; refused if too large or not UTF-8."""
    raw = event.body or ""
    if event.is_base64_encoded:
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationFailed({"body": "invalid base64 encoding"}) from None
    else:
        data = raw.encode("utf-8", errors="surrogatepass")
    if len(data) > max_bytes:
        raise ValidationFailed({"body": f"must be at most {max_bytes} bytes"}, "the request body is too large")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed({"body": "must be UTF-8 text"}) from None


def notification_url(event: APIGatewayProxyEvent, settings: Settings) -> str | None:
    """The payment_webhook_url for ETpay: the configured one, else this API's own /notifications."""
    if settings.notification_url:
        return settings.notification_url
    context = event.request_context
    domain = context.domain_name
    if not domain:
        return None
    host = domain.split(":")[0]
    scheme = "http" if host in ("localhost", "127.0.0.1") else "https"
    # On execute-api hosts the stage is part of the path; a custom domain maps it away.
    stage_path = f"/{context.stage}" if domain.endswith(".amazonaws.com") and context.stage else ""
    return f"{scheme}://{domain}{stage_path}/notifications"


def session_view(order: Order) -> dict[str, Any]:
    return {
        "merchant_order_id": order.merchant_order_id,
        "order_amount": order.order_amount,
        "currency": order.currency,
        "status": order.status.value,
        "session_token": order.session_token,
        "payment_url": order.payment_url,
    }


def order_view(order: Order) -> dict[str, Any]:
    view = session_view(order)
    if order.payment_token is not None:
        view["payment_token"] = order.payment_token
    view["created_at"] = order.created_at
    view["updated_at"] = order.updated_at
    view["review"] = {
        "required": bool(order.review_reasons),
        "reasons": sorted(reason.value for reason in order.review_reasons),
    }
    return view

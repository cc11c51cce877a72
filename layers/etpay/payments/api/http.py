"""The HTTP edge shared by the API's functions: API Gateway REST proxy events in, proxy responses
out, and the one place where domain errors become HTTP status codes.

A small router of our own rather than Powertools' event handler: routing on API Gateway's own
`resource` is a dictionary lookup, and the event handler package costs ~80 ms of every cold start
(it imports every resolver it has, AppSync's asyncio included).
"""

import base64
import binascii
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger

from payments.domain.errors import PaymentsError, RedeliveryTooSoon, ValidationFailed

logger = Logger(child=True)

# What a client is told to wait before retrying a transient failure.
RETRY_AFTER_SECONDS = 1

STATUS_BY_CODE = {
    "validation_error": 400,
    "invalid_notification": 401,
    "not_found": 404,
    "order_amount_mismatch": 409,
    "order_currency_mismatch": 409,
    "order_already_paid": 409,
    "request_in_progress": 409,
    "session_limit_reached": 409,
    "no_open_review": 409,
    "webhooks_disabled": 409,
    "redelivery_too_soon": 429,
    "internal_error": 500,
    "etpay_error": 502,
    "configuration_unavailable": 503,
    "storage_unavailable": 503,
    "order_busy": 503,
    "etpay_timeout": 504,
}
# Answers a caller should simply repeat after a moment.
RETRYABLE_CODES = frozenset(
    {
        "request_in_progress",
        "configuration_unavailable",
        "storage_unavailable",
        "order_busy",
        "etpay_timeout",
        "etpay_error",
        "redelivery_too_soon",
    }
)
JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}
# json.dumps builds an encoder on every call made with options; one, made once, serves them all.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


@dataclass(frozen=True)
class Response:
    """An HTTP response of ours."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def to_proxy(self) -> dict[str, Any]:
        """API Gateway's Lambda proxy response."""
        return {
            "statusCode": self.status,
            "headers": {**JSON_HEADERS, **self.headers},
            "body": _COMPACT_JSON.encode(self.body),
            "isBase64Encoded": False,
        }


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(status, body, headers or {})


def error_response(
    status: int, code: str, message: str, retry_after: int = RETRY_AFTER_SECONDS, **extra: Any
) -> Response:
    headers = {"Retry-After": str(retry_after)} if status == 503 or code in RETRYABLE_CODES else None
    return json_response(status, {"error": code, "message": message, **extra}, headers)


def error_for(error: Exception) -> Response:
    """Every failure becomes an HTTP answer here, and only here."""
    if isinstance(error, ValidationFailed):
        return error_response(400, error.code, error.message, fields=error.fields)
    if isinstance(error, RedeliveryTooSoon):
        return error_response(429, error.code, error.message, retry_after=error.retry_after_seconds)
    if isinstance(error, PaymentsError):
        return error_response(STATUS_BY_CODE[error.code], error.code, error.message)
    logger.exception("unhandled error")
    return error_response(500, "internal_error", "internal error")


class Request:
    """A read-only view of an API Gateway REST (v1) proxy event."""

    def __init__(self, event: Mapping[str, Any], context: Any = None):
        self._event = event
        self._context = context
        self.method: str = event.get("httpMethod") or ""
        self.resource: str = event.get("resource") or ""
        self.path_parameters: dict[str, str] = event.get("pathParameters") or {}
        # Query strings can carry keys (the notification key): never logged.
        self.query_parameters: dict[str, str] = event.get("queryStringParameters") or {}
        # HTTP header names are case-insensitive; API Gateway passes them as the client sent them.
        self.headers: dict[str, str] = {
            name.lower(): value for name, value in (event.get("headers") or {}).items() if isinstance(value, str)
        }
        context = event.get("requestContext") or {}
        self.domain_name: str | None = context.get("domainName")
        self.stage: str | None = context.get("stage")
        self.request_id: str | None = context.get("requestId")
        identity = context.get("identity") or {}
        self.source_ip: str | None = identity.get("sourceIp")
        self.caller: str = _caller(identity)

    def remaining_seconds(self) -> float:
        """What is left of this invocation (unbounded outside Lambda, or for a context without
        Lambda's deadline, as some test harnesses pass)."""
        remaining_ms = getattr(self._context, "get_remaining_time_in_millis", None)
        return math.inf if remaining_ms is None else remaining_ms() / 1000

    def body(self, max_bytes: int) -> str:
        """The body as text, base64 bodies included; refused if too large or not UTF-8."""
        raw = self._event.get("body") or ""
        if self._event.get("isBase64Encoded"):
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


# Who called, when the API has no authorization (only the local stack serves it so).
UNAUTHENTICATED = "unauthenticated"
API_KEY_CALLER_PREFIX = "api-key:"


def _caller(identity: Mapping[str, Any]) -> str:
    """Who made the request, as API Gateway's authorization established it: the IAM principal that
    signed it (ApiAuth=AWS_IAM), or the id of the API key it presented (ApiAuth=API_KEY; the id,
    never the key itself, which `identity.apiKey` holds)."""
    for name in ("userArn", "caller"):
        value = identity.get(name)
        if isinstance(value, str) and value:
            return value
    key_id = identity.get("apiKeyId")
    if isinstance(key_id, str) and key_id:
        return API_KEY_CALLER_PREFIX + key_id
    return UNAUTHENTICATED


Route = Callable[[Request], Response]


class Router:
    """Dispatches on API Gateway's `httpMethod` and `resource` (the template's path, e.g.
    `/orders/{merchant_order_id}`), exactly as API Gateway chose the function."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], Route] = {}

    def route(self, method: str, resource: str) -> Callable[[Route], Route]:
        def register(handler: Route) -> Route:
            self._routes[(method.upper(), resource)] = handler
            return handler

        return register

    def resolve(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        try:
            request = Request(event, context)
            # Every log line of the request can be matched with API Gateway's access log line.
            logger.append_keys(api_request_id=request.request_id, source_ip=request.source_ip)
            handler = self._routes.get((request.method, request.resource))
            if handler is None:
                response = error_response(404, "not_found", "no such route")
            else:
                response = handler(request)
        except Exception as error:  # noqa: BLE001 - the one place every failure becomes an answer
            response = error_for(error)
        return response.to_proxy()


def notification_url(request: Request, configured: str | None) -> str | None:
    """The payment_webhook_url for ETpay: the configured one, else this API's own /notifications."""
    if configured:
        return configured
    domain = request.domain_name
    if not domain:
        return None
    host = domain.split(":")[0]
    scheme = "http" if host in ("localhost", "127.0.0.1") else "https"
    # On execute-api hosts the stage is part of the path; a custom domain maps it away.
    stage_path = f"/{request.stage}" if domain.endswith(".amazonaws.com") and request.stage else ""
    return f"{scheme}://{domain}{stage_path}/notifications"

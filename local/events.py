"""API Gateway REST (v1) proxy events, built the way API Gateway builds them for Lambda.

Used by the tests, by `scripts/make_events.py` (the files in events/) and by the local API."""

import base64
import uuid
from typing import Any

DEFAULT_DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"
DEFAULT_STAGE = "sandbox"


def api_gateway_event(
    method: str,
    resource: str,
    path: str,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    base64_body: bool = False,
    domain: str = DEFAULT_DOMAIN,
    stage: str = DEFAULT_STAGE,
    source_ip: str = "127.0.0.1",
    request_id: str | None = None,
) -> dict[str, Any]:
    encoded = isinstance(body, bytes) or base64_body
    if encoded:
        raw = body.encode() if isinstance(body, str) else (body or b"")
        body = base64.b64encode(raw).decode()
    headers = headers or {}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "domainName": domain,
            "requestId": request_id or str(uuid.uuid4()),
            "accountId": "123456789012",
            "apiId": domain.split(".")[0],
            "identity": {"sourceIp": source_ip},
        },
        "body": body,
        "isBase64Encoded": encoded,
    }

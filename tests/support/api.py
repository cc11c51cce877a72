"""Drives the functions' handlers the way API Gateway and Lambda would: proxy events in, replies out."""

import importlib.util
import itertools
import json
import random
import uuid
from dataclasses import dataclass
from typing import Any

from local.emulator.api import api_gateway_event
from local.emulator.template import ROOT
from tests.support.aws import API_DOMAIN, API_STAGE, NOTIFICATION_KEY


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def error(self) -> str | None:
        return self.body.get("error") if isinstance(self.body, dict) else None


def load_handler(function_dir: str):
    """Import functions/<dir>/app.py under a unique name (both functions call it app.py)."""
    path = ROOT / "functions" / function_dir / "app.py"
    spec = importlib.util.spec_from_file_location(f"{function_dir}_app", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class LambdaContext:
    function_name = "test-function"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-function"

    def __init__(self):
        self.aws_request_id = str(uuid.uuid4())

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 20_000


def api_event(method, resource, path, body=None, headers=None, path_parameters=None, base64_body=False, query=None):
    return api_gateway_event(
        method,
        resource,
        path,
        body,
        headers,
        path_parameters,
        query=query,
        base64_body=base64_body,
        domain=API_DOMAIN,
        stage=API_STAGE,
    )


def _reply(response: dict[str, Any]) -> Reply:
    text = response.get("body") or ""
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = text
    headers = dict(response.get("headers") or {})
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers.setdefault(name, values[-1])
    return Reply(response["statusCode"], body, headers)


class Api:
    """Calls the two handlers the way API Gateway would."""

    def __init__(self):
        self.payments = load_handler("payments")
        self.notifications = load_handler("notifications")

    def invoke(self, module, event: dict[str, Any]) -> Reply:
        return _reply(module.lambda_handler(event, LambdaContext()))

    def create_session(self, payload: Any = None, raw: str | bytes | None = None, **kwargs) -> Reply:
        body = raw if raw is not None else json.dumps(payload)
        event = api_event("POST", "/sessions", "/sessions", body, {"Content-Type": "application/json"}, **kwargs)
        return self.invoke(self.payments, event)

    def get_order(self, merchant_order_id: str) -> Reply:
        event = api_event(
            "GET",
            "/orders/{merchant_order_id}",
            f"/orders/{merchant_order_id}",
            path_parameters={"merchant_order_id": merchant_order_id},
        )
        return self.invoke(self.payments, event)

    def list_reviews(self, **query: str) -> Reply:
        """GET /reviews, with `limit` and `cursor` as given."""
        return self.invoke(self.payments, api_event("GET", "/reviews", "/reviews", query=query or None))

    def resolve_review(
        self, merchant_order_id: str, payload: Any = None, raw: str | None = None, identity: dict | None = None
    ) -> Reply:
        """POST /orders/{id}/review; `identity` is what API Gateway's authorization put in the
        request context (e.g. {"userArn": ...} with AWS_IAM, {"apiKeyId": ...} with API keys)."""
        event = api_event(
            "POST",
            "/orders/{merchant_order_id}/review",
            f"/orders/{merchant_order_id}/review",
            raw if raw is not None else json.dumps(payload),
            {"Content-Type": "application/json"},
            path_parameters={"merchant_order_id": merchant_order_id},
        )
        event["requestContext"]["identity"].update(identity or {})
        return self.invoke(self.payments, event)

    def notify(
        self, body: str | bytes, content_type: str = "application/json", key: str | None = NOTIFICATION_KEY, **kwargs
    ) -> Reply:
        """POST /notifications as ETpay makes it, to the URL with the notification key (`key=None`:
        without one)."""
        query = {"key": key} if key is not None else None
        event = api_event(
            "POST", "/notifications", "/notifications", body, {"Content-Type": content_type}, query=query, **kwargs
        )
        return self.invoke(self.notifications, event)

    def notify_jwt(self, token: str) -> Reply:
        return self.notify(json.dumps({"payment": token}))


# Order ids are unique in a run (the counter) and otherwise drawn from `random`, which
# pytest-randomly seeds before each test: a failing test's ids come back with its seed.
_order_numbers = itertools.count(1)


def new_order_id() -> str:
    return f"OC-{next(_order_numbers):04d}{random.getrandbits(32):08x}"


def session_payload(merchant_order_id: str, order_amount: int = 50_000, **extra) -> dict[str, Any]:
    return {"merchant_order_id": merchant_order_id, "order_amount": order_amount, **extra}


def open_session(api: Api, sandbox: Any, merchant_order_id: str, amount: int = 50_000) -> str:
    """POST /sessions for a new order and return its session_token."""
    reply = api.create_session(session_payload(merchant_order_id, amount))
    assert reply.status in (200, 201), reply.body
    return reply.body["session_token"]

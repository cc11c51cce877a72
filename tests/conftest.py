"""Shared fixtures: AWS in-process (moto) with tables built from template.yaml, ETpay as a real
HTTP server on 127.0.0.1 (the local sandbox), and a small client that drives the handlers with
API Gateway REST proxy events."""

import importlib.util
import json
import logging
import os
import uuid
from dataclasses import dataclass
from typing import Any

# Lambda sets these before any handler or layer module is imported, and Powertools reads them at
# import (child loggers attach to the parent by service name): set them before the imports below.
os.environ.update(
    POWERTOOLS_SERVICE_NAME="payments-test",
    POWERTOOLS_METRICS_NAMESPACE="EtpayPaymentsTest",
    POWERTOOLS_TRACE_DISABLED="true",
)

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from moto import mock_aws

from local.events import api_gateway_event
from local.template import ROOT, table_definitions
from payments import runtime

TABLE_NAME = "etpay-orders-test"
EVENTS_TABLE_NAME = "etpay-events-test"
# The physical name of each table of template.yaml in these tests.
TEST_TABLE_NAMES = {"OrdersTable": TABLE_NAME, "EventsTable": EVENTS_TABLE_NAME}
SECRET_ID = "etpay/credentials-test"
MERCHANT_CODE = "test-merchant"
MERCHANT_API_TOKEN = "test-merchant-api-token-0123456789"  # noqa: S105 - a test credential
REGION = "us-east-1"
API_DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"
API_STAGE = "sandbox"
NOTIFICATION_URL = f"https://{API_DOMAIN}/{API_STAGE}/notifications"


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch):
    """Fake AWS credentials and the functions' settings, and no state carried between tests."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "NOTIFICATION_URL", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("TABLE_NAME", TABLE_NAME)
    monkeypatch.setenv("EVENTS_TABLE_NAME", EVENTS_TABLE_NAME)
    monkeypatch.setenv("ETPAY_SECRET_ID", SECRET_ID)
    monkeypatch.setenv("STAGE", "sandbox")
    monkeypatch.setenv("CURRENCY", "CLP")
    monkeypatch.setenv("MAX_ORDER_AMOUNT", "7000000")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "payments-test")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "EtpayPaymentsTest")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    runtime.reset()
    yield
    runtime.reset()


@pytest.fixture(scope="session")
def sandbox():
    """ETpay as a real HTTP server on 127.0.0.1, shared by the whole run."""
    from local.etpay_sandbox import EtpaySandbox

    with EtpaySandbox(
        merchant_code=MERCHANT_CODE, merchant_api_token=MERCHANT_API_TOKEN, host="127.0.0.1", port=0
    ) as running:
        yield running


@pytest.fixture
def aws():
    """moto in-process, with every table of template.yaml (its own key schema) created."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for logical_id, definition in table_definitions().items():
            dynamodb.create_table(TableName=TEST_TABLE_NAMES[logical_id], **definition)
        yield


@pytest.fixture
def stack(aws, sandbox):
    """The deployed stack's AWS side: the table, and the secret holding the sandbox credentials."""
    secrets = boto3.client("secretsmanager", region_name=REGION)
    secrets.create_secret(Name=SECRET_ID, SecretString=json.dumps(sandbox.credentials()))
    sandbox.release_hangs()
    yield sandbox
    sandbox.release_hangs()


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


def api_event(method, resource, path, body=None, headers=None, path_parameters=None, base64_body=False):
    return api_gateway_event(
        method,
        resource,
        path,
        body,
        headers,
        path_parameters,
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

    def notify(self, body: str | bytes, content_type: str = "application/json", **kwargs) -> Reply:
        event = api_event("POST", "/notifications", "/notifications", body, {"Content-Type": content_type}, **kwargs)
        return self.invoke(self.notifications, event)

    def notify_jwt(self, token: str) -> Reply:
        return self.notify(json.dumps({"payment": token}))


@pytest.fixture(scope="session")
def api() -> Api:
    return Api()


def new_order_id() -> str:
    return f"OC-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def order_id() -> str:
    return new_order_id()


def session_payload(merchant_order_id: str, order_amount: int = 50_000, **extra) -> dict[str, Any]:
    return {"merchant_order_id": merchant_order_id, "order_amount": order_amount, **extra}


def stored_items() -> list[dict[str, Any]]:
    """Every item in the table, to assert that rejected input changed nothing."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    return dynamodb.scan(TableName=TABLE_NAME)["Items"]


def plain_item(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item (`{"S": ...}` values) as plain Python values."""
    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in item.items()}


def stored_order(merchant_order_id: str) -> dict[str, Any]:
    """The order's item as stored, sessions included, as plain Python values."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    return plain_item(dynamodb.get_item(TableName=TABLE_NAME, Key={"pk": {"S": f"ORDER#{merchant_order_id}"}})["Item"])


class AwsFaults:
    """Makes the next AWS calls of an operation fail as AWS would (throttling, 5xx, outage),
    through botocore's own event hooks on the default session every client is built from."""

    def __init__(self):
        self._pending: dict[tuple[str, str], list[str]] = {}
        self._always: dict[tuple[str, str], str] = {}
        self.calls: list[tuple[str, str]] = []
        boto3.setup_default_session()
        boto3.DEFAULT_SESSION.events.register("before-call", self._before_call)

    def fail_next(self, service: str, operation: str, code: str, times: int = 1):
        self._pending.setdefault((service, operation), []).extend([code] * times)

    def fail_always(self, service: str, operation: str, code: str):
        self._always[(service, operation)] = code

    def heal(self):
        self._pending.clear()
        self._always.clear()

    def _before_call(self, model, **_):
        key = (model.service_model.service_name, model.name)
        self.calls.append(key)
        queued = self._pending.get(key)
        code = queued.pop(0) if queued else self._always.get(key)
        if code is None:
            return None
        status = 500 if code in ("InternalServerError", "InternalFailure", "ServiceUnavailable") else 400

        class _Http:
            status_code = status
            headers: dict = {}

        return _Http(), {"Error": {"Code": code, "Message": "injected fault"}, "ResponseMetadata": {}}


@pytest.fixture
def aws_faults(aws):
    faults = AwsFaults()
    runtime.reset()  # clients must be built from the hooked session
    yield faults
    boto3.DEFAULT_SESSION = None


def emitted_metrics(text: str) -> list[str]:
    """Names of the CloudWatch EMF metrics Powertools printed."""
    names = []
    for line in text.splitlines():
        if '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            names.extend(metric["Name"] for metric in directive["Metrics"])
    return names


def errors_logged(caplog) -> list[str]:
    """Messages logged at ERROR or above during the test."""
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


def open_session(api, sandbox, merchant_order_id: str, amount: int = 50_000) -> str:
    """POST /sessions for a new order and return its session_token."""
    reply = api.create_session(session_payload(merchant_order_id, amount))
    assert reply.status in (200, 201), reply.body
    return reply.body["session_token"]

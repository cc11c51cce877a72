"""Shared fixtures: AWS in-process (moto) with tables built from template.yaml, ETpay as a real
HTTP server on 127.0.0.1 (the local sandbox), and a small client that drives the handlers with
API Gateway REST proxy events."""

import functools
import importlib.util
import json
import logging
import os
import uuid
from collections.abc import Callable
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
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.retries.standard import ExponentialBackoff
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID as MOTO_ACCOUNT_ID
from moto.core.botocore_stubber import MockRawResponse
from moto.core.models import botocore_stubber as moto_stubber
from moto.events.models import events_backends
from moto.sqs.models import sqs_backends

from local.events import api_gateway_event
from local.template import ROOT, table_definitions
from payments.config import wiring

TABLE_NAME = "etpay-orders-test"
EVENTS_TABLE_NAME = "etpay-events-test"
# The physical name of each table of template.yaml in these tests.
TEST_TABLE_NAMES = {"OrdersTable": TABLE_NAME, "EventsTable": EVENTS_TABLE_NAME}
SECRET_ID = "etpay/credentials-test"
NOTIFICATION_KEY_SECRET_ID = "etpay/notification-key-test"
# What the stack's generated notification key secret holds in these tests; ETpay's notification
# URL carries it as ?key=.
NOTIFICATION_KEY = "TestNotificationKey0123456789abcdefghijklmnopqrstu"
MERCHANT_CODE = "test-merchant"
MERCHANT_API_TOKEN = "test-merchant-api-token-0123456789"
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
    monkeypatch.setenv("NOTIFICATION_KEY_SECRET_ID", NOTIFICATION_KEY_SECRET_ID)
    monkeypatch.setenv("STAGE", "sandbox")
    monkeypatch.setenv("CURRENCY", "CLP")
    monkeypatch.setenv("MAX_ORDER_AMOUNT", "7000000")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "payments-test")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "EtpayPaymentsTest")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    wiring.reset()
    yield
    wiring.reset()


@pytest.fixture(scope="session")
def sandbox():
    """ETpay as a real HTTP server on 127.0.0.1, shared by the whole run."""
    from local.etpay_sandbox import EtpaySandbox

    with EtpaySandbox(
        merchant_code=MERCHANT_CODE, merchant_api_token=MERCHANT_API_TOKEN, host="127.0.0.1", port=0
    ) as running:
        yield running


@pytest.fixture(scope="session")
def mx_sandbox():
    """ETpay Mexico as a real HTTP server on 127.0.0.1: a merchant whose currency is MXN."""
    from local.etpay_sandbox import EtpaySandbox

    with EtpaySandbox(
        merchant_code="mx_" + MERCHANT_CODE, merchant_api_token=MERCHANT_API_TOKEN, port=0, currency="MXN"
    ) as running:
        yield running


class AwsFaults:
    """Makes the next attempts of an AWS operation fail as AWS would: throttling, a 5xx, a refused
    condition. The fault is answered in botocore's `before-send`, as the HTTP response the service
    would give: botocore parses it and its retry handler judges it exactly as a real one, so the
    client's retry settings (standard mode, max_attempts) are what a test exercises. The injector
    takes the place of moto's own before-send handler and calls it for every attempt it does not
    fault, so a faulted attempt never reaches the emulator, as a throttled request never reaches
    DynamoDB's storage.

    Operations are named by botocore's service id and operation name, e.g. ("dynamodb",
    "PutItem"), ("secrets-manager", "GetSecretValue")."""

    def __init__(self):
        self._pending: dict[tuple[str, str], list[str]] = {}
        self._always: dict[tuple[str, str], str] = {}
        self._lost_answers: dict[tuple[str, str], int] = {}
        self._before: dict[tuple[str, str], list[Callable[[], None]]] = {}
        # Every attempt sent, faulted or not: a retried call appears once per attempt.
        self.attempts: list[tuple[str, str]] = []

    def install(self, events) -> None:
        events.unregister("before-send", moto_stubber)
        events.register("before-send", self._before_send)

    def fail_next(self, service: str, operation: str, code: str, times: int = 1):
        """The next `times` attempts of the operation fail with `code`."""
        self._pending.setdefault((service, operation), []).extend([code] * times)

    def fail_always(self, service: str, operation: str, code: str):
        self._always[(service, operation)] = code

    def lose_next_answer(self, service: str, operation: str):
        """The next attempt reaches the emulator and takes effect, but its answer is lost: the
        client sees a 500 and retries a request that already succeeded."""
        self._lost_answers[(service, operation)] = self._lost_answers.get((service, operation), 0) + 1

    def before_next(self, service: str, operation: str, action: Callable[[], None]):
        """Run `action` (another invocation's write, say) just before the next attempt of the
        operation reaches the emulator: a race, lost deterministically."""
        self._before.setdefault((service, operation), []).append(action)

    def heal(self):
        self._pending.clear()
        self._always.clear()
        self._lost_answers.clear()
        self._before.clear()
        self.attempts.clear()

    def count(self, service: str, operation: str) -> int:
        return self.attempts.count((service, operation))

    def _before_send(self, request, event_name: str, **kwargs):
        _, service, operation = event_name.split(".")
        key = (service, operation)
        self.attempts.append(key)
        queued = self._pending.get(key)
        code = queued.pop(0) if queued else self._always.get(key)
        if code in CONNECTION_ERRORS:
            raise CONNECTION_ERRORS[code](endpoint_url=request.url)
        if code is not None:
            return _error_response(request, code)
        actions = self._before.get(key)
        if actions:
            actions.pop(0)()
        answer = moto_stubber(event_name, request, **kwargs)
        if self._lost_answers.get(key):
            self._lost_answers[key] -= 1
            return _error_response(request, "InternalServerError")
        return answer


def _error_response(request, code: str) -> AWSResponse:
    """AWS's JSON-protocol error: the code in `__type`, a 5xx for a server error, else a 400."""
    status = 500 if code in SERVER_ERROR_CODES else 400
    body = json.dumps({"__type": code, "message": "injected fault"}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": str(uuid.uuid4())}
    return AWSResponse(request.url, status, headers, MockRawResponse(body))


# AWS answers these with a 5xx; every other error code with a 400.
SERVER_ERROR_CODES = frozenset({"InternalServerError", "InternalFailure", "ServiceUnavailable", "InternalServiceError"})
# No answer at all: botocore raises these itself (and retries them).
CONNECTION_ERRORS = {"EndpointConnectionError": EndpointConnectionError, "ReadTimeoutError": ReadTimeoutError}


class AwsEmulator:
    """moto in-process, started once for the whole run: starting it and building boto3's default
    session (every client then loads its service model again) cost a test more than its own calls.
    Each test gets it empty instead: the template's tables recreated, no secret, no fault queued.
    Its boto3 session, with the fault injector in front of moto, is boto3's default session while
    a test uses AWS, even if a test before it put another one there."""

    def __init__(self):
        self.faults = AwsFaults()
        self.session = boto3.Session(region_name=REGION)
        self.faults.install(self.session.events)
        self._dynamodb = self.session.client("dynamodb")
        self._secrets = self.session.client("secretsmanager")

    def reset(self) -> None:
        boto3.DEFAULT_SESSION = self.session
        self.faults.heal()
        # Every table, also those a test made for itself: nothing of one test is seen by the next.
        for name in self._dynamodb.list_tables()["TableNames"]:
            self._dynamodb.delete_table(TableName=name)
        for logical_id, definition in table_definitions().items():
            self._dynamodb.create_table(TableName=TEST_TABLE_NAMES[logical_id], **definition)
        for page in self._secrets.get_paginator("list_secrets").paginate(IncludePlannedDeletion=True):
            for secret in page["SecretList"]:
                self._secrets.delete_secret(SecretId=secret["ARN"], ForceDeleteWithoutRecovery=True)
        # Queues, buses and rules have no cheap delete-everything call: moto's own reset of those
        # two services (the default event bus comes back, as in a fresh account).
        for backends in (sqs_backends, events_backends):
            backends[MOTO_ACCOUNT_ID][REGION].reset()


@pytest.fixture(scope="session")
def aws_emulator():
    with mock_aws():
        yield AwsEmulator()


@pytest.fixture
def aws(aws_emulator):
    """moto in-process, empty but for every table of template.yaml (its own key schema)."""
    aws_emulator.reset()
    yield


@pytest.fixture
def stack(aws, sandbox):
    """The deployed stack's AWS side: the table, the secret holding the sandbox credentials and the
    notification key."""
    secrets = boto3.client("secretsmanager", region_name=REGION)
    secrets.create_secret(Name=SECRET_ID, SecretString=json.dumps(sandbox.credentials()))
    secrets.create_secret(Name=NOTIFICATION_KEY_SECRET_ID, SecretString=NOTIFICATION_KEY)
    sandbox.release_hangs()
    yield sandbox
    sandbox.release_hangs()


@pytest.fixture
def mx_stack(aws, mx_sandbox, monkeypatch):
    """The stack deployed with Currency=MXN, its secret holding ETpay Mexico's (sandbox) merchant."""
    monkeypatch.setenv("CURRENCY", "MXN")
    monkeypatch.delenv("MAX_ORDER_AMOUNT")  # the template's default, 0: the currency's own limit
    wiring.reset()
    secrets = boto3.client("secretsmanager", region_name=REGION)
    secrets.create_secret(Name=SECRET_ID, SecretString=json.dumps(mx_sandbox.credentials()))
    secrets.create_secret(Name=NOTIFICATION_KEY_SECRET_ID, SecretString=NOTIFICATION_KEY)
    yield mx_sandbox


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


def aws_client(service: str):
    """A client of boto3's default session (the emulator's while a test uses AWS), made once per
    session: building one costs more than most calls made with it."""
    return _session_client(boto3.DEFAULT_SESSION, service)


@functools.cache
def _session_client(session, service: str):
    return session.client(service, region_name=REGION)


def stored_items() -> list[dict[str, Any]]:
    """Every item in the table, to assert that rejected input changed nothing."""
    return aws_client("dynamodb").scan(TableName=TABLE_NAME)["Items"]


def plain_item(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item (`{"S": ...}` values) as plain Python values."""
    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in item.items()}


def stored_order(merchant_order_id: str) -> dict[str, Any]:
    """The order's item as stored, sessions included, as plain Python values."""
    item = aws_client("dynamodb").get_item(TableName=TABLE_NAME, Key={"pk": {"S": f"ORDER#{merchant_order_id}"}})
    return plain_item(item["Item"])


@pytest.fixture
def aws_faults(aws_emulator, aws, monkeypatch):
    """The fault injector, nothing queued. botocore's retry handler decides on an injected fault as
    on a real one; only its wait between attempts (up to seconds for a throttle) is skipped."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    return aws_emulator.faults


class SessionHooks:
    """botocore handlers on the emulator's boto3 session (an answer in place of AWS's, a parameter
    changed), for the functions' clients: they are rebuilt when a handler is registered, since a
    client copies its session's handlers when built. Removed after the test."""

    def __init__(self):
        self._events = boto3.DEFAULT_SESSION.events
        self._registered: list[tuple[str, Callable[..., Any]]] = []

    def register(self, name: str, handler: Callable[..., Any]) -> None:
        self._events.register(name, handler)
        self._registered.append((name, handler))
        wiring.reset()
        wiring.reset()

    def remove(self) -> None:
        for name, handler in self._registered:
            self._events.unregister(name, handler)


@pytest.fixture
def session_hooks(aws):
    hooks = SessionHooks()
    yield hooks
    hooks.remove()


class Http200:
    """The HTTP response of an answer a `before-call` handler gives in place of AWS's."""

    status_code = 200
    headers: dict[str, str] = {}


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

"""AWS in-process for the tests: moto started once per run and emptied for each test (the
template's tables recreated from template.yaml's own definitions), faults injected where botocore's
retry handler sees them, and small readers of what is stored."""

import copy
import functools
import json
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import botocore.session
from boto3.dynamodb.types import TypeDeserializer
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from moto.core import DEFAULT_ACCOUNT_ID as MOTO_ACCOUNT_ID
from moto.core.botocore_stubber import MockRawResponse
from moto.core.models import botocore_stubber as moto_stubber
from moto.dynamodb.models import dynamodb_backends
from moto.events.models import events_backends
from moto.secretsmanager.models import secretsmanager_backends
from moto.sqs.models import sqs_backends

from local.emulator.template import table_definitions
from payments.adapters import aws
from payments.config import wiring
from tests.support import fast_moto

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
fast_moto.install()

REGION = "us-east-1"
API_DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"
API_STAGE = "sandbox"
NOTIFICATION_URL = f"https://{API_DOMAIN}/{API_STAGE}/notifications"


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
    # botocore wraps any mapping in a HeadersDict (moto passes a dict too); its stub wants HTTPHeaders.
    return AWSResponse(request.url, status, headers, MockRawResponse(body))  # type: ignore[arg-type]


# AWS answers these with a 5xx; every other error code with a 400.
SERVER_ERROR_CODES = frozenset({"InternalServerError", "InternalFailure", "ServiceUnavailable", "InternalServiceError"})
# No answer at all: botocore raises these itself (and retries them).
CONNECTION_ERRORS = {"EndpointConnectionError": EndpointConnectionError, "ReadTimeoutError": ReadTimeoutError}


class AwsEmulator:
    """moto in-process, started once for the whole run: starting it and building boto3's default
    session (every client then loads its service model again) cost a test more than its own calls.
    Each test gets it empty instead: the template's tables as they were just created, no secret,
    no queue, no fault queued. Its boto3 session, with the fault injector in front of moto, is
    boto3's default session while a test uses AWS, even if a test before it put another one there.

    The tables are created once through the API from template.yaml's own definitions, and each
    test gets a copy of those empty tables (their indexes and streams included): creating them
    again would cost more than most tests' own calls."""

    def __init__(self):
        self.faults = AwsFaults()
        # The adapters' clients and the tests' own come from one botocore session.
        self.botocore_session = botocore.session.get_session()
        self.session = boto3.Session(botocore_session=self.botocore_session, region_name=REGION)
        self.faults.install(self.session.events)
        dynamodb = self.session.client("dynamodb")
        for logical_id, definition in table_definitions().items():
            dynamodb.create_table(TableName=TEST_TABLE_NAMES[logical_id], **definition)
        self._empty_tables = copy.deepcopy(self._dynamodb_backend().tables)

    @staticmethod
    def _dynamodb_backend():
        return dynamodb_backends[MOTO_ACCOUNT_ID][REGION]

    def reset(self) -> None:
        boto3.DEFAULT_SESSION = self.session
        aws.use_session(self.botocore_session)
        self.faults.heal()
        # Every table, also those a test made for itself, goes: nothing of one test is seen by the next.
        tables = self._dynamodb_backend().tables
        tables.clear()
        tables.update(copy.deepcopy(self._empty_tables))
        # Secrets, queues, buses and rules have no cheap delete-everything call: moto's own reset of
        # those services (the default event bus comes back, as in a fresh account).
        for backends in (secretsmanager_backends, sqs_backends, events_backends):
            backends[MOTO_ACCOUNT_ID][REGION].reset()


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
    """A DynamoDB item (`{"S": ...}` values) as plain Python values, as boto3 reads them (numbers
    as Decimal): an independent reading of what the adapters wrote."""
    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in item.items()}


def stored_order(merchant_order_id: str) -> dict[str, Any]:
    """The order's item as stored, sessions included, as plain Python values."""
    item = aws_client("dynamodb").get_item(TableName=TABLE_NAME, Key={"pk": {"S": f"ORDER#{merchant_order_id}"}})
    return plain_item(item["Item"])


class SessionHooks:
    """botocore handlers on the adapters' session (the emulator's while a test uses AWS: an answer
    in place of AWS's, a parameter changed), for the functions' clients: they are rebuilt when a
    handler is registered, and again when it is removed after the test, since a client copies its
    session's handlers when built."""

    def __init__(self):
        self._events = aws.session()
        self._registered: list[tuple[str, Callable[..., Any]]] = []

    def register(self, name: str, handler: Callable[..., Any]) -> None:
        self._events.register(name, handler)
        self._registered.append((name, handler))
        aws.forget_clients()
        wiring.reset()

    def remove(self) -> None:
        for name, handler in self._registered:
            self._events.unregister(name, handler)
        if self._registered:
            aws.forget_clients()
            wiring.reset()


class Http200:
    """The HTTP response of an answer a `before-call` handler gives in place of AWS's."""

    status_code = 200
    headers: dict[str, str] = {}

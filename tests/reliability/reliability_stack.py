"""Fixtures of the reliability suite, on top of the root conftest's.

Its fixtures are this tier's: its conftest.py imports them.

`real_stack` runs the handlers against a real DynamoDB engine (AWS's DynamoDB Local, a Java
process on 127.0.0.1) and Secrets Manager from a moto server, so concurrent invocations race on
the engine's own conditional writes and transactions rather than on moto's in-process emulation.
Nothing here intercepts boto3: the SDK is pointed at the local servers through the standard
`AWS_ENDPOINT_URL_<SERVICE>` variables, as `sam local` would be.
"""

import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Metrics
from botocore.config import Config
from moto.server import ThreadedMotoServer

from local.emulator.dynamodb_local import DynamoDBLocal, DynamoDBLocalUnavailable
from local.emulator.template import table_definitions
from payments.adapters import aws
from payments.config import wiring
from tests.support.aws import NOTIFICATION_KEY, REGION, plain_item

# Missing Java or npm skips the suite on a developer machine, but fails it in CI.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"reliability suite cannot run in CI: {reason}")
    pytest.skip(reason)


def local_client(service: str, endpoint: str, total_attempts: int = 2):
    """A client of a local server (DynamoDB Local, the moto server): any key does, no account id
    in the endpoint, and a failure answered at once (one retry by default)."""
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]  # any service name the local servers serve
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - local servers accept any key
        config=Config(
            connect_timeout=1,
            read_timeout=5,
            account_id_endpoint_mode="disabled",
            retries={"mode": "standard", "total_max_attempts": total_attempts},
        ),
    )


@pytest.fixture(scope="session")
def dynamodb_local():
    """AWS's DynamoDB Local (local/dynamodb_local.py) on a free 127.0.0.1 port for the whole run;
    yields its endpoint URL."""
    engine = DynamoDBLocal()
    try:
        engine.start()
    except DynamoDBLocalUnavailable as problem:
        _unavailable(str(problem))
    try:
        yield engine.endpoint
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def moto_server():
    """moto as a real HTTP server on 127.0.0.1 (Secrets Manager only is used); yields its URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


class WriteLedger:
    """The DynamoDB writes the engine accepted, seen through the SDK's own events: `before-call`
    notes what a request writes, `after-call` whether DynamoDB said yes. Each accepted write is
    described by what it did, e.g. "Update ORDER: session outcome", so a test can count
    transitions (accepted writes that settle a session) rather than attempts."""

    OPERATIONS = frozenset({"UpdateItem", "PutItem", "DeleteItem"})

    def __init__(self):
        self._lock = threading.Lock()
        self.accepted: list[str] = []
        self.refused: list[str] = []

    def register(self, events) -> None:
        events.register("before-call.dynamodb", self._before_call)
        events.register("after-call.dynamodb", self._after_call)

    def _before_call(self, model, params, context, **_):
        if model.name in self.OPERATIONS:
            context["written"] = describe_writes(model.name, json.loads(params["body"]))

    def _after_call(self, http_response, parsed, model, context, **_):
        if "written" not in context:
            return
        accepted = http_response.status_code == 200 and "Error" not in parsed
        with self._lock:
            (self.accepted if accepted else self.refused).append(context["written"])

    def session_changes(self) -> list[str]:
        """Accepted writes that gave a session its outcome: the transitions."""
        with self._lock:
            return [write for write in self.accepted if write.endswith("session outcome")]

    def reset(self) -> None:
        with self._lock:
            self.accepted.clear()
            self.refused.clear()


def describe_writes(operation: str, request: dict[str, Any]) -> str:
    """ "Update ORDER: session outcome": the action, the kind of item it targets (the `pk` prefix)
    and what it did to it, read from its expressions."""
    key = request.get("Key") or request["Item"]
    if "pk" not in key:  # the events table (keyed by event_id): not an order's item
        return f"{operation.removesuffix('Item')} EVENT"
    kind = key["pk"]["S"].split("#", 1)[0]
    expression = request.get("UpdateExpression", "")
    if "sessions.#token.#status = " in expression:
        what = "session outcome"
    elif "sessions.#token = " in expression:
        what = "new session"
    elif "REMOVE review_reasons" in expression:
        what = "review resolution"
    elif "review_reasons" in expression:
        what = "review flag"
    elif operation in ("PutItem", "DeleteItem") or "claim_id" in expression:
        what = "claim"
    else:
        what = "other"
    return f"{operation.removesuffix('Item')} {kind}: {what}"


class MetricLedger:
    """The names of the metrics the service adds, in any thread.

    Powertools keeps one metric set per process and flushes it at the end of each invocation;
    Lambda never runs two invocations in one process, but these tests do, and one thread's flush
    then races another's (Powertools raises "Must contain at least one metric" or prints lines
    into each other). So under threads the flush is switched off (POWERTOOLS_METRICS_DISABLED)
    and what each invocation would have emitted is counted here, as it is added."""

    def __init__(self):
        self._lock = threading.Lock()
        self.names: list[str] = []

    def spy(self, add_metric):
        def add_and_count(metrics, name, *args, **kwargs):
            with self._lock:
                self.names.append(name)
            return add_metric(metrics, name, *args, **kwargs)

        return add_and_count

    def count(self, name: str) -> int:
        with self._lock:
            return self.names.count(name)

    def reset(self) -> None:
        with self._lock:
            self.names.clear()


@dataclass
class RealStack:
    table_name: str
    secret_id: str
    sandbox: Any
    writes: WriteLedger
    metrics: "MetricLedger"
    _dynamodb: Any = field(repr=False)

    def items(self) -> list[dict[str, Any]]:
        """Every item of this test's table (strongly consistent), plain Python values."""
        found, start = [], None
        while True:
            page = self._dynamodb.scan(
                TableName=self.table_name, ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {})
            )
            found.extend(page["Items"])
            start = page.get("LastEvaluatedKey")
            if not start:
                return [plain_item(item) for item in found]

    def item(self, pk: str) -> dict[str, Any] | None:
        return next((item for item in self.items() if item["pk"] == pk), None)


@pytest.fixture
def real_stack(dynamodb_local, moto_server, sandbox, monkeypatch) -> Iterator[RealStack]:
    """A fresh table (template.yaml's own definition) on DynamoDB Local and a fresh secret holding
    the sandbox credentials on the moto server; the handlers are pointed at both."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_server)
    suffix = uuid.uuid4().hex[:12]
    table_name = f"etpay-orders-{suffix}"
    events_table_name = f"etpay-events-{suffix}"
    secret_id = f"etpay/credentials-{suffix}"
    key_secret_id = f"etpay/notification-key-{suffix}"
    monkeypatch.setenv("TABLE_NAME", table_name)
    monkeypatch.setenv("EVENTS_TABLE_NAME", events_table_name)
    monkeypatch.setenv("ETPAY_SECRET_ID", secret_id)
    monkeypatch.setenv("NOTIFICATION_KEY_SECRET_ID", key_secret_id)

    dynamodb = local_client("dynamodb", dynamodb_local)
    names = {"OrdersTable": table_name, "EventsTable": events_table_name}
    for logical_id, definition in table_definitions().items():
        dynamodb.create_table(TableName=names[logical_id], **definition)
    for name in names.values():
        dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    secrets = local_client("secretsmanager", moto_server)
    secrets.create_secret(Name=secret_id, SecretString=json.dumps(sandbox.credentials()))
    secrets.create_secret(Name=key_secret_id, SecretString=NOTIFICATION_KEY)

    # Every client the handlers build comes from the adapters' session: hook it before they exist.
    writes = WriteLedger()
    aws.forget_clients(credentials=True)
    writes.register(aws.session())
    wiring.reset()
    # A guard, not a test: if the endpoint variables were ever ignored, stop before AWS is called.
    assert boto3.client("dynamodb", region_name=REGION).meta.endpoint_url == dynamodb_local
    assert boto3.client("secretsmanager", region_name=REGION).meta.endpoint_url == moto_server
    sandbox.release_hangs()
    metrics = MetricLedger()
    monkeypatch.setattr(Metrics, "add_metric", metrics.spy(Metrics.add_metric))
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    Metrics().clear_metrics()

    yield RealStack(table_name, secret_id, sandbox, writes, metrics, dynamodb)

    # Never flushed: leave nothing behind for the next test's first flush.
    Metrics().clear_metrics()
    sandbox.release_hangs()
    wiring.reset()
    aws.forget_clients(credentials=True)
    for name in names.values():
        dynamodb.delete_table(TableName=name)


@dataclass
class Outcome:
    value: Any = None
    error: BaseException | None = None


@pytest.fixture
def run_together():
    """A function running calls concurrently (a fixture, so test modules need not import this
    plugin module, which pytest could then not assert-rewrite)."""
    return _run_together


def _run_together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call on its own thread, all released at the same instant by a barrier; return
    their results in order. An exception in any call fails the test with that exception."""
    barrier = threading.Barrier(len(calls))
    outcomes = [Outcome() for _ in calls]

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            outcomes[index].value = call()
        except BaseException as error:  # noqa: BLE001 - re-raised on the test's thread below
            outcomes[index].error = error

    threads = [threading.Thread(target=run, args=(i, call), daemon=True) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for outcome in outcomes:
        if outcome.error is not None:
            raise outcome.error
    return [outcome.value for outcome in outcomes]

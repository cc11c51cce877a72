"""Events from a real DynamoDB engine's own stream (DynamoDB Local): concurrent deliveries and
racing outcomes publish exactly the events of what was recorded, and a stream function that
crashes mid-batch loses no event and makes no new id. EventBridge and SQS are a moto server; the
stream is read by the local stack's emulation of Lambda's event source mapping, with the
template's settings (filter, batch item failures, bisect), invoking the real handler in-process."""

import json
import threading
from collections import Counter

import pytest

from local.emulator.event_sources import StreamPoller, event_source_mappings
from local.emulator.functions import InvocationError
from local.emulator.template import evaluate_conditions, load_template, parameter_values
from payments.adapters import aws
from payments.config import wiring
from payments.domain.events import EventType, event_id
from tests.reliability.reliability_stack import local_client
from tests.support.api import load_handler, new_order_id, open_session

CONCURRENT_DELIVERIES = 20
RACES = 6
CRASH_ORDERS = 6
MAX_POLLS = 60


class SimulatedCrash(BaseException):
    """The stream function's process dying (a timeout, an out-of-memory kill): nothing in the
    handler can catch it."""


class BusLedger:
    """Every entry PutEvents carried to the bus (EventBridge accepted each)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.ids: list[str] = []
        self.crash_after_put = 0

    def register(self, events) -> None:
        events.register("before-call.events.PutEvents", self._before_call)
        events.register("after-call.events.PutEvents", self._after_call)

    def _before_call(self, params, context, **_):
        entries = json.loads(params["body"])["Entries"]
        context["event_ids"] = [json.loads(entry["Detail"])["id"] for entry in entries]

    def _after_call(self, http_response, parsed, context, **_):
        if http_response.status_code != 200 or parsed.get("FailedEntryCount"):
            return
        with self._lock:
            self.ids.extend(context.get("event_ids", []))
            crash = self.crash_after_put == 1
            self.crash_after_put = max(0, self.crash_after_put - 1)
        if crash:
            # EventBridge has the event; the process dies before the record says so.
            raise SimulatedCrash


def client(service: str, endpoint: str):
    return local_client(service, endpoint, total_attempts=3)


@pytest.fixture
def stream(real_stack, dynamodb_local, moto_server, monkeypatch):
    """The events side on top of the real stack: the bus and the webhook queue on the moto server,
    and the template's stream mapping reading DynamoDB Local's stream of this test's table."""
    suffix = real_stack.table_name.rsplit("-", 1)[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", moto_server)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_server)
    bus = f"payments-{suffix}"
    client("events", moto_server).create_event_bus(Name=bus)
    queue_url = client("sqs", moto_server).create_queue(QueueName=f"webhooks-{suffix}")["QueueUrl"]
    monkeypatch.setenv("EVENT_BUS_NAME", bus)
    monkeypatch.setenv("WEBHOOK_QUEUE_URL", queue_url)
    ledger = BusLedger()
    ledger.register(aws.session())  # real_stack's
    wiring.reset()
    publisher = load_handler("event_publisher")

    def invoke(function, event):
        try:
            return publisher.lambda_handler(event, _Context())
        except SimulatedCrash as crash:
            raise InvocationError("EventPublisherFunction: the process died") from crash

    template = load_template()
    conditions = evaluate_conditions(template, parameter_values(template, {"MerchantWebhookUrl": "https://m.example"}))
    (mapping,) = [
        found for found in event_source_mappings(template, conditions) if found.name == "EventPublisherStream"
    ]
    clients = {
        "dynamodb": client("dynamodb", dynamodb_local),
        "dynamodbstreams": client("dynamodbstreams", dynamodb_local),
        "sqs": client("sqs", moto_server),
    }
    poller = StreamPoller(mapping, invoke, clients.__getitem__, real_stack.table_name)
    yield StreamWorld(poller, ledger, real_stack, clients["sqs"], queue_url)
    wiring.reset()


class _Context:
    function_name = "event-publisher"
    aws_request_id = "reliability"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:event-publisher"
    memory_limit_in_mb = 512

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


class StreamWorld:
    def __init__(self, poller, ledger, stack, sqs, queue_url):
        self.poller = poller
        self.ledger = ledger
        self.stack = stack
        self._sqs = sqs
        self._queue_url = queue_url

    def publish(self) -> None:
        """Read the stream to its end, handing every batch to the function (retries included)."""
        idle = 0
        for _ in range(MAX_POLLS):
            idle = 0 if self.poller.poll_once() else idle + 1
            # Two empty reads in a row: DynamoDB Local has nothing more.
            if idle == 2:
                return
        raise AssertionError(f"the stream was not drained in {MAX_POLLS} polls")

    def stored(self) -> list[dict]:
        table = self.stack.table_name.replace("etpay-orders-", "etpay-events-")
        items = self.stack._dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
        return [{name: next(iter(value.values())) for name, value in item.items()} for item in items]

    def stored_of(self, merchant_order_id: str) -> dict[str, str]:
        """event id -> type, of one order."""
        return {
            item["event_id"]: item["event_type"]
            for item in self.stored()
            if item["merchant_order_id"] == merchant_order_id
        }

    def queued(self) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def queued_ids(self) -> Counter[str]:
        """The event ids of every webhook message waiting in the queue (received, and left hidden)."""
        ids: Counter[str] = Counter()
        while True:
            messages = self._sqs.receive_message(
                QueueUrl=self._queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300
            ).get("Messages", [])
            if not messages:
                return ids
            ids.update(json.loads(message["Body"])["event_id"] for message in messages)


def test_twenty_identical_paid_notifications_publish_one_payment_succeeded(api, real_stack, stream, run_together):
    # given an open session and 20 identical paid notifications delivered at once
    order_id = new_order_id()
    token = open_session(api, real_stack.sandbox, order_id)
    notification = real_stack.sandbox.notification_jwt(token, "paid")
    replies = run_together([lambda: api.notify_jwt(notification)] * CONCURRENT_DELIVERIES)
    assert [reply.status for reply in replies] == [200] * CONCURRENT_DELIVERIES

    # when the table's stream is published
    stream.publish()

    # then exactly one payment.succeeded (and the session's creation) exists, went to the bus
    # once, and was queued once for the merchant
    paid = event_id(EventType.PAYMENT_SUCCEEDED, order_id, token)
    created = event_id(EventType.SESSION_CREATED, order_id, token)
    assert stream.stored_of(order_id) == {created: "session.created", paid: "payment.succeeded"}
    assert Counter(stream.ledger.ids) == Counter({created: 1, paid: 1})
    assert stream.queued() == 2


@pytest.mark.parametrize("race", range(RACES))
def test_racing_paid_and_failed_publish_the_events_of_the_final_state(
    api, real_stack, stream, run_together, race, record_property
):
    # given 2 paid and 2 failed notifications for one session, at once
    order_id = new_order_id()
    token = open_session(api, real_stack.sandbox, order_id)
    paid = real_stack.sandbox.notification_jwt(token, "paid")
    failed = real_stack.sandbox.notification_jwt(token, "failed")
    run_together([lambda: api.notify_jwt(paid), lambda: api.notify_jwt(failed)] * 2)

    # when the stream is published
    stream.publish()

    # then the events are exactly those of what the table ended with
    order = api.get_order(order_id).body
    record_property("winner", order["status"])
    expected = {event_id(EventType.SESSION_CREATED, order_id, token): "session.created"}
    if order["status"] == "PAID":
        expected[event_id(EventType.PAYMENT_SUCCEEDED, order_id, token)] = "payment.succeeded"
    else:
        expected[event_id(EventType.PAYMENT_FAILED, order_id, token)] = "payment.failed"
    for reason in order["review"]["reasons"]:
        expected[event_id(EventType.ORDER_REVIEW_REQUIRED, order_id, reason)] = "order.review_required"
    assert stream.stored_of(order_id) == expected
    assert Counter(stream.ledger.ids) == Counter(dict.fromkeys(expected, 1))


def test_a_crash_mid_batch_loses_no_event_and_makes_no_new_id(api, real_stack, stream):
    # given several paid orders, their records waiting in the stream
    orders = {}
    for _ in range(CRASH_ORDERS):
        order_id = new_order_id()
        token = open_session(api, real_stack.sandbox, order_id)
        assert api.notify_jwt(real_stack.sandbox.notification_jwt(token, "paid")).status == 200
        orders[order_id] = token
    expected = {
        event_id(event_type, order_id, token)
        for order_id, token in orders.items()
        for event_type in (EventType.SESSION_CREATED, EventType.PAYMENT_SUCCEEDED)
    }
    # ... and the function's process dying just after EventBridge accepted its third event
    stream.ledger.crash_after_put = 3

    # when the stream is published (the event source retries the failed batch, bisecting it)
    stream.publish()

    # then every event exists once in the table under its transition's id ...
    stored = [item["event_id"] for item in stream.stored() if item["merchant_order_id"] in orders]
    assert sorted(stored) == sorted(expected)
    # ... and reached the bus and the webhook queue: at least once each, the events of the records
    # retried after the crash again (at least once), always under the same ids
    on_bus = Counter(stream.ledger.ids)
    assert set(on_bus) == expected
    assert max(on_bus.values()) == 2
    assert stream.poller.invocations > 1
    queued = stream.queued_ids()
    assert set(queued) == expected
    assert max(queued.values()) <= 2

"""Fixtures of the events tests, on top of the root conftest's: the stack's events side in moto
(the bus, the webhook queue and its dead-letter queue, the failures queue, the webhook secret), the
merchant's webhook receiver on 127.0.0.1, and the event sources of template.yaml run in-process
(`local/event_sources.py`, the local stack's own emulation of Lambda's event source mappings),
invoking the real handlers.

A pytest plugin, registered by the root conftest's `pytest_plugins`.
"""

import json
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID as MOTO_ACCOUNT_ID
from moto.sqs.models import sqs_backends

from local.demo.webhooks import WebhookReceiver
from local.emulator.event_sources import QueuePoller, StreamPoller, event_source_mappings, lambda_stream_record
from local.emulator.functions import InvocationError
from local.emulator.template import evaluate_conditions, load_template, parameter_values
from payments.adapters.event_store import decompress
from payments.config import wiring
from tests.support.api import LambdaContext, load_handler
from tests.support.aws import EVENTS_TABLE_NAME, REGION, TABLE_NAME, aws_client, plain_item

BUS_NAME = "etpay-payments-test"
WEBHOOK_SECRET_ID = "etpay/webhook-secret-test"
# A fixed secret as the stack would generate one (48 letters and digits), so failures are readable.
WEBHOOK_SECRET = (string.ascii_letters + string.digits)[:48]
TAP_RULE = "all-payment-events"
WEBHOOK_QUEUE_NAME = "webhooks"
# A bound on polling in a test: a function failing for ever must fail the test, not hang it.
MAX_POLLS = 30


def mapping(name: str, webhooks: bool = True):
    template = load_template()
    parameters = {"MerchantWebhookUrl": "https://merchant.example/webhooks" if webhooks else ""}
    conditions = evaluate_conditions(template, parameter_values(template, parameters))
    return next(found for found in event_source_mappings(template, conditions) if found.name == name)


@dataclass
class EventsStack:
    receiver: WebhookReceiver
    queue_url: str
    dead_letter_url: str
    failures_url: str
    tap_url: str
    invocations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    secret: str = WEBHOOK_SECRET
    secret_id: str = WEBHOOK_SECRET_ID

    def __post_init__(self):
        self.handlers = {
            "EventPublisherFunction": load_handler("event_publisher"),
            "WebhookDeliveryFunction": load_handler("webhook_delivery"),
        }
        self.events_api = load_handler("events_api")
        clients = aws_client
        self.stream = StreamPoller(mapping("EventPublisherStream"), self.invoke, clients, TABLE_NAME, self.failures_url)
        # deliver() polls only while messages are visible: a receive need not wait for more (a long
        # poll would wait its full second whenever a receive dead-letters what it found).
        self.webhooks = QueuePoller(
            mapping("WebhookDeliveryEventSource"), self.invoke, clients, self.queue_url, wait_seconds=0
        )
        self._sqs = aws_client("sqs")

    def invoke(self, function: str, event: dict) -> dict:
        """As Lambda invokes: the handler's answer, or an InvocationError for a function error."""
        self.invocations.setdefault(function, []).append(event)
        try:
            return self.handlers[function].lambda_handler(event, LambdaContext())
        except Exception as error:  # noqa: BLE001 - a raising handler is a function error, as in Lambda
            raise InvocationError(f"{function} raised {type(error).__name__}") from error

    def publish(self) -> int:
        """Hand every new stream record to the stream function, as the event source would; how
        many invocations it took."""
        before = len(self.invocations.get("EventPublisherFunction", []))
        for _ in range(MAX_POLLS):
            if not self.stream.poll_once():
                return len(self.invocations.get("EventPublisherFunction", [])) - before
        raise AssertionError(f"the stream function still fails after {MAX_POLLS} polls")

    def deliver(self) -> int:
        """Hand every visible webhook message to the delivery function; how many invocations."""
        before = len(self.invocations.get("WebhookDeliveryFunction", []))
        for _ in range(MAX_POLLS):
            if self.webhooks.queue_is_empty():
                return len(self.invocations.get("WebhookDeliveryFunction", [])) - before
            self.webhooks.poll_once()
        raise AssertionError(f"webhook messages still visible after {MAX_POLLS} polls")

    def show_hidden_messages(self) -> None:
        """As if every webhook's wait for its next attempt had passed. moto has no clock to move
        on, so its queue is told directly (tests/integration/test_webhook_retries.py runs the
        schedule itself on a simulated clock)."""
        queue = sqs_backends[MOTO_ACCOUNT_ID][REGION].get_queue(WEBHOOK_QUEUE_NAME)
        for message in list(queue._messages):
            message.change_visibility(0)

    def queue_counts(self, url: str | None = None) -> tuple[int, int]:
        """(visible, hidden) messages of a queue (the webhook queue by default)."""
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def bus_events(self) -> list[dict]:
        """Every event the bus delivered to a rule matching the whole source, oldest first."""
        found: list[dict] = []
        while True:
            answer = self._sqs.receive_message(QueueUrl=self.tap_url, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                self._sqs.delete_message(QueueUrl=self.tap_url, ReceiptHandle=message["ReceiptHandle"])

    def stream_batch(self) -> dict:
        """Every record of the orders table's stream so far, as one Lambda batch (unfiltered)."""
        streams = aws_client("dynamodbstreams")
        stream_arn = self.stream.stream_arn
        (shard,) = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
        return {"Records": [lambda_stream_record(record, stream_arn) for record in records]}

    def stored_events(self) -> list[dict]:
        """Every item of the events table as plain values, oldest first; `body` as the text it
        holds compressed."""
        items = aws_client("dynamodb").scan(TableName=EVENTS_TABLE_NAME)["Items"]
        plain = [plain_item(item) for item in items]
        for item in plain:
            item["body"] = decompress(bytes(item["body"]))
        return sorted(plain, key=lambda item: (item["created_at"], item["event_id"]))

    def api_call(
        self, method: str, resource: str, path: str, path_parameters: dict, identity: dict | None = None
    ) -> tuple[int, Any]:
        """The events API's answer: its status and body (`self.last_headers`: its headers);
        `identity` is what API Gateway's authorization put in the request context."""
        from tests.support.api import api_event

        event = api_event(method, resource, path, path_parameters=path_parameters)
        event["requestContext"]["identity"].update(identity or {})
        response = self.events_api.lambda_handler(event, LambdaContext())
        self.last_headers = response.get("headers") or {}
        return response["statusCode"], json.loads(response["body"])

    def get_event(self, event_id: str) -> tuple[int, Any]:
        return self.api_call("GET", "/events/{event_id}", f"/events/{event_id}", {"event_id": event_id})

    def order_events(self, merchant_order_id: str) -> tuple[int, Any]:
        return self.api_call(
            "GET",
            "/orders/{merchant_order_id}/events",
            f"/orders/{merchant_order_id}/events",
            {"merchant_order_id": merchant_order_id},
        )

    def redeliver(self, event_id: str, identity: dict | None = None) -> tuple[int, Any]:
        return self.api_call(
            "POST", "/events/{event_id}/redeliver", f"/events/{event_id}/redeliver", {"event_id": event_id}, identity
        )


@pytest.fixture
def receiver():
    """The merchant's webhook endpoint, checking every signature with standardwebhooks."""
    running = WebhookReceiver(port=0).start()
    running.set_secret(WEBHOOK_SECRET)
    yield running
    running.stop()


@pytest.fixture
def events_stack(stack, receiver, monkeypatch) -> Iterator[EventsStack]:
    """The root conftest's stack (moto, the sandbox's secret) plus the events side of the template."""
    yield from _events_side(receiver, monkeypatch)


@pytest.fixture
def mx_events_stack(mx_stack, receiver, monkeypatch) -> Iterator[EventsStack]:
    """The same on the stack deployed with Currency=MXN (ETpay Mexico's sandbox)."""
    yield from _events_side(receiver, monkeypatch)


def _events_side(receiver, monkeypatch) -> Iterator[EventsStack]:
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    sqs = aws_client("sqs")
    dead_letter_url = sqs.create_queue(QueueName="webhooks-dlq")["QueueUrl"]
    dead_letter_arn = sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue = load_template()["Resources"]["WebhookQueue"]["Properties"]
    queue_url = sqs.create_queue(
        QueueName=WEBHOOK_QUEUE_NAME,
        Attributes={
            "VisibilityTimeout": str(queue["VisibilityTimeout"]),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": queue["RedrivePolicy"]["maxReceiveCount"]}
            ),
        },
    )["QueueUrl"]
    failures_url = sqs.create_queue(QueueName="event-publisher-failures")["QueueUrl"]
    tap_url = sqs.create_queue(QueueName="bus-tap")["QueueUrl"]
    tap_arn = sqs.get_queue_attributes(QueueUrl=tap_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = aws_client("events")
    events.create_event_bus(Name=BUS_NAME)
    events.put_rule(Name=TAP_RULE, EventBusName=BUS_NAME, EventPattern=json.dumps({"source": ["etpay.payments"]}))
    events.put_targets(Rule=TAP_RULE, EventBusName=BUS_NAME, Targets=[{"Id": "tap", "Arn": tap_arn}])
    aws_client("secretsmanager").create_secret(Name=WEBHOOK_SECRET_ID, SecretString=WEBHOOK_SECRET)

    monkeypatch.setenv("EVENT_BUS_NAME", BUS_NAME)
    monkeypatch.setenv("WEBHOOK_QUEUE_URL", queue_url)
    monkeypatch.setenv("WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("WEBHOOK_SECRET_ID", WEBHOOK_SECRET_ID)
    wiring.reset()
    yield EventsStack(receiver, queue_url, dead_letter_url, failures_url, tap_url)
    wiring.reset()

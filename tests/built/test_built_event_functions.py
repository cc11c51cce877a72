"""The events' functions as `sam build` packaged them, loaded the way Lambda loads them (their
directory, the layer as /opt/python, only the runtime's own packages), each invoked with its event
from events/: the example order's payment as a stream record, its events through the API, and
its webhook's queue message delivered to a merchant endpoint on 127.0.0.1."""

import json

import boto3
import pytest

from local.demo.webhooks import WebhookReceiver
from local.emulator.template import ROOT, table_definitions
from tests.built.test_built_artifacts import (  # noqa: F401 - fixtures
    built,
    deployed,
    moto_server,
    run_built,
    runtime_dir,
    seed_example_session,
)

WEBHOOK_SECRET = "Built0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH"[:48]  # noqa: S105 - a test secret


@pytest.fixture
def events_deployed(deployed, moto_server, monkeypatch):  # noqa: F811 - the imported fixtures
    """The events' side of the example stack in the moto server, and the merchant's endpoint."""
    dynamodb = boto3.client("dynamodb")
    events_table = deployed["table"] + "-events"
    dynamodb.create_table(TableName=events_table, **table_definitions()["EventsTable"])
    bus = deployed["table"] + "-bus"
    boto3.client("events").create_event_bus(Name=bus)
    queue_url = boto3.client("sqs").create_queue(QueueName=deployed["table"] + "-webhooks")["QueueUrl"]
    secret_id = deployed["table"] + "/webhooks"
    boto3.client("secretsmanager").create_secret(Name=secret_id, SecretString=WEBHOOK_SECRET)
    receiver = WebhookReceiver(port=0).start()
    receiver.set_secret(WEBHOOK_SECRET)
    yield {
        **deployed,
        "EVENTS_TABLE_NAME": events_table,
        "EVENT_BUS_NAME": bus,
        "WEBHOOK_QUEUE_URL": queue_url,
        "WEBHOOK_SECRET_ID": secret_id,
        "WEBHOOK_URL": receiver.url,
        "receiver": receiver,
    }
    receiver.stop()


def invoke(built, runtime_dir, function, event_name, deployed, tmp_path):  # noqa: F811 - the imported fixtures
    environment = {
        "AWS_ENDPOINT_URL": deployed["endpoint"],
        "TABLE_NAME": deployed["table"],
        **{name: value for name, value in deployed.items() if name.isupper()},
    }
    return run_built(built, runtime_dir, function, event_name, environment, tmp_path)


def test_the_built_event_functions_publish_serve_and_deliver_the_example_payment(
    built,  # noqa: F811 - the imported fixtures
    runtime_dir,  # noqa: F811
    events_deployed,
    tmp_path,
):
    # The order as the stream record leaves it (paid): an order's events are found from its history.
    record = json.loads((ROOT / "events" / "order_paid_stream.json").read_text())["Records"][0]["dynamodb"]
    boto3.client("dynamodb").put_item(TableName=events_deployed["table"], Item=record["NewImage"])

    # the stream function publishes the example payment's record
    answer = invoke(built, runtime_dir, "EventPublisherFunction", "order_paid_stream.json", events_deployed, tmp_path)
    assert answer == {"batchItemFailures": []}

    # the API shows it and lists it (GET /events/{id}, GET /orders/{id}/events), and redelivers it
    answer = invoke(built, runtime_dir, "EventsApiFunction", "get_event.json", events_deployed, tmp_path)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["type"] == "payment.succeeded"
    answer = invoke(built, runtime_dir, "EventsApiFunction", "get_order_events.json", events_deployed, tmp_path)
    assert [event["type"] for event in json.loads(answer["body"])["events"]] == ["payment.succeeded"]
    answer = invoke(built, runtime_dir, "EventsApiFunction", "redeliver_event.json", events_deployed, tmp_path)
    assert answer["statusCode"] == 202

    # the delivery function POSTs its webhook, signed
    answer = invoke(built, runtime_dir, "WebhookDeliveryFunction", "webhook_message.json", events_deployed, tmp_path)
    assert answer == {"batchItemFailures": []}
    (webhook,) = events_deployed["receiver"].received
    assert webhook.type == "payment.succeeded" and webhook.verified

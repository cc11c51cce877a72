"""The events' functions as `sam build` packaged them, loaded the way Lambda loads them (their
directory, the layer as /opt/python, only the runtime's own packages), each invoked with its event
from events/: the example order's payment as a stream record, its events through the API, and
its webhook's queue message delivered to a merchant endpoint on 127.0.0.1."""

import json
import os
import subprocess
import sys

import boto3
import pytest
from test_built_artifacts import (  # noqa: F401 - fixtures
    BUILD_DIR,
    built,
    deployed,
    moto_server,
    runtime_dir,
    seed_example_session,
)

from local.template import ROOT, table_definitions
from local.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.built

RUNNER = """
import json, sys
function_dir, layer_dir, runtime_dir, event_path = sys.argv[1:5]
sys.path[:0] = [function_dir, layer_dir]
sys.path.append(runtime_dir)
import app, payments

class Context:
    function_name = "built"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:built"
    aws_request_id = "built-request"

    @staticmethod
    def get_remaining_time_in_millis():
        return 30_000

result = app.lambda_handler(json.load(open(event_path)), Context())
print("RESULT " + json.dumps({"response": result, "origins": [app.__file__, payments.__file__]}))
"""
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
    env = {
        "PATH": os.environ["PATH"],
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": deployed["endpoint"],
        "TABLE_NAME": deployed["table"],
        "POWERTOOLS_SERVICE_NAME": function,
        "POWERTOOLS_METRICS_NAMESPACE": "EtpayPaymentsBuilt",
        "POWERTOOLS_TRACE_DISABLED": "true",
        **{name: value for name, value in deployed.items() if name.isupper()},
    }
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    completed = subprocess.run(  # noqa: S603 - our own interpreter and files
        [
            sys.executable,
            "-I",
            "-B",
            str(runner),
            str(built / function),
            str(built / "EtpayLayer" / "python"),
            str(runtime_dir),
            str(ROOT / "events" / event_name),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    line = next(line for line in completed.stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    assert all(origin.startswith(str(BUILD_DIR)) for origin in result["origins"]), result["origins"]
    return result["response"]


def test_the_built_event_functions_publish_serve_and_deliver_the_example_payment(
    built,  # noqa: F811 - the imported fixtures
    runtime_dir,  # noqa: F811
    events_deployed,
    tmp_path,
):
    seed_example_session(events_deployed)

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

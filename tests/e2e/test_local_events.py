"""The events through the whole local stack, every hop as in AWS: the orders table's stream read by
the emulated event source, the stream function, the EventBridge bus, the webhook queue, the
delivery function, and the merchant's receiver checking each signature with standardwebhooks."""

import json

import pytest

from local.emulator.aws import client as emulator_client

# A bound on waiting for an event to travel, not a performance assertion.
EVENT_WAIT_SECONDS = 30.0


@pytest.fixture(scope="module")
def bus_tap(local_stack):
    """A rule on the stack's bus sending every payment event to a queue we can read."""
    sqs = emulator_client(local_stack.aws_url, "sqs")
    events = emulator_client(local_stack.aws_url, "events")
    queue_url = sqs.create_queue(QueueName="e2e-bus-tap")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = local_stack.resource_name("EventBus")
    events.put_rule(Name="e2e-tap", EventBusName=bus, EventPattern=json.dumps({"source": ["etpay.payments"]}))
    events.put_targets(Rule="e2e-tap", EventBusName=bus, Targets=[{"Id": "tap", "Arn": queue_arn}])

    def read(detail_type: str, event_id: str) -> dict | None:
        for _ in range(int(EVENT_WAIT_SECONDS)):
            for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []
            ):
                event = json.loads(message["Body"])
                if event["detail-type"] == detail_type and event["detail"]["id"] == event_id:
                    return event
        return None

    return read


def webhook_of(local_stack, event_type: str, merchant_order_id: str, after: int = 0):
    return local_stack.webhooks.wait_for(
        lambda webhook: (
            webhook.type == event_type
            and webhook.merchant_order_id == merchant_order_id
            and local_stack.webhooks.received.index(webhook) >= after
        ),
        EVENT_WAIT_SECONDS,
    )


def test_a_paid_order_reaches_the_merchant_signed_and_the_bus(local_stack, http_api, etpay, order_id, bus_tap):
    # given an order paid in the ETpay sandbox, its notification accepted
    session = http_api.open_session(order_id)
    assert etpay.complete(session["session_token"], "paid")["delivery_status"] == 200

    # then the merchant's endpoint gets payment.succeeded, its signature verified by the library
    webhook = webhook_of(local_stack, "payment.succeeded", order_id)
    assert webhook is not None, "no payment.succeeded webhook arrived"
    assert webhook.verified, webhook.problem
    body = json.loads(webhook.body)
    assert body["data"]["order"] == http_api.get_order(order_id).body
    # ... the same event is on the EventBridge bus, with its detail-type
    on_bus = bus_tap("Payment Succeeded", webhook.id)
    assert on_bus is not None and on_bus["detail"] == body and on_bus["source"] == "etpay.payments"
    # ... and the merchant can read it, and the order's events, back from the API
    reply = http_api.request("GET", f"/events/{webhook.id}")
    assert reply.status == 200
    assert reply.body["type"] == "payment.succeeded"
    listed = http_api.request("GET", f"/orders/{order_id}/events")
    assert [event["type"] for event in listed.body["events"]] == ["session.created", "payment.succeeded"]


def test_an_event_is_redelivered_on_request(local_stack, http_api, etpay, order_id):
    # given a delivered payment.failed
    session = http_api.open_session(order_id)
    etpay.complete(session["session_token"], "failed")
    first = webhook_of(local_stack, "payment.failed", order_id)
    assert first is not None and first.verified
    seen = len(local_stack.webhooks.received)

    # when the merchant asks for it again
    reply = http_api.request("POST", f"/events/{first.id}/redeliver")

    # then it is accepted (pending, or already delivered again: the local stack is quick), and
    # arrives again under the same id, signed
    assert reply.status == 202
    assert reply.body["delivery"]["state"] in ("pending", "delivered")
    again = webhook_of(local_stack, "payment.failed", order_id, after=seen)
    assert again is not None and again.verified
    assert again.id == first.id
    assert again.body == first.body


def test_unknown_and_malformed_event_ids_over_http(http_api):
    assert http_api.request("GET", "/events/evt_" + "f" * 32).status == 404
    assert http_api.request("GET", "/events/not-an-event").status == 400
    assert http_api.request("POST", "/events/evt_" + "f" * 32 + "/redeliver").status == 404

"""The merchant's routes for events: GET /events/{event_id}, GET /orders/{merchant_order_id}/events
and POST /events/{event_id}/redeliver, through the events API handler as API Gateway calls it."""

import json

import pytest
from conftest import new_order_id, open_session

from payments import event_runtime
from payments.events import EventType, event_id

pytest_plugins = ["events_stack"]

UNKNOWN_EVENT = "evt_" + "0" * 32


def paid_order_published(api, sandbox, events_stack) -> tuple[str, str]:
    order_id = new_order_id()
    token = open_session(api, sandbox, order_id)
    assert api.notify_jwt(sandbox.notification_jwt(token, "paid")).status == 200
    events_stack.publish()
    return order_id, token


def test_an_event_is_its_published_body_and_its_delivery_record(api, stack, events_stack):
    # given a paid order's events, published and delivered
    order_id, token = paid_order_published(api, stack, events_stack)
    events_stack.deliver()
    paid = event_id(EventType.PAYMENT_SUCCEEDED, order_id, token)

    # when the merchant reads the payment's event
    status, body = events_stack.get_event(paid)

    # then it is the webhook's body exactly, plus how its delivery went
    assert status == 200
    webhook = next(webhook for webhook in events_stack.receiver.received if webhook.id == paid)
    assert {key: value for key, value in body.items() if key != "delivery"} == json.loads(webhook.body)
    assert body["data"]["order"] == api.get_order(order_id).body
    assert body["delivery"]["state"] == "delivered"
    assert body["delivery"]["attempts"] == 1
    assert body["delivery"]["delivered_at"] >= body["created_at"]


def test_an_orders_events_are_listed_oldest_first(api, stack, events_stack):
    order_id, token = paid_order_published(api, stack, events_stack)

    status, body = events_stack.order_events(order_id)

    assert status == 200
    assert body["merchant_order_id"] == order_id
    assert [(event["type"], event["id"]) for event in body["events"]] == [
        ("session.created", event_id(EventType.SESSION_CREATED, order_id, token)),
        ("payment.succeeded", event_id(EventType.PAYMENT_SUCCEEDED, order_id, token)),
    ]
    assert all(event["delivery"]["state"] == "pending" for event in body["events"])


def test_an_order_whose_events_are_not_published_yet_has_an_empty_list(api, stack, events_stack):
    order_id = new_order_id()
    open_session(api, stack, order_id)

    assert events_stack.order_events(order_id) == (200, {"merchant_order_id": order_id, "events": []})


@pytest.mark.parametrize(
    ("call", "argument", "status", "error"),
    [
        ("get_event", UNKNOWN_EVENT, 404, "not_found"),
        ("redeliver", UNKNOWN_EVENT, 404, "not_found"),
        ("order_events", "OC-never-opened", 404, "not_found"),
        ("get_event", "evt_NOT-HEX", 400, "validation_error"),
        ("redeliver", "pay_0123", 400, "validation_error"),
        ("order_events", "has space", 400, "validation_error"),
    ],
)
def test_unknown_and_malformed_ids(events_stack, call, argument, status, error):
    answer_status, body = getattr(events_stack, call)(argument)

    assert (answer_status, body["error"]) == (status, error)
    assert isinstance(body["message"], str)


def test_redelivery_sends_a_delivered_event_again(api, stack, events_stack):
    # given an event delivered once
    order_id, token = paid_order_published(api, stack, events_stack)
    events_stack.deliver()
    paid = event_id(EventType.PAYMENT_SUCCEEDED, order_id, token)

    # when the merchant asks for it again
    status, body = events_stack.redeliver(paid)

    # then it is accepted (202) and pending, and the webhook goes out a second time, same id
    assert status == 202
    assert body["id"] == paid
    assert body["delivery"]["state"] == "pending"
    events_stack.deliver()
    assert [webhook.id for webhook in events_stack.receiver.received].count(paid) == 2
    assert events_stack.get_event(paid)[1]["delivery"]["attempts"] == 2


def test_redelivery_with_webhooks_off_is_a_clear_error(api, stack, events_stack, monkeypatch):
    order_id, token = paid_order_published(api, stack, events_stack)
    monkeypatch.delenv("WEBHOOK_QUEUE_URL")
    event_runtime.reset()

    status, body = events_stack.redeliver(event_id(EventType.PAYMENT_SUCCEEDED, order_id, token))

    assert (status, body["error"]) == (409, "webhooks_disabled")
    assert "MerchantWebhookUrl" in body["message"]


def test_redelivery_when_sqs_fails_is_a_503_to_retry(api, stack, events_stack, aws_faults):
    event_runtime.reset()
    order_id, token = paid_order_published(api, stack, events_stack)
    aws_faults.fail_next("sqs", "SendMessage", "InternalError", times=3)

    status, body = events_stack.redeliver(event_id(EventType.PAYMENT_SUCCEEDED, order_id, token))

    assert status == 503
    assert body["error"] == "storage_unavailable"
    # nothing was queued, and the record does not claim a redelivery is on its way
    assert events_stack.queue_counts() == (2, 0)
    assert all("delivery_redeliveries" not in item for item in events_stack.stored_events())

"""The merchant's routes for events: GET /events/{event_id}, GET /orders/{merchant_order_id}/events
and POST /events/{event_id}/redeliver, through the events API handler as API Gateway calls it."""

import json
from datetime import timedelta

import pytest
import time_machine

from payments.adapters.aws import DYNAMODB_MAX_ATTEMPTS
from payments.adapters.event_store import BATCH_GET_ROUNDS
from payments.config import wiring
from payments.domain.clock import utc_now
from payments.domain.events import REDELIVERY_COOLDOWN_SECONDS, EventType, event_id
from tests.support.api import new_order_id, open_session
from tests.support.aws import EVENTS_TABLE_NAME, Http200, aws_client
from tests.support.logs import errors_logged

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


MERCHANT = "arn:aws:sts::123456789012:assumed-role/ShopBackend/orders"
OPERATOR = "arn:aws:sts::123456789012:assumed-role/Operators/ana"


def delivered_payment(api, stack, events_stack) -> str:
    order_id, token = paid_order_published(api, stack, events_stack)
    events_stack.deliver()
    return event_id(EventType.PAYMENT_SUCCEEDED, order_id, token)


def test_a_request_while_a_redelivery_is_pending_joins_it_and_each_caller_is_recorded(api, stack, events_stack):
    # given a delivered event, and a redelivery asked for and not attempted yet
    paid = delivered_payment(api, stack, events_stack)
    assert events_stack.redeliver(paid, {"userArn": MERCHANT})[0] == 202

    # when another caller asks again
    status, body = events_stack.redeliver(paid, {"userArn": OPERATOR})

    # then the same pending redelivery answers (202), nothing new is queued, and both requests
    # are on the event's record, the second as joined
    assert status == 202
    assert body["delivery"]["state"] == "pending"
    assert events_stack.queue_counts() == (1, 0)
    requests = body["delivery"]["redelivery_requests"]
    assert [(request["requested_by"], request["merged"]) for request in requests] == [
        (MERCHANT, False),
        (OPERATOR, True),
    ]
    events_stack.deliver()
    assert [webhook.id for webhook in events_stack.receiver.received].count(paid) == 2


def test_a_request_within_the_cooldown_of_the_last_accepted_one_is_429_with_its_wait(api, stack, events_stack):
    # given a redelivery accepted and attempted
    paid = delivered_payment(api, stack, events_stack)
    accepted_at = utc_now()
    with time_machine.travel(accepted_at, tick=False):
        assert events_stack.redeliver(paid, {"userArn": MERCHANT})[0] == 202
    events_stack.deliver()

    # when it is asked for again 20 s later
    with time_machine.travel(accepted_at + timedelta(seconds=20), tick=False):
        status, body = events_stack.redeliver(paid, {"userArn": MERCHANT})

    # then it is refused with the wait left, nothing is queued or recorded
    assert (status, body["error"]) == (429, "redelivery_too_soon")
    assert events_stack.last_headers["Retry-After"] == str(REDELIVERY_COOLDOWN_SECONDS - 20)
    assert events_stack.queue_counts() == (0, 0)
    assert len(events_stack.get_event(paid)[1]["delivery"]["redelivery_requests"]) == 1

    # ... and once the cooldown has passed, the next request is accepted
    with time_machine.travel(accepted_at + timedelta(seconds=REDELIVERY_COOLDOWN_SECONDS), tick=False):
        assert events_stack.redeliver(paid, {"userArn": MERCHANT})[0] == 202
    assert events_stack.queue_counts() == (1, 0)


def test_redelivery_with_webhooks_off_is_a_clear_error(api, stack, events_stack, monkeypatch):
    order_id, token = paid_order_published(api, stack, events_stack)
    monkeypatch.delenv("WEBHOOK_QUEUE_URL")
    wiring.reset()

    status, body = events_stack.redeliver(event_id(EventType.PAYMENT_SUCCEEDED, order_id, token))

    assert (status, body["error"]) == (409, "webhooks_disabled")
    assert "MerchantWebhookUrl" in body["message"]


def test_redelivery_when_sqs_fails_is_a_503_to_retry(api, stack, events_stack, aws_faults):
    wiring.reset()
    order_id, token = paid_order_published(api, stack, events_stack)
    aws_faults.fail_next("sqs", "SendMessage", "InternalError", times=3)

    status, body = events_stack.redeliver(event_id(EventType.PAYMENT_SUCCEEDED, order_id, token))

    assert status == 503
    assert body["error"] == "storage_unavailable"
    # nothing was queued, and the record does not claim a redelivery is on its way
    assert events_stack.queue_counts() == (2, 0)
    assert all("requests" not in item["delivery"] for item in events_stack.stored_events())


@pytest.mark.parametrize("fault", ["ProvisionedThroughputExceededException", "InternalServerError", "ReadTimeoutError"])
def test_storage_down_is_a_503_to_retry(api, stack, events_stack, aws_faults, caplog, fault):
    # given a published event, and every attempt to read it failing
    wiring.reset()  # clients from the session the faults hook
    order_id, token = paid_order_published(api, stack, events_stack)
    aws_faults.fail_always("dynamodb", "GetItem", fault)
    before = aws_faults.count("dynamodb", "GetItem")

    status, body = events_stack.get_event(event_id(EventType.PAYMENT_SUCCEEDED, order_id, token))

    assert (status, body["error"]) == (503, "storage_unavailable")
    assert aws_faults.count("dynamodb", "GetItem") - before == DYNAMODB_MAX_ATTEMPTS
    assert "DynamoDB call failed" in errors_logged(caplog)


def test_an_event_removed_while_its_redelivery_is_asked_for_is_a_404(api, stack, events_stack, aws_faults):
    # given an event deleted from the table (an operator's clean-up) between its read and the
    # note of the redelivery
    wiring.reset()
    order_id, token = paid_order_published(api, stack, events_stack)
    paid = event_id(EventType.PAYMENT_SUCCEEDED, order_id, token)
    aws_faults.before_next("dynamodb", "UpdateItem", lambda: delete_event(paid))

    status, body = events_stack.redeliver(paid)

    # then the merchant is told it does not exist (as a GET now says), nothing is recreated,
    # and the message already queued for it is dropped rather than sent
    assert (status, body["error"]) == (404, "not_found")
    assert events_stack.get_event(paid)[0] == 404
    events_stack.deliver()
    assert paid not in [webhook.id for webhook in events_stack.receiver.received]


def test_an_orders_events_are_all_listed_across_batches(api, stack, events_stack, batch_size):
    # given an order with five events, read two keys per BatchGetItem
    order_id = new_order_id()
    first = open_session(api, stack, order_id)
    assert api.notify_jwt(stack.notification_jwt(first, "failed")).status == 200
    second = open_session(api, stack, order_id)
    assert api.notify_jwt(stack.notification_jwt(second, "failed")).status == 200
    third = open_session(api, stack, order_id)
    events_stack.publish()
    batch_size(2)

    status, body = events_stack.order_events(order_id)

    assert status == 200
    assert [event["type"] for event in body["events"]] == [
        "session.created",
        "payment.failed",
        "session.created",
        "payment.failed",
        "session.created",
    ]
    assert body["events"][-1]["id"] == event_id(EventType.SESSION_CREATED, order_id, third)
    assert batch_size.calls == 3


def test_keys_dynamodb_leaves_unprocessed_are_asked_for_again(api, stack, events_stack, unprocessed_keys):
    order_id, _ = paid_order_published(api, stack, events_stack)
    unprocessed_keys(rounds=1)

    status, body = events_stack.order_events(order_id)

    assert status == 200
    assert [event["type"] for event in body["events"]] == ["session.created", "payment.succeeded"]
    assert unprocessed_keys.calls == 2


def test_keys_still_unprocessed_after_every_round_are_a_503_not_a_short_list(
    api, stack, events_stack, unprocessed_keys
):
    # A list missing events would tell the merchant they never happened.
    order_id, _ = paid_order_published(api, stack, events_stack)
    unprocessed_keys(rounds=BATCH_GET_ROUNDS)

    status, body = events_stack.order_events(order_id)

    assert (status, body["error"]) == (503, "storage_unavailable")
    assert unprocessed_keys.calls == BATCH_GET_ROUNDS


def test_without_the_orders_table_configured_the_events_api_answers_503(api, stack, events_stack, monkeypatch):
    order_id, _ = paid_order_published(api, stack, events_stack)
    monkeypatch.delenv("TABLE_NAME")
    wiring.reset()

    status, body = events_stack.order_events(order_id)

    assert (status, body["error"]) == (503, "configuration_unavailable")


# -- helpers ---------------------------------------------------------------------------------------
def delete_event(event_id_: str) -> None:
    aws_client("dynamodb").delete_item(TableName=EVENTS_TABLE_NAME, Key={"event_id": {"S": event_id_}})


@pytest.fixture
def batch_size(session_hooks, monkeypatch):
    """batch_size(n): the events are read n keys per BatchGetItem; `.calls` counts the calls."""

    class BatchSize:
        calls = 0

        def __call__(self, keys: int) -> None:
            def count(params, **_):
                BatchSize.calls += 1

            monkeypatch.setattr("payments.adapters.event_store.BATCH_GET_KEYS", keys)
            session_hooks.register("provide-client-params.dynamodb.BatchGetItem", count)

    return BatchSize()


@pytest.fixture
def unprocessed_keys(session_hooks):
    """unprocessed_keys(rounds=n): the next n BatchGetItem calls serve nothing and return every key
    as unprocessed, as DynamoDB does when it throttles a batch; `.calls` counts the calls."""

    class Unprocessed:
        calls = 0
        left = 0

        def __call__(self, rounds: int) -> None:
            Unprocessed.left = rounds
            session_hooks.register("provide-client-params.dynamodb.BatchGetItem", self._capture)
            session_hooks.register("before-call.dynamodb.BatchGetItem", self._answer)

        def _capture(self, params, **_):
            Unprocessed.calls += 1
            self.request_items = params["RequestItems"]

        def _answer(self, **_):
            if Unprocessed.left <= 0:
                return None
            Unprocessed.left -= 1
            return Http200(), {"Responses": {}, "UnprocessedKeys": self.request_items, "ResponseMetadata": {}}

    return Unprocessed()

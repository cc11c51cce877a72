"""The webhook delivery function, driven by the webhook queue (moto) through the template's event
source settings, POSTing to a merchant's endpoint on 127.0.0.1 that checks every signature with
standardwebhooks: delivered once on a 2xx, retried after anything else, each attempt on the
event's delivery record, dead-lettered after the last; a rotated secret signs beside the old."""

import json

import pytest
from standardwebhooks.webhooks import Webhook

from local.emulator.event_sources import lambda_sqs_record
from payments.config import wiring
from payments.domain.errors import ConfigurationUnavailable
from payments.domain.webhooks import WEBHOOK_MAX_RECEIVES
from tests.support.api import LambdaContext, new_order_id, open_session
from tests.support.aws import aws_client
from tests.support.logs import errors_logged


def received_messages(events_stack, count: int) -> list[dict]:
    """`count` messages of the webhook queue, received as Lambda's event source does, each as the
    record of the function's event."""
    answer = aws_client("sqs").receive_message(
        QueueUrl=events_stack.queue_url, MaxNumberOfMessages=count, AttributeNames=["All"]
    )
    return [lambda_sqs_record(message, events_stack.webhooks.queue_arn) for message in answer["Messages"]]


def paid_order_published(api, sandbox, events_stack) -> str:
    """An order paid through the handlers and its events published; its id."""
    order_id = new_order_id()
    token = open_session(api, sandbox, order_id)
    assert api.notify_jwt(sandbox.notification_jwt(token, "paid")).status == 200
    events_stack.publish()
    return order_id


def test_each_event_is_delivered_signed_and_recorded(api, stack, events_stack):
    # given a paid order's two events queued for the merchant
    order_id = paid_order_published(api, stack, events_stack)

    # when the queue is handed to the delivery function
    events_stack.deliver()

    # then the merchant got both (sent in parallel: in any order), each verified by the
    # standardwebhooks library ...
    received = sorted(events_stack.receiver.of_order(order_id), key=lambda webhook: webhook.type)
    assert [(webhook.type, webhook.verified) for webhook in received] == [
        ("payment.succeeded", True),
        ("session.created", True),
    ]
    # ... the body is exactly the event as published, the id header its id
    stored = {item["event_id"]: item for item in events_stack.stored_events()}
    for webhook in received:
        assert webhook.body == stored[webhook.id]["body"]
    # ... the queue is empty and each delivery record says delivered after one attempt
    assert events_stack.queue_counts() == (0, 0)
    status, event = events_stack.get_event(received[0].id)
    assert status == 200
    assert event["delivery"]["state"] == "delivered"
    assert event["delivery"]["attempts"] == 1
    assert event["delivery"]["last_status_code"] == 204
    assert "next_attempt_at" not in event["delivery"]


def test_a_500_is_retried_after_its_backoff_and_then_delivered(api, stack, events_stack):
    # given the merchant answering 500 to the first two webhooks
    order_id = paid_order_published(api, stack, events_stack)
    events_stack.receiver.answer_next(500, times=2)

    # when the queue is handed over
    events_stack.deliver()

    # then both wait, hidden, for their next attempt, and their records say why and when
    assert events_stack.queue_counts() == (0, 2)
    for item in events_stack.stored_events():
        assert item["delivery"]["state"] == "retrying"
        assert item["delivery"]["last_status_code"] == 500
        assert item["delivery"]["next_attempt_at"] > item["delivery"]["last_attempt_at"]

    # when their wait has passed
    events_stack.show_hidden_messages()
    events_stack.deliver()

    # then both are delivered, on their second attempt
    assert events_stack.queue_counts() == (0, 0)
    assert {item["delivery"]["state"] for item in events_stack.stored_events()} == {"delivered"}
    assert {item["delivery"]["attempts"] for item in events_stack.stored_events()} == {2}
    received = events_stack.receiver.of_order(order_id)
    assert [webhook.type for webhook in received].count("payment.succeeded") == 2
    assert all(webhook.verified for webhook in received)


def test_a_receiver_that_is_down_is_recorded_as_a_connection_error(api, stack, events_stack):
    paid_order_published(api, stack, events_stack)
    events_stack.receiver.stop()

    events_stack.deliver()

    events_stack.receiver.start()
    assert {item["delivery"]["last_error"] for item in events_stack.stored_events()} == {"connection_error"}
    assert events_stack.queue_counts() == (0, 2)


def test_a_second_message_for_a_delivered_event_sends_nothing(api, stack, events_stack):
    # given a delivered event, and its message sent again (a retried stream batch would)
    paid_order_published(api, stack, events_stack)
    events_stack.deliver()
    delivered = events_stack.stored_events()[-1]["event_id"]
    aws_client("sqs").send_message(
        QueueUrl=events_stack.queue_url, MessageBody=json.dumps({"event_id": delivered, "redelivery": False})
    )
    before = len(events_stack.receiver.received)

    events_stack.deliver()

    assert len(events_stack.receiver.received) == before
    assert events_stack.queue_counts() == (0, 0)


def test_the_last_receive_dead_letters_the_webhook(api, stack, events_stack):
    # given the merchant refusing everything, and a webhook on its last receive
    paid_order_published(api, stack, events_stack)
    events_stack.receiver.answer_next(503, times=100)
    for _ in range(WEBHOOK_MAX_RECEIVES):
        events_stack.deliver()
        events_stack.show_hidden_messages()

    # then its record says failed, and SQS moves it to the dead-letter queue on the next receive
    assert {item["delivery"]["state"] for item in events_stack.stored_events()} == {"failed"}
    assert {item["delivery"]["attempts"] for item in events_stack.stored_events()} == {WEBHOOK_MAX_RECEIVES}
    assert all("next_attempt_at" not in item["delivery"] for item in events_stack.stored_events())
    events_stack.deliver()
    assert events_stack.queue_counts() == (0, 0)
    assert events_stack.queue_counts(events_stack.dead_letter_url)[0] == 2


def test_after_a_rotation_both_secrets_sign_each_webhook(api, stack, events_stack):
    # given the secret rotated with put-secret-value (the old one becomes AWSPREVIOUS)
    new_secret = "N" * 24 + "ew0123456789abcdefABCDEF"
    aws_client("secretsmanager").put_secret_value(SecretId=events_stack.secret_id, SecretString=new_secret)
    wiring.reset()  # a new execution environment (or 5 minutes later): no cached keys
    order_id = paid_order_published(api, stack, events_stack)

    events_stack.deliver()

    # then a merchant on either secret verifies every webhook
    received = events_stack.receiver.of_order(order_id)
    assert len(received) == 2
    for webhook in received:
        assert len(webhook.headers["webhook-signature"].split(" ")) == 2
        for secret in (events_stack.secret, new_secret):
            assert Webhook("whsec_" + secret).verify(webhook.body, webhook.headers)


@pytest.mark.parametrize("body", ["not json", "{}", json.dumps({"event_id": "evt_" + "0" * 32})])
def test_a_message_naming_no_known_event_is_dropped(events_stack, body):
    aws_client("sqs").send_message(QueueUrl=events_stack.queue_url, MessageBody=body)

    events_stack.deliver()

    assert events_stack.queue_counts() == (0, 0)
    assert events_stack.receiver.received == []


def test_when_sqs_cannot_postpone_a_failed_webhook_its_record_still_says_retrying(
    api, stack, events_stack, aws_faults, caplog
):
    # given the merchant answering 500 once, and SQS refusing to hide the message for its wait
    wiring.reset()  # clients from the session the faults hook
    open_session(api, stack, new_order_id())
    events_stack.publish()
    events_stack.receiver.answer_next(500)
    aws_faults.fail_always("sqs", "ChangeMessageVisibility", "InternalError")

    # when the webhook is attempted
    (message,) = received_messages(events_stack, 1)
    answer = events_stack.invoke("WebhookDeliveryFunction", {"Records": [message]})

    # then it is reported failed (SQS offers it again after the queue's own visibility timeout,
    # merely early), its attempt is recorded with its next one, and the lost wait is logged
    assert answer == {"batchItemFailures": [{"itemIdentifier": message["messageId"]}]}
    (item,) = events_stack.stored_events()
    assert (item["delivery"]["state"], item["delivery"]["last_status_code"]) == ("retrying", 500)
    assert item["delivery"]["next_attempt_at"] > item["delivery"]["last_attempt_at"]
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert "could not postpone the webhook's next attempt" in warnings


def put_webhook_secret(events_stack, value: str) -> None:
    aws_client("secretsmanager").put_secret_value(SecretId=events_stack.secret_id, SecretString=value)
    wiring.reset()  # a new execution environment: no cached keys


def test_a_rotation_whose_old_value_is_no_usable_key_signs_with_the_new_one_only(api, stack, events_stack, caplog):
    # given a mistyped value put first, then the right one: the mistyped one is now AWSPREVIOUS
    put_webhook_secret(events_stack, "not base64 !")
    new_secret = "N" * 24 + "ew0123456789abcdefABCDEF"
    put_webhook_secret(events_stack, new_secret)
    events_stack.receiver.set_secret(new_secret)
    order_id = paid_order_published(api, stack, events_stack)

    events_stack.deliver()

    # then every webhook is delivered, signed once, with the current secret; the old value is
    # reported without being quoted
    received = events_stack.receiver.of_order(order_id)
    assert len(received) == 2
    for webhook in received:
        assert webhook.verified
        assert len(webhook.headers["webhook-signature"].split(" ")) == 1
    ignored = [record for record in caplog.records if record.getMessage() == "previous webhook secret ignored"]
    assert ignored and all(record.levelname == "WARNING" for record in ignored)
    assert "not base64 !" not in caplog.text


@pytest.mark.parametrize("value", ["short", "not base64 !"])
def test_a_current_secret_that_is_no_usable_key_sends_nothing_and_keeps_the_webhooks(
    api, stack, events_stack, caplog, value
):
    # given the secret's current value replaced by something that is no key
    put_webhook_secret(events_stack, value)
    paid_order_published(api, stack, events_stack)

    # when the queue is handed over once
    message = received_messages(events_stack, 1)[0]
    answer = events_stack.invoke("WebhookDeliveryFunction", {"Records": [message]})

    # then nothing is sent unsigned or wrongly signed: the message is returned to the queue,
    # no attempt is recorded, and the secret's problem is logged without quoting it
    assert answer == {"batchItemFailures": [{"itemIdentifier": message["messageId"]}]}
    assert events_stack.receiver.received == []
    assert {item["delivery"]["attempts"] for item in events_stack.stored_events()} == {0}
    assert "secret incomplete" in errors_logged(caplog)
    assert value not in caplog.text


def test_without_a_webhook_secret_configured_the_function_fails_and_sends_nothing(
    api, stack, events_stack, monkeypatch
):
    paid_order_published(api, stack, events_stack)
    monkeypatch.delenv("WEBHOOK_SECRET_ID")
    wiring.reset()

    with pytest.raises(ConfigurationUnavailable, match="WEBHOOK_SECRET_ID"):
        events_stack.handlers["WebhookDeliveryFunction"].lambda_handler({"Records": []}, LambdaContext())

    assert events_stack.receiver.received == []

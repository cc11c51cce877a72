"""The stream function, driven by the orders table's own stream (moto) through the template's event
source settings: one event per transition on the bus and in the webhook queue, each recorded once
under its stable id; a retried batch sends the same events again (same ids, same bodies), records
nothing new and loses nothing; a failure is the failing record's alone."""

import json

import pytest

from payments.app.publishing import PUBLISH_TIME_RESERVE_MS
from payments.config import wiring
from payments.domain.errors import ConfigurationUnavailable
from payments.domain.events import EventType, event_id
from tests.support.api import LambdaContext, new_order_id, open_session
from tests.support.aws import SessionHooks, aws_client


def pay(api, sandbox, merchant_order_id: str, outcome: str = "paid") -> str:
    token = open_session(api, sandbox, merchant_order_id)
    assert api.notify_jwt(sandbox.notification_jwt(token, outcome)).status == 200
    return token


class PutEventsFaults:
    """EventBridge answering 200 with FailedEntryCount (it refuses entries one by one, accepting
    the call), on the calls a test plans, and a count of the PutEvents calls made."""

    def __init__(self):
        # One entry per coming call: True refuses it. Calls past the plan are accepted.
        self.plan: list[bool] = []
        self.calls = 0
        self.hooks = SessionHooks()
        self.hooks.register("before-call.events.PutEvents", self._before_call)

    def _before_call(self, **_):
        self.calls += 1
        if not (self.plan and self.plan.pop(0)):
            return None

        class _Http:
            status_code = 200
            headers: dict = {}

        refused = [{"ErrorCode": "InternalFailure", "ErrorMessage": "injected"}]
        return _Http(), {"FailedEntryCount": 1, "Entries": refused, "ResponseMetadata": {}}


@pytest.fixture
def put_events(events_stack):
    faults = PutEventsFaults()
    yield faults
    faults.hooks.remove()


def sequence_numbers(batch: dict) -> list[str]:
    return [record["dynamodb"]["SequenceNumber"] for record in batch["Records"]]


def from_failure(batch: dict, answer: dict) -> dict:
    """The batch Lambda hands over again after `answer`: from its one failed record on (the first
    record carrying an event: the session's creation)."""
    (failure,) = answer["batchItemFailures"]
    failed_at = sequence_numbers(batch).index(failure["itemIdentifier"])
    assert batch["Records"][failed_at]["eventName"] == "MODIFY"
    return {"Records": batch["Records"][failed_at:]}


def test_a_paid_order_publishes_its_session_then_its_payment(api, stack, events_stack):
    # given an order opened and paid through the handlers
    order_id = new_order_id()
    token = pay(api, stack, order_id)

    # when the stream is handed to the stream function
    events_stack.publish()

    # then the bus got one event per transition, in order, with the documented detail-types ...
    on_bus = events_stack.bus_events()
    assert [(event["source"], event["detail-type"]) for event in on_bus] == [
        ("etpay.payments", "Payment Session Created"),
        ("etpay.payments", "Payment Succeeded"),
    ]
    created, paid = (event["detail"] for event in on_bus)
    assert created["id"] == event_id(EventType.SESSION_CREATED, order_id, token)
    assert paid["id"] == event_id(EventType.PAYMENT_SUCCEEDED, order_id, token)
    # ... the payment's order is what GET /orders shows after it, at the transition's own time
    order = api.get_order(order_id).body
    assert paid["data"]["order"] == order
    assert paid["created_at"] == order["updated_at"]
    # ... each is recorded, its webhook pending, and the queue holds one webhook per event
    stored = events_stack.stored_events()
    assert [item["event_id"] for item in stored] == [created["id"], paid["id"]]
    assert all(item["delivery"] == {"state": "pending", "attempts": 0} for item in stored)
    assert json.loads(stored[1]["body"]) == paid
    assert events_stack.queue_counts() == (2, 0)


def test_a_failed_session_and_its_replacement_are_events_too(api, stack, events_stack):
    order_id = new_order_id()
    pay(api, stack, order_id, "failed")
    second = open_session(api, stack, order_id)

    events_stack.publish()

    assert [event["detail"]["type"] for event in events_stack.bus_events()] == [
        "session.created",
        "payment.failed",
        "session.created",
    ]
    assert events_stack.stored_events()[-1]["event_id"] == event_id(EventType.SESSION_CREATED, order_id, second)


def test_a_refused_session_request_publishes_nothing(api, stack, events_stack):
    # given ETpay refusing a new order's session: its claim is written, then deleted
    stack.fail_next_initialize("error", status=500)
    assert api.create_session({"merchant_order_id": new_order_id(), "order_amount": 1000}).status == 502

    events_stack.publish()

    assert events_stack.bus_events() == []
    assert events_stack.stored_events() == []


def test_a_retried_batch_sends_the_same_events_again_and_records_nothing_new(api, stack, events_stack, put_events):
    # given an order's events, published once
    pay(api, stack, new_order_id())
    events_stack.publish()
    first = [event["detail"] for event in events_stack.bus_events()]
    stored = events_stack.stored_events()

    # when Lambda hands the same records over again (a retry, or a replay of the stream)
    assert events_stack.invoke("EventPublisherFunction", events_stack.stream_batch()) == {"batchItemFailures": []}

    # then the same events go out again, byte for byte (consumers dedupe on the id), their
    # webhooks queued again, and the events table is as it was: each event written once
    assert [event["detail"] for event in events_stack.bus_events()] == first
    assert events_stack.queue_counts() == (4, 0)
    assert events_stack.stored_events() == stored


def test_an_entry_eventbridge_refuses_fails_its_record_only_and_goes_out_once_on_retry(
    api, stack, events_stack, put_events
):
    # given two paid orders' records in one batch, and EventBridge refusing the second entry
    pay(api, stack, new_order_id())
    pay(api, stack, new_order_id())
    batch = events_stack.stream_batch()
    put_events.plan = [False, True]

    # when the batch is handed over
    answer = events_stack.invoke("EventPublisherFunction", batch)

    # then the record whose event was refused is the batch's failure, with what precedes it done:
    # the refused event is recorded but went nowhere
    (failure,) = answer["batchItemFailures"]
    failed_at = sequence_numbers(batch).index(failure["itemIdentifier"])
    assert failed_at > 0
    first_round = [event["detail"]["id"] for event in events_stack.bus_events()]
    stored = [item["event_id"] for item in events_stack.stored_events()]
    (refused,) = set(stored) - set(first_round)
    assert events_stack.queue_counts() == (len(first_round), 0)

    # when Lambda retries from that record
    calls = put_events.calls
    retry = {"Records": batch["Records"][failed_at:]}
    assert events_stack.invoke("EventPublisherFunction", retry) == {"batchItemFailures": []}

    # then the refused event goes out first, followed by those not attempted yet, each once, and
    # every event of both orders has been on the bus and in the queue
    second_round = [event["detail"]["id"] for event in events_stack.bus_events()]
    assert second_round[0] == refused
    assert len(second_round) == len(set(second_round)) == put_events.calls - calls == 3
    assert set(first_round) | set(second_round) == {item["event_id"] for item in events_stack.stored_events()}
    assert events_stack.queue_counts() == (4, 0)


def test_sqs_failing_after_eventbridge_accepted_loses_no_webhook(api, stack, events_stack, aws_faults):
    # given the webhook queue failing once, after EventBridge accepted the event
    pay(api, stack, new_order_id())
    aws_faults.fail_next("sqs", "SendMessage", "InternalError")

    # when the stream is handed over (the failed record retried, as the event source does)
    events_stack.publish()

    # then the retry put the event on the bus again (the same id and body: at least once), and
    # every event's webhook is queued once
    details = [event["detail"] for event in events_stack.bus_events()]
    assert len({detail["id"] for detail in details}) == 2
    assert len(details) == 3 and details[0] == details[1]
    assert events_stack.queue_counts() == (2, 0)
    assert len(events_stack.invocations["EventPublisherFunction"]) >= 2


def test_with_webhooks_off_the_events_still_reach_the_bus(api, stack, events_stack, monkeypatch):
    monkeypatch.delenv("WEBHOOK_QUEUE_URL")
    wiring.reset()
    pay(api, stack, new_order_id())

    events_stack.publish()

    assert len(events_stack.bus_events()) == 2
    assert events_stack.queue_counts() == (0, 0)
    assert {item["delivery"]["state"] for item in events_stack.stored_events()} == {"disabled"}


def test_an_item_of_another_kind_never_reaches_the_function(stack, events_stack):
    # given an item that is not an order (the filter admits pk ORDER#... only)
    aws_client("dynamodb").put_item(
        TableName="etpay-orders-test", Item={"pk": {"S": "MERCHANT#settings"}, "kind": {"S": "settings"}}
    )

    assert events_stack.publish() == 0


def test_eventbridge_down_fails_the_record_and_the_retry_publishes_it_once(
    api, stack, events_stack, aws_faults, caplog
):
    # given EventBridge answering every attempt of one PutEvents call with a 5xx
    wiring.reset()  # clients from the session the faults hook
    pay(api, stack, new_order_id())
    batch = events_stack.stream_batch()
    aws_faults.fail_next("eventbridge", "PutEvents", "InternalFailure", times=3)

    # when the batch is handed over
    answer = events_stack.invoke("EventPublisherFunction", batch)

    # then the session's record is the batch's failure: its event is stored, but neither
    # published nor queued, and the outage is logged with its code
    retry = from_failure(batch, answer)
    assert aws_faults.count("eventbridge", "PutEvents") == 3
    assert len(events_stack.stored_events()) == 1
    assert events_stack.bus_events() == []
    assert events_stack.queue_counts() == (0, 0)
    assert "EventBridge call failed" in [record.getMessage() for record in caplog.records]

    # when Lambda retries from that record, EventBridge back: each event goes out once
    assert events_stack.invoke("EventPublisherFunction", retry) == {"batchItemFailures": []}
    assert len(events_stack.bus_events()) == 2
    assert events_stack.queue_counts() == (2, 0)


def test_an_event_dynamodb_says_exists_but_cannot_be_read_back_is_retried_not_sent(
    api, stack, events_stack, aws_faults
):
    # given DynamoDB refusing the event's PutItem as already there, and no item to read back
    wiring.reset()
    pay(api, stack, new_order_id())
    batch = events_stack.stream_batch()
    aws_faults.fail_next("dynamodb", "PutItem", "ConditionalCheckFailedException")

    # when the batch is handed over
    answer = events_stack.invoke("EventPublisherFunction", batch)

    # then nothing goes out with a body nobody recorded; the record is retried
    retry = from_failure(batch, answer)
    assert events_stack.bus_events() == []
    assert events_stack.queue_counts() == (0, 0)
    assert events_stack.invoke("EventPublisherFunction", retry) == {"batchItemFailures": []}
    assert len(events_stack.bus_events()) == 2


class ShortOfTime(LambdaContext):
    """An invocation with less time left than the function keeps in reserve."""

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return PUBLISH_TIME_RESERVE_MS - 1


def test_with_too_little_time_left_nothing_is_started_and_the_whole_batch_is_retried(api, stack, events_stack):
    pay(api, stack, new_order_id())
    batch = events_stack.stream_batch()

    answer = events_stack.handlers["EventPublisherFunction"].lambda_handler(batch, ShortOfTime())

    assert answer == {"batchItemFailures": [{"itemIdentifier": sequence_numbers(batch)[0]}]}
    assert events_stack.stored_events() == []
    assert events_stack.bus_events() == []


def test_without_a_bus_configured_the_function_fails_and_publishes_nothing(api, stack, events_stack, monkeypatch):
    # Every record stays on the stream (retried) rather than being acknowledged unpublished.
    monkeypatch.delenv("EVENT_BUS_NAME")
    wiring.reset()
    pay(api, stack, new_order_id())

    with pytest.raises(ConfigurationUnavailable, match="EVENT_BUS_NAME"):
        events_stack.handlers["EventPublisherFunction"].lambda_handler(events_stack.stream_batch(), LambdaContext())

    assert events_stack.stored_events() == []
    assert events_stack.queue_counts() == (0, 0)


def test_a_review_resolved_then_reopened_publishes_each_step_once(api, stack, events_stack):
    # given an order paid, flagged failed_after_paid, resolved, then flagged again for the same reason
    order_id = new_order_id()
    token = pay(api, stack, order_id)
    failed_again = stack.notification_jwt(token, "failed")
    assert api.notify_jwt(failed_again).status == 200
    resolved = api.resolve_review(order_id, {"resolution": "confirmed_with_etpay", "note": "ETpay: the money arrived"})
    assert resolved.status == 200
    assert api.notify_jwt(failed_again).status == 200

    # when the stream is handed to the stream function
    events_stack.publish()

    # then the bus got the review's steps, the reopened review with an id of its own
    review_events = [
        event["detail"] for event in events_stack.bus_events() if event["detail-type"].startswith("Order Review")
    ]
    assert [(event["type"], event["id"]) for event in review_events] == [
        ("order.review_required", event_id(EventType.ORDER_REVIEW_REQUIRED, order_id, "failed_after_paid")),
        ("order.review_resolved", event_id(EventType.ORDER_REVIEW_RESOLVED, order_id, "1")),
        ("order.review_required", event_id(EventType.ORDER_REVIEW_REQUIRED, order_id, "failed_after_paid#2")),
    ]
    required, resolution, reopened = review_events
    assert resolution["created_at"] == resolved.body["reviews"][0]["resolved_at"]
    assert resolution["data"]["order"]["review"] == {"required": False, "reasons": []}
    # the operator's note is the API's alone
    assert "note" not in resolution["data"]["order"]["reviews"][0]
    assert "ETpay: the money arrived" not in json.dumps(review_events)
    assert reopened["data"]["order"]["review"] == {"required": True, "reasons": ["failed_after_paid"]}
    assert [review["state"] for review in reopened["data"]["order"]["reviews"]] == ["resolved", "open"]

"""The retry schedule run for real, on a simulated clock: the delivery service (its real signing,
HTTP and delivery records) against a merchant endpoint on 127.0.0.1 that is down for an hour,
answers 500, or hangs, with a queue that behaves as SQS does (a receive hides a message for the
visibility timeout, ChangeMessageVisibility moves its next receive, maxReceiveCount dead-letters
it). No real hour passes: the queue's and the merchant's clocks are the simulated one."""

import random
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import standardwebhooks.webhooks

from payments.adapters.event_store import EventStore
from payments.adapters.webhook_http import WebhookSender
from payments.adapters.webhook_keys import load_signing_keys
from payments.app.delivery import WebhookDelivery
from payments.domain.webhooks import (
    WEBHOOK_MAX_RECEIVES,
    WEBHOOK_QUEUE_VISIBILITY_SECONDS,
    QueuedWebhook,
    retry_base_seconds,
)
from tests.support.api import new_order_id, open_session
from tests.support.aws import EVENTS_TABLE_NAME

HOUR = 3600
THREE_DAYS = 3 * 24 * 3600
# Short, so a hanging merchant costs the test a fraction of a second (the stack waits 10 s).
SENDER_TIMEOUT_SECONDS = 0.3
HANG_SECONDS = 1.0
MAX_ROUNDS = 500


class SimulatedClock:
    def __init__(self):
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)

    def merchant_datetime(self):
        """The `datetime` standardwebhooks checks timestamps with, reading this clock."""
        clock = self

        class MerchantDatetime(datetime):
            @classmethod
            def now(cls, tz=None):
                return datetime.fromtimestamp(clock.now, tz)

        return MerchantDatetime


@dataclass
class Message:
    id: str
    event_id: str
    visible_at: float
    receives: int = 0
    receipt: str = ""


class SimulatedQueue:
    """SQS's part in a webhook's retries, on a simulated clock."""

    def __init__(self, clock: SimulatedClock):
        self._clock = clock
        self.messages: dict[str, Message] = {}
        self.dead_letters: list[Message] = []
        self.receive_times: dict[str, list[float]] = {}

    def send(self, event_id: str, redelivery: bool = False) -> None:
        message_id = f"m{len(self.messages) + len(self.dead_letters)}"
        self.messages[message_id] = Message(message_id, event_id, self._clock.now)

    def next_visible(self) -> float | None:
        return min((message.visible_at for message in self.messages.values()), default=None)

    def receive(self, limit: int = 10) -> list[QueuedWebhook]:
        batch: list[QueuedWebhook] = []
        for message in sorted(self.messages.values(), key=lambda message: message.visible_at):
            if message.visible_at > self._clock.now or len(batch) == limit:
                continue
            if message.receives >= WEBHOOK_MAX_RECEIVES:  # the redrive policy
                self.dead_letters.append(self.messages.pop(message.id))
                continue
            message.receives += 1
            message.receipt = f"{message.id}/{message.receives}"
            message.visible_at = self._clock.now + WEBHOOK_QUEUE_VISIBILITY_SECONDS
            self.receive_times.setdefault(message.event_id, []).append(self._clock.now)
            batch.append(QueuedWebhook(message.id, message.receipt, message.event_id, message.receives))
        return batch

    def retry_after(self, receipt_handle: str, seconds: int) -> bool:
        message = next(message for message in self.messages.values() if message.receipt == receipt_handle)
        message.visible_at = self._clock.now + seconds
        return True

    def settle(self, batch: list[QueuedWebhook], failed: list[str]) -> None:
        """As the event source does: delete what succeeded."""
        for webhook in batch:
            if webhook.message_id not in failed:
                del self.messages[webhook.message_id]


@pytest.fixture
def clock(monkeypatch) -> SimulatedClock:
    simulated = SimulatedClock()
    # The merchant checks webhook-timestamp against its own (simulated) clock.
    monkeypatch.setattr(standardwebhooks.webhooks, "datetime", simulated.merchant_datetime())
    return simulated


@pytest.fixture
def world(api, stack, events_stack, clock):
    """Three paid orders' events recorded and waiting in a simulated queue."""
    for _ in range(3):
        order_id = new_order_id()
        token = open_session(api, stack, order_id)
        assert api.notify_jwt(stack.notification_jwt(token, "paid")).status == 200
    events_stack.publish()
    queue = SimulatedQueue(clock)
    for item in events_stack.stored_events():
        queue.send(item["event_id"])
    return queue


def seeded_jitter(seed: int):
    """Draws for the jitter, the same every run."""
    return random.Random(seed).random  # noqa: S311 - jitter, not a secret


def delivery_service(queue: SimulatedQueue, clock: SimulatedClock, events_stack, draw) -> WebhookDelivery:
    return WebhookDelivery(
        store=EventStore(EVENTS_TABLE_NAME),
        url=events_stack.receiver.url,
        keys=lambda: load_signing_keys(events_stack.secret_id),
        sender=WebhookSender(timeout_seconds=SENDER_TIMEOUT_SECONDS),
        queue=queue,
        clock=clock,
        draw=draw,
    )


def run(queue: SimulatedQueue, clock: SimulatedClock, delivery: WebhookDelivery, before_round=lambda: None) -> None:
    """Move the clock to each next visible message and hand the visible ones over, until the
    queue is empty."""
    for _ in range(MAX_ROUNDS):
        visible_at = queue.next_visible()
        if visible_at is None:
            return
        clock.now = max(clock.now, visible_at)
        before_round()
        batch = queue.receive()
        queue.settle(batch, delivery.deliver_batch(batch))
    raise AssertionError(f"messages still queued after {MAX_ROUNDS} rounds")


def event_ids(events_stack) -> set[str]:
    return {item["event_id"] for item in events_stack.stored_events()}


def test_a_merchant_down_for_an_hour_gets_every_event_afterwards(world, clock, events_stack):
    # given the merchant's endpoint refusing connections for the first hour
    receiver = events_stack.receiver
    receiver.stop()
    started = clock.now

    def merchant_back_after_an_hour():
        if clock.now - started >= HOUR and not receiver.running:
            receiver.start()

    # when the queue runs its schedule
    run(world, clock, delivery_service(world, clock, events_stack, seeded_jitter(7)), merchant_back_after_an_hour)

    # then every event arrived after the hour, at least once, each signature verified
    received = receiver.received
    assert {webhook.id for webhook in received} == event_ids(events_stack)
    assert all(webhook.verified for webhook in received), [webhook.problem for webhook in received]
    assert all(int(webhook.headers["webhook-timestamp"]) >= started + HOUR for webhook in received)
    assert world.dead_letters == []
    # ... by the retry schedule: several attempts in the hour, the last wait before success no
    # longer than the schedule's wait at that attempt
    for item in events_stack.stored_events():
        assert item["delivery"]["state"] == "delivered"
        attempts = int(item["delivery"]["attempts"])
        assert 6 <= attempts <= 9
        times = world.receive_times[item["event_id"]]
        assert times[-2] < started + HOUR <= times[-1]
        assert times[-1] - times[-2] <= retry_base_seconds(attempts - 1)


def test_500s_and_hangs_are_retried_until_the_merchant_answers_2xx(world, clock, events_stack):
    # given the merchant answering 500 to the first round, hanging past the timeout on the second
    receiver = events_stack.receiver
    receiver.answer_next(500, times=6)
    receiver.hang_next(HANG_SECONDS, times=6)
    seen: list[set] = []

    def note_states():
        seen.append(
            {
                (
                    item["delivery"]["state"],
                    item["delivery"].get("last_status_code"),
                    item["delivery"].get("last_error"),
                )
                for item in events_stack.stored_events()
            }
        )

    # when the queue runs its schedule
    run(world, clock, delivery_service(world, clock, events_stack, seeded_jitter(11)), note_states)

    # then the records went through the 500s and the timeouts, and every event was delivered
    assert any(("retrying", 500, None) in states for states in seen)
    assert any(("retrying", None, "timeout") in states for states in seen)
    assert {item["delivery"]["state"] for item in events_stack.stored_events()} == {"delivered"}
    verified = {webhook.id for webhook in receiver.received if webhook.verified}
    assert verified == event_ids(events_stack)


def test_a_merchant_that_never_answers_is_retried_three_days_even_with_the_worst_jitter(world, clock, events_stack):
    # given a merchant endpoint that is never up, and every wait drawing the shortest jitter
    events_stack.receiver.stop()
    first_receive = clock.now

    # when the queue runs its schedule to the end
    run(world, clock, delivery_service(world, clock, events_stack, lambda: 0.999999))

    # then each webhook was tried WEBHOOK_MAX_RECEIVES times over at least three days, then dead-lettered
    assert len(world.dead_letters) == len(event_ids(events_stack))
    for times in world.receive_times.values():
        assert len(times) == WEBHOOK_MAX_RECEIVES
        assert times[-1] - first_receive >= THREE_DAYS
    assert {item["delivery"]["state"] for item in events_stack.stored_events()} == {"failed"}

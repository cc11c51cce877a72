"""From the orders table's change stream to the merchant's systems: each stream record's
transitions become events, each recorded in the events table under its stable id (written once),
put on the EventBridge bus and (with webhooks on) queued for delivery. At least once: a retried
batch sends an event again with the same id and body, and consumers dedupe on the id."""

import traceback
from collections.abc import Callable, Mapping
from typing import Any

from payments.app import telemetry
from payments.app.ports import EventBus, EventLog, WebhookQueue
from payments.app.telemetry import logger
from payments.domain.clock import Clock, iso_utc, utc_now
from payments.domain.events import DeliveryState, ItemChange, OrderEvent, OrderSnapshot, derive_events

# The stream function stops starting new records when less than this is left of its timeout
# (60 s in template.yaml): one record with two events can take that long when every AWS call
# needs its retries. The rest of the batch is retried from the first record not published.
PUBLISH_TIME_RESERVE_MS = 15_000


# How the order store's change stream images are read (its codec).
type ReadImage = Callable[[Mapping[str, Any] | None], OrderSnapshot | None]


class EventPublisher:
    def __init__(
        self,
        store: EventLog,
        bus: EventBus,
        queue: WebhookQueue | None,
        read_image: ReadImage,
        stack: str = "",
        clock: Clock = utc_now,
    ):
        self._store = store
        self._bus = bus
        self._read_image = read_image
        # The stack's id: part of every event's id.
        self._stack = stack
        # None: the stack has no MerchantWebhookUrl.
        self._queue = queue
        self._clock = clock

    def publish_changes(self, changes: list[ItemChange], has_time: Callable[[], bool]) -> list[str]:
        """Publish every event of `changes`, in order. Returns the sequence number of the first
        record not fully published (the event source retries from it), or nothing."""
        for change in changes:
            if not has_time():
                logger.warning("too little time left; the rest of the batch is retried")
                return [change.sequence_number]
            try:
                events = derive_events(self._read_image(change.before), self._read_image(change.after), self._stack)
                for event in events:
                    self.publish(event)
            except Exception as error:  # noqa: BLE001 - whatever failed, this record is the batch's failure
                # Where, not the message or traceback: those could quote the images (signature tokens).
                frame = traceback.extract_tb(error.__traceback__)[-1]
                logger.error(
                    "stream record not published; retried",
                    extra={
                        "error_type": type(error).__name__,
                        "error_at": f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} {frame.name}",
                        "sequence_number": change.sequence_number,
                    },
                )
                return [change.sequence_number]
        return []

    def publish(self, event: OrderEvent) -> None:
        context = {"event_id": event.id, "event_type": event.type.value, "merchant_order_id": event.merchant_order_id}
        stored = self._store.record(event, webhooks=self._queue is not None, now=iso_utc(self._clock()))
        self._bus.put(stored)
        # A retried batch finds the event recorded, and cannot know what went out: the bus gets it
        # again (its consumers dedupe on the id), the webhook unless it was delivered already.
        queue = self._queue if stored.delivery.state is not DeliveryState.DELIVERED else None
        if queue is not None:
            queue.send(stored.id)
        telemetry.count(telemetry.EVENT_PUBLISHED)
        # What went out is in the events table and counted (EventPublished): at INFO the logs carry
        # what went wrong only, a third of the events' cost otherwise (docs/BENCHMARKS.md).
        logger.debug("event published", extra={**context, "queued_for_webhook": queue is not None})

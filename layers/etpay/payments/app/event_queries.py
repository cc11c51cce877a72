"""The merchant's view of the events: one event and its delivery record, an order's events, and
sending an event's webhook again. Knows nothing of API Gateway."""

from dataclasses import dataclass

from payments.app.ports import EventLog, OrderHistory, WebhookQueue
from payments.app.telemetry import logger
from payments.domain.clock import Clock, utc_now
from payments.domain.errors import (
    ConcurrentUpdate,
    EventNotFound,
    OrderBusy,
    OrderNotFound,
    RedeliveryTooSoon,
    WebhooksDisabled,
)
from payments.domain.events import Redeliver, StoredEvent, TooSoon, decide_redelivery, event_ids_of
from payments.domain.policy import MAX_DECISION_ATTEMPTS


@dataclass(frozen=True)
class RedeliveryResult:
    """What a redelivery request did."""

    event: StoredEvent
    # False: a redelivery was already pending, and the request joined it (nothing new queued).
    queued: bool


class EventQueries:
    def __init__(
        self,
        store: EventLog,
        orders: OrderHistory,
        queue: WebhookQueue | None,
        stack: str = "",
        clock: Clock = utc_now,
    ):
        self._store = store
        self._orders = orders
        # None: the stack has no MerchantWebhookUrl.
        self._queue = queue
        # The stack's id: part of every event's id.
        self._stack = stack
        self._clock = clock

    def get_event(self, event_id: str) -> StoredEvent:
        event = self._store.get(event_id)
        if event is None:
            raise EventNotFound(f"no event {event_id}")
        return event

    def order_events(self, merchant_order_id: str) -> list[StoredEvent]:
        """The order's events, oldest first, read by the ids its item names; none yet for an order
        whose first ones are still on their way (a fraction of a second after its transition),
        and none of those DynamoDB's TTL removed."""
        snapshot = self._orders.snapshot(merchant_order_id)
        if snapshot is None or snapshot.order is None:
            raise OrderNotFound(f"no order {merchant_order_id}")
        return self._store.many(event_ids_of(snapshot, self._stack))

    def redeliver(self, event_id: str, requested_by: str) -> RedeliveryResult:
        """Queue the event's webhook again, whatever became of the earlier ones; a request while a
        redelivery is still pending joins it, and one too soon after the last accepted one is
        refused (RedeliveryTooSoon). Every request is recorded, with who made it."""
        if self._queue is None:
            raise WebhooksDisabled("webhooks are off: this stack was deployed without MerchantWebhookUrl")
        for _ in range(MAX_DECISION_ATTEMPTS):
            event = self.get_event(event_id)
            decision = decide_redelivery(event.delivery, requested_by, self._clock())
            if isinstance(decision, TooSoon):
                raise RedeliveryTooSoon(
                    f"a redelivery of {event_id} was accepted less than a minute ago; retry later",
                    retry_after_seconds=decision.retry_after_seconds,
                )
            if isinstance(decision, Redeliver):
                # Queued before it is recorded: a request recorded is one whose message went out
                # (a lost race then queues one message more, which the merchant dedupes).
                self._queue.send(event.id, redelivery=True)
            try:
                recorded = self._store.request_redelivery(event.id, event.delivery, decision.delivery)
            except ConcurrentUpdate:
                logger.info("redelivery request lost a race; deciding again", extra={"event_id": event.id})
                continue
            queued = isinstance(decision, Redeliver)
            logger.info(
                "webhook redelivery queued" if queued else "webhook redelivery already pending",
                extra={"event_id": event.id, "event_type": event.type.value, "requested_by": requested_by},
            )
            return RedeliveryResult(recorded, queued=queued)
        raise OrderBusy("the event's delivery record keeps changing; retry the request")

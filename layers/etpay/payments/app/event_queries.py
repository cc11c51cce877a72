"""The merchant's view of the events: one event and its delivery record, an order's events, and
sending an event's webhook again. Knows nothing of API Gateway."""

from payments.app.ports import EventLog, OrderStore, WebhookQueue
from payments.app.telemetry import logger
from payments.domain.clock import Clock, iso_utc, utc_now
from payments.domain.errors import ConcurrentUpdate, EventNotFound, OrderNotFound, WebhooksDisabled
from payments.domain.events import StoredEvent


class EventQueries:
    def __init__(
        self,
        store: EventLog,
        orders: OrderStore,
        queue: WebhookQueue | None,
        clock: Clock = utc_now,
    ):
        self._store = store
        self._orders = orders
        # None: the stack has no MerchantWebhookUrl.
        self._queue = queue
        self._clock = clock

    def get_event(self, event_id: str) -> StoredEvent:
        event = self._store.get(event_id)
        if event is None:
            raise EventNotFound(f"no event {event_id}")
        return event

    def order_events(self, merchant_order_id: str) -> list[StoredEvent]:
        """The order's events, oldest first; none yet for an order whose first ones are still on
        their way (a fraction of a second after its transition)."""
        events = self._store.for_order(merchant_order_id)
        if not events and self._orders.get_order(merchant_order_id) is None:
            raise OrderNotFound(f"no order {merchant_order_id}")
        return events

    def redeliver(self, event_id: str) -> StoredEvent:
        """Queue the event's webhook again, whatever became of the earlier ones."""
        if self._queue is None:
            raise WebhooksDisabled("webhooks are off: this stack was deployed without MerchantWebhookUrl")
        event = self.get_event(event_id)
        # The request's time is taken before the message can be delivered: a delivery finishing
        # before the request is noted is still seen as the answer to it.
        requested_at = iso_utc(self._clock())
        self._queue.send(event.id, redelivery=True)
        try:
            requested = self._store.request_redelivery(event.id, requested_at)
        except ConcurrentUpdate:
            raise EventNotFound(f"no event {event_id}") from None
        logger.info(
            "webhook redelivery queued",
            extra={"event_id": event.id, "event_type": event.type.value, "merchant_order_id": event.merchant_order_id},
        )
        return requested

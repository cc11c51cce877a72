"""What the merchant's systems are told: one event per state transition the orders table records,
and where each event's webhook stands. Pure: no I/O here.

The events are derived from the table's own change stream (a transactional outbox): each stream
record carries an order's item before and after one write, and `derive_events` turns that pair
into the transitions it made. An event exists exactly when its transition was written.

An event's id and body depend only on the transition (the order, the session or review reason,
the new state) and on the item as that write left it, never on when or how often it is processed:
a retried stream batch, or a replay of the stream, gives the same ids and byte-identical bodies.
"""

import enum
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from payments.domain.orders import Order, Status
from payments.domain.views import order_view

# The `source` of every event on the stack's EventBridge bus.
EVENT_SOURCE = "etpay.payments"
EVENT_ID_PREFIX = "evt_"
# Event ids are "evt_" and this many hex digits of a SHA-256 of the transition: 128 bits.
EVENT_ID_HEX_DIGITS = 32
EVENT_ID_PATTERN = re.compile(rf"^{EVENT_ID_PREFIX}[0-9a-f]{{{EVENT_ID_HEX_DIGITS}}}$")
EVENT_ID_RULE = f"{EVENT_ID_PREFIX} followed by {EVENT_ID_HEX_DIGITS} hex digits"


def is_valid_event_id(value: Any) -> bool:
    return isinstance(value, str) and bool(EVENT_ID_PATTERN.fullmatch(value))


class EventType(enum.StrEnum):
    SESSION_CREATED = "session.created"
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    ORDER_REVIEW_REQUIRED = "order.review_required"
    SESSION_EXPIRED = "session.expired"
    ORDER_REVIEW_RESOLVED = "order.review_resolved"

    @property
    def detail_type(self) -> str:
        """EventBridge's `detail-type`: what a rule on the bus matches."""
        return DETAIL_TYPES[self]


DETAIL_TYPES = {
    EventType.SESSION_CREATED: "Payment Session Created",
    EventType.PAYMENT_SUCCEEDED: "Payment Succeeded",
    EventType.PAYMENT_FAILED: "Payment Failed",
    EventType.ORDER_REVIEW_REQUIRED: "Order Review Required",
    EventType.SESSION_EXPIRED: "Payment Session Expired",
    EventType.ORDER_REVIEW_RESOLVED: "Order Review Resolved",
}
# A session status that is an event of its own when a session reaches it.
SESSION_OUTCOME_EVENTS = {Status.FAILED: EventType.PAYMENT_FAILED, Status.EXPIRED: EventType.SESSION_EXPIRED}


@dataclass(frozen=True)
class SessionState:
    """A stored session as far as events care."""

    status: Status
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class OrderSnapshot:
    """An order's item at one instant, as a stream record shows it."""

    # None: the item is only a claim (no session stored yet), not an order for any reader.
    order: Order | None
    sessions: Mapping[str, SessionState] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemChange:
    """One write to an order's item, as the order store's change stream carries it: the item
    before and after (in the store's own format; its codec reads them into OrderSnapshots). The
    images hold signature tokens: nothing keeps or logs them."""

    sequence_number: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None


@dataclass(frozen=True)
class OrderEvent:
    id: str
    type: EventType
    # The transition's own time, from the item (never the time it was processed).
    created_at: str
    # The order as the write that made the transition left it.
    order: Order
    # The session that moved (for a payment or a session event), the review reason (with the
    # review's number from the second review on), or the review's number (for its resolution).
    subject: str

    @property
    def merchant_order_id(self) -> str:
        return self.order.merchant_order_id

    def body(self) -> dict[str, Any]:
        """The event as EventBridge's `detail` and as the webhook's body: `data.order` is exactly
        what GET /orders/{merchant_order_id} answered right after the transition, but for the
        operators' notes on resolved reviews: free text an operator typed stays with the API."""
        return {
            "id": self.id,
            "type": self.type.value,
            "created_at": self.created_at,
            "data": {"order": order_view(self.order, notes=False)},
        }

    def body_json(self) -> str:
        """The body as sent and stored: one serialisation, so every copy is byte-identical (the
        webhook's signature covers these bytes)."""
        return json.dumps(self.body(), separators=(",", ":"), ensure_ascii=False)


def event_id(event_type: EventType, merchant_order_id: str, subject: str) -> str:
    """The id of a transition: the same transition always gets the same id."""
    # The unit separator cannot occur in an order id, a session token or a reason.
    key = "\x1f".join((event_type.value, merchant_order_id, subject))
    return EVENT_ID_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:EVENT_ID_HEX_DIGITS]


def derive_events(before: OrderSnapshot | None, after: OrderSnapshot | None) -> list[OrderEvent]:
    """The transitions one write made to an order's item, `before` and `after` it (None: the item
    did not exist / was deleted). A write that only claims, re-queues or annotates makes none."""
    if after is None or after.order is None:
        return []
    order = after.order
    old_order = before.order if before else None
    old_sessions = before.sessions if before else {}
    events: list[OrderEvent] = []

    def add(event_type: EventType, subject: str, created_at: str) -> None:
        events.append(
            OrderEvent(event_id(event_type, order.merchant_order_id, subject), event_type, created_at, order, subject)
        )

    for token, session in sorted(after.sessions.items(), key=lambda entry: (entry[1].created_at, entry[0])):
        previous = old_sessions.get(token)
        if previous is None:
            add(EventType.SESSION_CREATED, token, session.created_at)
        outcome = SESSION_OUTCOME_EVENTS.get(session.status)
        if outcome is not None and (previous is None or previous.status != session.status):
            add(outcome, token, session.updated_at)

    if order.status is Status.PAID and (old_order is None or old_order.status is not Status.PAID):
        add(EventType.PAYMENT_SUCCEEDED, order.session_token, order.updated_at)

    # A reason raised after a resolution opens the order's next review: the same reason again is
    # a new transition, with an id of its own.
    old_review = old_order.open_review if old_order else None
    current = order.open_review
    if current is not None:
        old_reasons = old_review.reason_set if old_review and old_review.number == current.number else frozenset()
        for reason in sorted(current.reason_set - old_reasons):
            add(EventType.ORDER_REVIEW_REQUIRED, review_reason_subject(reason.value, current.number), order.updated_at)
    old_resolved = {review.number for review in old_order.reviews if not review.is_open} if old_order else set()
    for review in order.reviews:
        if review.resolution is not None and review.number not in old_resolved:
            add(EventType.ORDER_REVIEW_RESOLVED, str(review.number), review.resolution.resolved_at)
    return events


def review_reason_subject(reason: str, review_number: int) -> str:
    """The subject of an order.review_required event: the reason alone in an order's first review
    (as before reviews were numbered, so those ids never change), the reason and the review's
    number after."""
    return reason if review_number == 1 else f"{reason}#{review_number}"


class DeliveryState(enum.StrEnum):
    """Where an event's webhook stands."""

    DISABLED = "disabled"  # the stack has no MerchantWebhookUrl
    PENDING = "pending"  # queued, not attempted yet (or a redelivery was asked for)
    RETRYING = "retrying"  # the last attempt failed; another is scheduled
    DELIVERED = "delivered"  # the merchant answered 2xx
    FAILED = "failed"  # retried for the whole schedule; in the dead-letter queue


@dataclass(frozen=True)
class Delivery:
    # As the last attempt left it (or as recorded: pending, disabled).
    state: DeliveryState
    attempts: int = 0
    last_status_code: int | None = None
    # What went wrong when there was no HTTP status: timeout, connection_error, tls_error.
    last_error: str | None = None
    last_attempt_at: str | None = None
    next_attempt_at: str | None = None
    delivered_at: str | None = None
    # When a redelivery was last asked for (POST /events/{id}/redeliver).
    requested_at: str | None = None

    @property
    def current_state(self) -> DeliveryState:
        """PENDING while a redelivery asked for has not been attempted yet; otherwise as the last
        attempt left it. Derived, not stored: a redelivery request and a delivery attempt never
        overwrite each other, whichever is written last."""
        if self.requested_at is not None and (self.last_attempt_at is None or self.requested_at > self.last_attempt_at):
            return DeliveryState.PENDING
        return self.state


@dataclass(frozen=True)
class StoredEvent:
    """An event as the events table keeps it: the body as published, and its delivery record."""

    id: str
    type: EventType
    merchant_order_id: str
    created_at: str
    body: str
    delivery: Delivery
    published_at: str | None = None
    queued_at: str | None = None

"""What the merchant's systems are told: one event per state transition the orders table records,
and where each event's webhook stands. Pure: no I/O here.

The events are derived from the table's own change stream (a transactional outbox): each stream
record carries an order's item before and after one write, and `derive_events` turns that pair
into the transitions it made. An event exists exactly when its transition was written.

An event's id and body depend only on the stack, the transition (the order, the session or review
reason, the new state) and on the item as that write left it, never on when or how often it is
processed: a retried stream batch, or a replay of the stream, gives the same ids and byte-identical
bodies. The stack is part of the id, so two stacks (sandbox and production, say) sending to the
same merchant never share one.

An order's events are derivable from its item alone (`event_ids_of`): the events API reads the
events of an order by their ids, with no index of its own to write.
"""

import enum
import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from payments.domain.clock import iso_utc, parse_iso
from payments.domain.orders import Order, Status
from payments.domain.views import order_view

# The `source` of every event on the stack's EventBridge bus.
EVENT_SOURCE = "etpay.payments"
EVENT_ID_PREFIX = "evt_"
# Event ids are "evt_" and this many hex digits of a SHA-256 of the transition: 128 bits.
EVENT_ID_HEX_DIGITS = 32
EVENT_ID_PATTERN = re.compile(rf"^{EVENT_ID_PREFIX}[0-9a-f]{{{EVENT_ID_HEX_DIGITS}}}$")
EVENT_ID_RULE = f"{EVENT_ID_PREFIX} followed by {EVENT_ID_HEX_DIGITS} hex digits"
# An operator, as merchant-facing events name them: "op_" and this many hex digits of an HMAC of
# the operator's identity keyed with the stack. Stable per operator, and no ARN leaves the stack.
OPERATOR_REFERENCE_PREFIX = "op_"
OPERATOR_REFERENCE_HEX_DIGITS = 16
# POST /events/{id}/redeliver: a request is accepted at most once per this (from the last accepted
# one; a first request always is). A request while a redelivery is still pending joins it.
REDELIVERY_COOLDOWN_SECONDS = 60
# A redelivery asked for this long ago and never attempted is no longer waited for (its message
# was lost): the next request is accepted.
REDELIVERY_STALE_SECONDS = 15 * 60
# An event keeps the record of this many redelivery requests, the latest.
MAX_REDELIVERY_REQUESTS = 20


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
    """One event published for an order's change of state."""

    id: str
    type: EventType
    # The transition's own time, from the item (never the time it was processed).
    created_at: str
    # The order as the write that made the transition left it.
    order: Order
    # The session that moved (for a payment or a session event), the review reason (with the
    # review's number from the second review on), or the review's number (for its resolution).
    subject: str
    # The stack that made it (its id): part of the event's id and of its operator references.
    stack: str = ""

    @property
    def merchant_order_id(self) -> str:
        return self.order.merchant_order_id

    def body(self) -> dict[str, Any]:
        """The event as EventBridge's `detail` and as the webhook's body: `data.order` is exactly
        what GET /orders/{merchant_order_id} answered right after the transition, but for the
        operators: their notes on resolved reviews (free text) stay with the API, and who resolved
        a review is an opaque reference, not the operator's identity."""
        return {
            "id": self.id,
            "type": self.type.value,
            "created_at": self.created_at,
            "data": {"order": order_view(self.order, notes=False, operator=self.operator_reference)},
        }

    def operator_reference(self, resolved_by: str) -> str:
        return operator_reference(self.stack, resolved_by)

    def body_json(self) -> str:
        """The body as sent and stored: one serialisation, so every copy is byte-identical (the
        webhook's signature covers these bytes)."""
        return json.dumps(self.body(), separators=(",", ":"), ensure_ascii=False)


def event_id(event_type: EventType, merchant_order_id: str, subject: str, stack: str = "") -> str:
    """The id of a transition of a stack: the same transition always gets the same id."""
    # The unit separator cannot occur in a stack id, an order id, a session token or a reason.
    key = "\x1f".join((stack, event_type.value, merchant_order_id, subject))
    return EVENT_ID_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:EVENT_ID_HEX_DIGITS]


def operator_reference(stack: str, resolved_by: str) -> str:
    """Who resolved a review, as merchant-facing events name them: the same reference for the
    same operator of a stack, and nothing a reader can turn back into an identity."""
    digest = hmac.new(stack.encode(), resolved_by.encode(), hashlib.sha256).hexdigest()
    return OPERATOR_REFERENCE_PREFIX + digest[:OPERATOR_REFERENCE_HEX_DIGITS]


def derive_events(before: OrderSnapshot | None, after: OrderSnapshot | None, stack: str = "") -> list[OrderEvent]:
    """The transitions one write made to an order's item, `before` and `after` it (None: the item
    did not exist / was deleted). A write that only claims, re-queues or annotates makes none."""
    if after is None or after.order is None:
        return []
    order = after.order
    old_order = before.order if before else None
    old_sessions = before.sessions if before else {}
    events: list[OrderEvent] = []

    def add(event_type: EventType, subject: str, created_at: str) -> None:
        identity = event_id(event_type, order.merchant_order_id, subject, stack)
        events.append(OrderEvent(identity, event_type, created_at, order, subject, stack))

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


def event_ids_of(snapshot: OrderSnapshot, stack: str = "") -> list[str]:
    """The ids of every event the writes to an order have made so far, read off the order as it
    stands (each event is a state the item keeps: a session that exists or ended, a payment, a
    reason raised in a review, a review resolved), in no particular order."""
    order = snapshot.order
    if order is None:
        return []
    found = [(event.type, event.subject) for event in derive_events(None, snapshot, stack)]
    # derive_events(None, ...) names only the open review's reasons: a resolved review's too.
    for review in order.reviews:
        if review.resolution is not None:
            found += [
                (EventType.ORDER_REVIEW_REQUIRED, review_reason_subject(reason.value, review.number))
                for reason in sorted(review.reason_set)
            ]
    return sorted({event_id(kind, order.merchant_order_id, subject, stack) for kind, subject in found})


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
class RedeliveryRequest:
    """One POST /events/{id}/redeliver: who asked (the caller as API Gateway's authorization
    established it), when, and whether it joined a redelivery already pending."""

    requested_by: str
    requested_at: str
    merged: bool = False


@dataclass(frozen=True)
class Delivery:
    """Where an event's webhook delivery stands."""

    # As the last attempt left it (or as recorded: pending, disabled).
    state: DeliveryState
    attempts: int = 0
    last_status_code: int | None = None
    # What went wrong when there was no HTTP status: timeout, connection_error, tls_error.
    last_error: str | None = None
    last_attempt_at: str | None = None
    next_attempt_at: str | None = None
    delivered_at: str | None = None
    # When the redelivery still pending was asked for (None: none is).
    requested_at: str | None = None
    # The redelivery requests, oldest first (the last MAX_REDELIVERY_REQUESTS).
    requests: tuple[RedeliveryRequest, ...] = ()

    @property
    def current_state(self) -> DeliveryState:
        """PENDING while a redelivery asked for has not been attempted yet; otherwise as the last
        attempt left it. Derived, not stored: a redelivery request and a delivery attempt never
        overwrite each other, whichever is written last."""
        if self.requested_at is not None and (self.last_attempt_at is None or self.requested_at > self.last_attempt_at):
            return DeliveryState.PENDING
        return self.state

    @property
    def last_accepted_at(self) -> str | None:
        """When the last redelivery request that queued one was made."""
        return next((request.requested_at for request in reversed(self.requests) if not request.merged), None)


@dataclass(frozen=True)
class StoredEvent:
    """An event as the events table keeps it: the body as published, and its delivery record."""

    id: str
    type: EventType
    merchant_order_id: str
    created_at: str
    body: str
    delivery: Delivery


@dataclass(frozen=True)
class Redeliver:
    """Queue the webhook again, and record the request (`delivery`: the record after it)."""

    delivery: Delivery


@dataclass(frozen=True)
class JoinPending:
    """A redelivery is already pending: nothing new is queued; the request is recorded with it."""

    delivery: Delivery


@dataclass(frozen=True)
class TooSoon:
    """Refused: the last accepted request was less than the cooldown ago."""

    retry_after_seconds: int


type RedeliveryDecision = Redeliver | JoinPending | TooSoon


def decide_redelivery(delivery: Delivery, requested_by: str, now: datetime) -> RedeliveryDecision:
    """What POST /events/{id}/redeliver does, given the event's delivery record."""
    at = iso_utc(now)
    # A redelivery asked for and not attempted yet (but one never attempted for this long lost its
    # message). The event's first webhook still pending is no redelivery: a request queues one.
    pending = (
        delivery.requested_at is not None
        and delivery.current_state is DeliveryState.PENDING
        and now - parse_iso(delivery.requested_at) < timedelta(seconds=REDELIVERY_STALE_SECONDS)
    )
    if pending:
        return JoinPending(_with_request(delivery, RedeliveryRequest(requested_by, at, merged=True)))
    last = delivery.last_accepted_at
    if last is not None:
        wait = parse_iso(last) + timedelta(seconds=REDELIVERY_COOLDOWN_SECONDS) - now
        if wait > timedelta(0):
            return TooSoon(math.ceil(wait.total_seconds()))
    accepted = _with_request(delivery, RedeliveryRequest(requested_by, at))
    return Redeliver(replace(accepted, requested_at=at))


def _with_request(delivery: Delivery, request: RedeliveryRequest) -> Delivery:
    return replace(delivery, requests=(*delivery.requests, request)[-MAX_REDELIVERY_REQUESTS:])

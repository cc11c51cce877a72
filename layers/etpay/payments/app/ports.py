"""What the use cases need from the outside world, as protocols: the order store and its indexes,
the events table, the bus and queues, ETpay, the notification key. `payments.adapters` implements
them for AWS; tests may hand in their own. Only domain types cross a port, and every failure is a
domain error (`payments.domain.errors`): a lost conditional write is ConcurrentUpdate, an outage
StorageUnavailable, a missing or broken secret ConfigurationUnavailable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

# Types only: a function imports the ports of every use case, and loads only its own use case's code.
if TYPE_CHECKING:
    from etpay.credentials import Credentials
    from etpay.sessions import CreatedSession, SessionRequest
    from payments.domain.checks import CheckTask, DueCheck
    from payments.domain.events import Delivery, DeliveryState, OrderEvent, OrderSnapshot, StoredEvent
    from payments.domain.orders import Order, PaymentSession, StoredOrder
    from payments.domain.reviews import QueuedReview, QueuePosition, ReviewChange
    from payments.domain.webhooks import AttemptOutcome


class SessionClaims(Protocol):
    """Opening an order's next session: the claim that gives one request the right to ask ETpay,
    and the session ETpay opened stored with the claim released. Each is one conditional write; a
    refused claim answers with what is stored (None: the claim is ours)."""

    def get_stored_order(self, merchant_order_id: str) -> StoredOrder | None: ...

    def claim_new_order(
        self, merchant_order_id: str, order_amount: int, currency: str, claim_id: str, now: datetime
    ) -> StoredOrder | None: ...

    def claim_next_session(self, order: Order, claim_id: str, now: datetime) -> StoredOrder | None: ...

    def release_claim(self, merchant_order_id: str, claim_id: str, new_order: bool) -> None: ...

    def open_session(
        self, order: Order, session: PaymentSession, claim_id: str, replaces: str | None, first_check: datetime
    ) -> None: ...


class OrderStore(Protocol):
    """Orders and their sessions. Every write is one conditional write of one order, carried out
    only if the order (and the session) are still as the decision read them: ConcurrentUpdate
    otherwise."""

    def get_order(self, merchant_order_id: str) -> Order | None: ...

    def get_order_and_session(
        self, merchant_order_id: str, session_token: str | None = None, *, signature: bool = False
    ) -> tuple[Order, PaymentSession] | None: ...

    def mark_paid(self, order: Order, session: PaymentSession, payment_token: str | None, now: datetime) -> None: ...

    def mark_failed(
        self, order: Order, session: PaymentSession, payment_token: str | None, now: datetime, fail_order: bool
    ) -> None: ...

    def record_double_payment(
        self,
        order: Order,
        session: PaymentSession,
        payment_token: str | None,
        review: ReviewChange | None,
        now: datetime,
    ) -> None: ...

    def expire(self, order: Order, session: PaymentSession, now: datetime, expire_order: bool) -> None: ...

    def flag_for_review(self, order: Order, session: PaymentSession, review: ReviewChange, now: datetime) -> None: ...

    def resolve_review(self, order: Order, review: ReviewChange, now: datetime) -> None: ...

    def record_unknown_status(self, session: PaymentSession, reported_status: str, now: datetime) -> None: ...


class CheckIndex(Protocol):
    """The sessions whose status checks are still due, by shard, and ETpay's shared "slow down"."""

    def due_checks(
        self, shard: int, now: datetime, limit: int, start: Mapping[str, Any] | None = None
    ) -> tuple[list[DueCheck], Mapping[str, Any] | None]: ...

    def lease_check(self, due: DueCheck, following: datetime) -> bool: ...

    def reschedule_check(self, merchant_order_id: str, session_token: str, at: datetime) -> None: ...

    def clear_check(self, merchant_order_id: str, session_token: str) -> None: ...

    def etpay_backoff_until(self) -> datetime | None: ...

    def extend_etpay_backoff(self, until: datetime) -> None: ...


class ReviewIndex(Protocol):
    """The orders with an open review, by shard, oldest first."""

    def open_reviews(self, shard: int, after: QueuePosition | None, limit: int) -> tuple[list[QueuedReview], bool]: ...

    def count_reviews_opened_before(self, shard: int, before: datetime) -> int: ...


class Etpay(Protocol):
    """ETpay's merchant API (etpay.client.EtpayClient); its errors are etpay.errors'."""

    @property
    def credentials(self) -> Credentials: ...

    def initialize_session(self, request: SessionRequest) -> CreatedSession: ...

    def check_payment_status(
        self,
        *,
        session_token: str | None = None,
        merchant_order_id: str | None = None,
        payment_token: str | None = None,
    ) -> list[dict[str, Any]]: ...


class NotificationKeys(Protocol):
    """The key ETpay's notification URL carries."""

    def current(self) -> str: ...

    def accepts(self, presented: str | None) -> bool: ...


class EventLog(Protocol):
    """The events table: each event once, as published, and its webhook's delivery record."""

    def record(self, event: OrderEvent, webhooks: bool, now: str) -> StoredEvent: ...

    def get(self, event_id: str) -> StoredEvent | None: ...

    def many(self, event_ids: Iterable[str]) -> list[StoredEvent]: ...

    def record_attempt(
        self,
        event_id: str,
        state: DeliveryState,
        now: str,
        status_code: int | None,
        error: str | None,
        next_attempt_at: str | None,
    ) -> None: ...

    def request_redelivery(self, event_id: str, seen: Delivery, after: Delivery) -> StoredEvent: ...


class OrderHistory(Protocol):
    """An order as its item says it has been: what its events were made from."""

    def snapshot(self, merchant_order_id: str) -> OrderSnapshot | None: ...


class EventBus(Protocol):
    def put(self, event: StoredEvent) -> None: ...


class WebhookQueue(Protocol):
    def send(self, event_id: str, redelivery: bool = False) -> None: ...

    def retry_after(self, receipt_handle: str, seconds: int) -> bool: ...


class WebhookPoster(Protocol):
    def post(self, url: str, body: str, headers: Mapping[str, str]) -> AttemptOutcome: ...


# Hands status checks to the workers (the check queue); StorageUnavailable if it cannot.
type CheckDispatch = Callable[[list[CheckTask]], None]

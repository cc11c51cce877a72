"""Orders, their ETpay sessions, and the rules that move money state. Pure: no I/O here.

An order has at most one live (PENDING) session. A session's outcome (PAID / FAILED) is final;
PAID is final for the order. A new session is opened only after the current one ended unpaid.
"""

import enum
from dataclasses import dataclass, field
from datetime import datetime

from etpay import Notification, PaymentOutcome
from payments.errors import (
    OrderAlreadyPaid,
    OrderAmountMismatch,
    PaymentsError,
    RequestInProgress,
    SessionLimitReached,
)


class Status(enum.StrEnum):
    """Each status says whether it reopens the order: a final status in which the payment did not
    happen, so that for the merchant the order is open again and POST /sessions opens its next
    session. Everything about POST /sessions (the decision below, the repository's conditional
    writes) follows that flag: a status we would end a session with ourselves is one line here,
    `EXPIRED = "EXPIRED", True`."""

    PENDING = "PENDING", False
    PAID = "PAID", False
    FAILED = "FAILED", True

    reopens: bool

    # Members are made with (value, reopens); Status("PAID") afterwards looks a member up by value.
    def __new__(cls, value: str, reopens: bool = False) -> "Status":
        member = str.__new__(cls, value)
        member._value_ = value
        member.reopens = reopens
        return member

    @property
    def is_final(self) -> bool:
        return self is not Status.PENDING


REOPENING_STATUSES = frozenset(status for status in Status if status.reopens)


class ReviewReason(enum.StrEnum):
    """Why a person must look at an order: money may have moved against our record."""

    # A correctly signed notification disagrees with the stored order, amount or currency.
    NOTIFICATION_MISMATCH = "notification_mismatch"
    # ETpay reported paid for a session we had already recorded FAILED.
    PAID_AFTER_FAILED = "paid_after_failed"
    # ... and the order had already been paid through another session: refund one of them.
    POSSIBLE_DOUBLE_PAYMENT = "possible_double_payment"
    # ETpay reported failed for a session we had already recorded PAID: the order stays PAID, and a
    # person checks with ETpay whether the money arrived.
    FAILED_AFTER_PAID = "failed_after_paid"


@dataclass(frozen=True)
class Order:
    merchant_order_id: str
    order_amount: int
    currency: str
    status: Status
    session_token: str
    payment_url: str
    created_at: str
    updated_at: str
    payment_token: str | None = None
    review_reasons: frozenset[ReviewReason] = frozenset()


@dataclass(frozen=True)
class PaymentSession:
    session_token: str
    merchant_order_id: str
    order_amount: int
    currency: str
    # The key that verifies this session's notifications. Server-side only, never returned.
    signature_token: str = field(repr=False)
    status: Status = Status.PENDING
    created_at: str = ""
    updated_at: str = ""
    payment_token: str | None = None


def opened_session(
    replaces: Order | None,
    merchant_order_id: str,
    order_amount: int,
    configured_currency: str,
    session_token: str,
    signature_token: str,
    payment_url: str,
    now: str,
) -> tuple[Order, PaymentSession]:
    """The order, PENDING on the session ETpay just opened for it, and that session. `replaces` is
    the order as it stood before (its last session ended unpaid), None for a new order.

    An order's currency is fixed when the order is created (the deployment's currency then) and
    every later session of the order uses it: the amount keeps its meaning, and a notification is
    checked against the currency the payer was shown, even if the deployment's has changed since.
    """
    currency = replaces.currency if replaces else configured_currency
    order = Order(
        merchant_order_id=merchant_order_id,
        order_amount=order_amount,
        currency=currency,
        status=Status.PENDING,
        session_token=session_token,
        payment_url=payment_url,
        created_at=replaces.created_at if replaces else now,
        updated_at=now,
    )
    session = PaymentSession(
        session_token=session_token,
        merchant_order_id=merchant_order_id,
        order_amount=order_amount,
        currency=currency,
        signature_token=signature_token,
        created_at=now,
        updated_at=now,
    )
    return order, session


@dataclass(frozen=True)
class StoredOrder:
    """What is stored under an order id, as one read (or a refused claim) found it."""

    merchant_order_id: str
    # None: only a claim so far (its first session is being asked for); not an order for any reader.
    order: Order | None
    # How many ETpay sessions the order has had.
    session_count: int = 0
    # When the claim on the order (an invocation asking ETpay for its next session) frees itself
    # if its holder crashed; None: nobody holds one.
    claim_expires: datetime | None = None

    def claim_is_live(self, now: datetime) -> bool:
        return self.claim_expires is not None and now < self.claim_expires


@dataclass(frozen=True)
class ClaimNew:
    """Nothing is stored, or only a claim whose holder crashed: claim the order, then ask ETpay for
    its first session."""


@dataclass(frozen=True)
class ClaimNext:
    """The order's last session ended unpaid: claim it, then ask ETpay for its next session."""

    replaces: Order


@dataclass(frozen=True)
class Reuse:
    """The order is PENDING on a live session: hand that one out again; ETpay is not asked."""

    order: Order


@dataclass(frozen=True)
class Refuse:
    """Answer with this error; ETpay is not asked and nothing changes."""

    error: PaymentsError


type SessionDecision = ClaimNew | ClaimNext | Reuse | Refuse


def request_in_progress(merchant_order_id: str) -> RequestInProgress:
    return RequestInProgress(f"a session for order {merchant_order_id} is being created; retry shortly")


def decide_session_request(
    stored: StoredOrder | None, order_amount: int, now: datetime, max_sessions: int
) -> SessionDecision:
    """What POST /sessions does for an order, given what is stored under its id (None: nothing, as
    far as we know: the first claim assumes a new order, and a refusal tells us otherwise)."""
    if stored is None:
        return ClaimNew()
    order_id = stored.merchant_order_id
    in_progress = request_in_progress(order_id)
    order = stored.order
    if order is None:
        # Only a claim: someone is asking ETpay for the order's first session, or crashed doing so.
        return Refuse(in_progress) if stored.claim_is_live(now) else ClaimNew()
    if order.order_amount != order_amount:
        return Refuse(OrderAmountMismatch(f"order {order_id} exists with a different order_amount"))
    if order.status is Status.PENDING:
        return Reuse(order)
    if order.status not in REOPENING_STATUSES:
        # PAID, and any final status in which money may have moved: never a new session.
        return Refuse(OrderAlreadyPaid(f"order {order_id} is already paid"))
    if stored.claim_is_live(now):
        return Refuse(in_progress)
    if stored.session_count >= max_sessions:
        return Refuse(
            SessionLimitReached(
                f"order {order_id} has had {stored.session_count} unpaid sessions; use a new merchant_order_id"
            )
        )
    return ClaimNext(order)


class NotificationAction(enum.Enum):
    MARK_PAID = "mark_paid"
    MARK_FAILED = "mark_failed"  # the session, and the order if this is its current session
    RECORD_UNKNOWN = "record_unknown"  # no transition; kept for a status-API check
    ALREADY_APPLIED = "already_applied"  # a re-delivery: answer as the first time
    FLAG_FOR_REVIEW = "flag_for_review"  # keep the recorded state, tell a person
    IGNORE = "ignore"  # nothing to do (an unknown status for a session already final)


@dataclass(frozen=True)
class NotificationDecision:
    action: NotificationAction
    reasons: frozenset[ReviewReason] = frozenset()
    # For MARK_FAILED: whether the order follows its session to FAILED.
    fail_order: bool = False


def matches_session(notification: Notification, session: PaymentSession) -> bool:
    """The verified claims must describe exactly the order this session was opened for."""
    return (
        notification.session_token == session.session_token
        and notification.merchant_order_id == session.merchant_order_id
        and notification.merchant_amount == session.order_amount
        and notification.merchant_currency in (None, session.currency)
    )


def decide_notification(order: Order, session: PaymentSession, notification: Notification) -> NotificationDecision:
    if not matches_session(notification, session):
        return NotificationDecision(NotificationAction.FLAG_FOR_REVIEW, frozenset({ReviewReason.NOTIFICATION_MISMATCH}))
    is_current = order.session_token == session.session_token
    outcome = notification.outcome

    if outcome is PaymentOutcome.UNKNOWN:
        if session.status.is_final:
            return NotificationDecision(NotificationAction.IGNORE)
        return NotificationDecision(NotificationAction.RECORD_UNKNOWN)

    if outcome is PaymentOutcome.PAID:
        if session.status is Status.PAID:
            return NotificationDecision(NotificationAction.ALREADY_APPLIED)
        if session.status is Status.PENDING and is_current and order.status is Status.PENDING:
            return NotificationDecision(NotificationAction.MARK_PAID)
        # The session was recorded FAILED (or, against our own invariant, is PENDING without
        # being the order's live one): money may have moved against our record. Keep the
        # record; a person decides.
        reasons = {ReviewReason.PAID_AFTER_FAILED}
        if order.status is Status.PAID:
            reasons.add(ReviewReason.POSSIBLE_DOUBLE_PAYMENT)
        return NotificationDecision(NotificationAction.FLAG_FOR_REVIEW, frozenset(reasons))

    # PaymentOutcome.FAILED
    if session.status is Status.FAILED:
        return NotificationDecision(NotificationAction.ALREADY_APPLIED)
    if session.status is Status.PAID:
        return NotificationDecision(NotificationAction.FLAG_FOR_REVIEW, frozenset({ReviewReason.FAILED_AFTER_PAID}))
    return NotificationDecision(
        NotificationAction.MARK_FAILED,
        fail_order=is_current and order.status is Status.PENDING,
    )

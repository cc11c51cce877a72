"""Orders, their ETpay sessions, and the rules that move money state. Pure: no I/O here.

An order has at most one live (PENDING) session. A session ends PAID or FAILED (ETpay's word,
final) or EXPIRED (ours: its lifetime passed and ETpay still had no result). PAID is final for the
order. A new session is opened only after the current one ended unpaid. Because EXPIRED is our
decision, not ETpay's, a verified payment for an EXPIRED session is still honoured.
"""

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from etpay import Notification, PaymentOutcome
from payments.clock import iso_utc, parse_iso
from payments.errors import (
    NoOpenReview,
    OrderAlreadyPaid,
    OrderAmountMismatch,
    OrderCurrencyMismatch,
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
    # Ended by us at the end of its lifetime: ETpay's last status check still had no result.
    EXPIRED = "EXPIRED", True

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


class Resolution(enum.StrEnum):
    """What the operator did about a review. None of them moves money state: a refund or ETpay's
    confirmation happens outside this stack, and the resolution records that it did."""

    REFUNDED = "refunded"  # the payer was refunded (e.g. one payment of a double payment)
    CONFIRMED_WITH_ETPAY = "confirmed_with_etpay"  # ETpay confirmed what the money really did
    NO_ACTION_NEEDED = "no_action_needed"  # a false alarm


@dataclass(frozen=True)
class RaisedReason:
    reason: ReviewReason
    raised_at: str


@dataclass(frozen=True)
class ReviewResolution:
    resolution: Resolution
    # Who resolved it: the caller's IAM principal, `api-key:<id>` or `unauthenticated` (locally).
    resolved_by: str
    resolved_at: str
    # The operator's free text: stored and shown by the API, never logged nor put in an event.
    note: str = field(repr=False)


@dataclass(frozen=True)
class Review:
    """One review of an order: opened by its first reason, joined by any reason raised while it is
    open, closed by one resolution. Reviews are only ever added to an order, never removed."""

    number: int  # 1 for the order's first review
    opened_at: str
    reasons: tuple[RaisedReason, ...]
    resolution: ReviewResolution | None = None

    @property
    def is_open(self) -> bool:
        return self.resolution is None

    @property
    def reason_set(self) -> frozenset[ReviewReason]:
        return frozenset(raised.reason for raised in self.reasons)


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
    # When the current session expires (ISO 8601 UTC); "" for one opened before sessions expired.
    expires_at: str = ""
    # The session whose status checks are still due (its own, not necessarily the current one:
    # an expired session paid late makes the order PAID while a newer session may still be live).
    check_session: str | None = None
    # Every review of the order, oldest first, as stored (`review_reasons` above are the reasons
    # of the open one, if any).
    reviews: tuple[Review, ...] = ()

    @property
    def open_review(self) -> Review | None:
        """The review a person still has to resolve, None when there is none."""
        return open_review(self)

    @property
    def review_history(self) -> tuple[Review, ...]:
        """Every review, the open one included (also one recorded without its review record)."""
        current = open_review(self)
        if current is None:
            return self.reviews
        if self.reviews and self.reviews[-1].number == current.number:
            return (*self.reviews[:-1], current)
        return (*self.reviews, current)


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
    # When we end it if ETpay has no result by then (ISO 8601 UTC); "" for an older session.
    expires_at: str = ""
    # Where its payer pays: the order shows it again if a late payment makes this session its own.
    payment_url: str = ""


def opened_session(
    replaces: Order | None,
    merchant_order_id: str,
    order_amount: int,
    configured_currency: str,
    session_token: str,
    signature_token: str,
    payment_url: str,
    now: datetime,
    lifetime: timedelta,
) -> tuple[Order, PaymentSession]:
    """The order, PENDING on the session ETpay just opened for it, and that session. `replaces` is
    the order as it stood before (its last session ended unpaid), None for a new order.

    An order's currency is fixed when the order is created (the deployment's currency then) and
    every later session of the order uses it: the amount keeps its meaning, and a notification is
    checked against the currency the payer was shown, even if the deployment's has changed since.
    """
    currency = replaces.currency if replaces else configured_currency
    opened, expires = iso_utc(now), iso_utc(now + lifetime)
    order = Order(
        merchant_order_id=merchant_order_id,
        order_amount=order_amount,
        currency=currency,
        status=Status.PENDING,
        session_token=session_token,
        payment_url=payment_url,
        created_at=replaces.created_at if replaces else opened,
        updated_at=opened,
        expires_at=expires,
        check_session=session_token,
    )
    session = PaymentSession(
        session_token=session_token,
        merchant_order_id=merchant_order_id,
        order_amount=order_amount,
        currency=currency,
        signature_token=signature_token,
        created_at=opened,
        updated_at=opened,
        expires_at=expires,
        payment_url=payment_url,
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
    stored: StoredOrder | None, order_amount: int, now: datetime, max_sessions: int, currency: str
) -> SessionDecision:
    """What POST /sessions does for an order, given what is stored under its id (None: nothing, as
    far as we know: the first claim assumes a new order, and a refusal tells us otherwise), on a
    stack whose currency is `currency`."""
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
    if order.currency != currency:
        # The stack was redeployed for the other ETpay market: its credentials are another
        # country's merchant, and its amounts another currency. The order is never handed to it.
        return Refuse(
            OrderCurrencyMismatch(
                f"order {order_id} is in {order.currency}; this stack takes {currency} orders: "
                "use a new merchant_order_id"
            )
        )
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
    # The session, and the order with it (the order's current session becomes this one).
    MARK_PAID = "mark_paid"
    # The session is paid, but the order already was, through another session: the order keeps
    # that payment and is flagged possible_double_payment (one of them is to be refunded).
    RECORD_DOUBLE_PAYMENT = "record_double_payment"
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
        if session.status is Status.FAILED:
            # ETpay contradicts its own earlier word: money may have moved against our record.
            # Keep the record; a person decides.
            reasons = {ReviewReason.PAID_AFTER_FAILED}
            if order.status is Status.PAID:
                reasons.add(ReviewReason.POSSIBLE_DOUBLE_PAYMENT)
            return NotificationDecision(NotificationAction.FLAG_FOR_REVIEW, frozenset(reasons))
        # PENDING, or EXPIRED (our decision, not ETpay's): the money is real.
        if order.status is Status.PAID:
            return NotificationDecision(
                NotificationAction.RECORD_DOUBLE_PAYMENT, frozenset({ReviewReason.POSSIBLE_DOUBLE_PAYMENT})
            )
        return NotificationDecision(NotificationAction.MARK_PAID)

    # PaymentOutcome.FAILED
    if session.status in (Status.FAILED, Status.EXPIRED):
        # Already ended unpaid: ETpay confirms what the order already shows.
        return NotificationDecision(NotificationAction.ALREADY_APPLIED)
    if session.status is Status.PAID:
        return NotificationDecision(NotificationAction.FLAG_FOR_REVIEW, frozenset({ReviewReason.FAILED_AFTER_PAID}))
    return NotificationDecision(
        NotificationAction.MARK_FAILED,
        fail_order=is_current and order.status is Status.PENDING,
    )


# -- reviews ----------------------------------------------------------------------------------------
def open_review(order: Order) -> Review | None:
    """The order's open review: its last review while unresolved, with every open reason."""
    if not order.review_reasons:
        return None
    last = order.reviews[-1] if order.reviews else None
    if last is not None and last.is_open:
        current = last
    else:
        # Open reasons without an open review record: flagged by a version of the stack that kept
        # only the reasons. They count as raised, and the review as opened, at the order's last update.
        current = Review(len(order.reviews) + 1, order.updated_at, ())
    unrecorded = order.review_reasons - current.reason_set
    if not unrecorded:
        return current
    return replace(
        current,
        reasons=current.reasons + tuple(RaisedReason(reason, order.updated_at) for reason in sorted(unrecorded)),
    )


@dataclass(frozen=True)
class ReviewChange:
    """One write of an order's reviews: its whole review history after the write, carried out only
    if the history and the open reasons are still as read (reviews are only appended, and an open
    review's reasons only grow, so their two counts say whether anything changed)."""

    reviews: tuple[Review, ...]
    # The open review after the write; None: the order leaves the review queue.
    opened: Review | None
    seen_reviews: int
    seen_open_reasons: int

    @property
    def open_reasons(self) -> frozenset[ReviewReason]:
        return self.opened.reason_set if self.opened else frozenset()


def _with_review(reviews: tuple[Review, ...], review: Review) -> tuple[Review, ...]:
    if reviews and reviews[-1].number == review.number:
        return (*reviews[:-1], review)
    return (*reviews, review)


def raise_review(order: Order, reasons: frozenset[ReviewReason], now: str) -> ReviewChange:
    """The order's reviews once `reasons` are raised: added to its open review, or opening a new
    one (a reason raised after a resolution opens the review again)."""
    current = open_review(order) or Review(len(order.reviews) + 1, now, ())
    added = tuple(RaisedReason(reason, now) for reason in sorted(reasons - current.reason_set))
    raised = replace(current, reasons=current.reasons + added)
    return ReviewChange(_with_review(order.reviews, raised), raised, len(order.reviews), len(order.review_reasons))


def decide_resolution(
    order: Order, resolution: Resolution, resolved_by: str, note: str, now: str
) -> ReviewChange | Refuse:
    """The operator's resolution of the order's open review. It changes the review record only:
    never the order's money state."""
    current = open_review(order)
    if current is None:
        return Refuse(NoOpenReview(f"order {order.merchant_order_id} has no open review"))
    resolved = replace(current, resolution=ReviewResolution(resolution, resolved_by, now, note))
    return ReviewChange(_with_review(order.reviews, resolved), None, len(order.reviews), len(order.review_reasons))


# -- status checks and the end of a session's lifetime ------------------------------------------------
def check_times(opened_at: datetime, expires_at: datetime, first_after: timedelta) -> list[datetime]:
    """When ETpay's status API is asked about a session: a first time `first_after` it opened (a
    notification may never come), then at doubling intervals, the last at its expiry. Bounded: at
    most about log2(lifetime / first_after) + 2 checks, none after the session ends."""
    times = []
    offset = step = first_after
    while opened_at + offset < expires_at:
        times.append(opened_at + offset)
        step *= 2
        offset += step
    times.append(expires_at)
    return times


@dataclass(frozen=True)
class DueCheck:
    """A session whose next status check is due, as the pending index lists it."""

    merchant_order_id: str
    session_token: str
    next_check_at: str  # as stored: the lease below is conditional on it
    opened_at: datetime
    expires_at: datetime
    checks_done: int  # checks already handed to a worker


def following_check(
    due: DueCheck, now: datetime, first_after: timedelta, lease: timedelta, retry: timedelta, max_retry: timedelta
) -> datetime:
    """When the check after the one being handed out now is due. It doubles as a lease: no sweep
    hands the session out again before then, so it is never later than the next scheduled check
    and never sooner than `lease` (a worker's time to do this one). After the final check (at
    expiry) the next is a retry, in case this one gets no answer from ETpay: `retry`, doubling,
    at most `max_retry`."""
    times = check_times(due.opened_at, due.expires_at, first_after)
    following = due.checks_done + 1
    if following < len(times):
        return max(times[following], now + lease)
    retries = following - len(times)
    return now + min(retry * 2 ** min(retries, 30), max_retry)


class CheckAction(enum.Enum):
    APPLY = "apply"  # ETpay has a result: decided like a notification (decide_notification)
    EXPIRE = "expire"  # its lifetime is over and ETpay has no result: the session ends EXPIRED
    WAIT = "wait"  # no result yet; the next check is already scheduled
    ENDED = "ended"  # the session ended meanwhile (a notification came): nothing to ask


@dataclass(frozen=True)
class CheckDecision:
    action: CheckAction
    # For EXPIRE: whether the order follows its session to EXPIRED (its live session, order PENDING).
    expire_order: bool = False


def decide_status_check(
    order: Order, session: PaymentSession, result: Notification | None, now: datetime
) -> CheckDecision:
    """What ETpay's status answer (its decisive record for the session, None: no record) means for
    a session whose check was due."""
    if session.status is not Status.PENDING:
        return CheckDecision(CheckAction.ENDED)
    if result is not None and result.outcome is not PaymentOutcome.UNKNOWN:
        return CheckDecision(CheckAction.APPLY)
    if session.expires_at and now >= parse_iso(session.expires_at):
        return CheckDecision(
            CheckAction.EXPIRE,
            expire_order=order.session_token == session.session_token and order.status is Status.PENDING,
        )
    # An unpublished status word is kept for the record like a notification's; no result at all
    # waits for the next check.
    return CheckDecision(CheckAction.APPLY if result is not None else CheckAction.WAIT)

"""An order, its ETpay sessions and its reviews: the aggregate every rule decides on. Pure: no I/O.

An order has at most one live (PENDING) session. A session ends PAID or FAILED (ETpay's word,
final) or EXPIRED (ours: its lifetime passed and ETpay still had no result). PAID is final for the
order. A new session is opened only after the current one ended unpaid. Because EXPIRED is our
decision, not ETpay's, a verified payment for an EXPIRED session is still honoured.

The rules live beside: opening sessions (`sessions`), notifications (`notifications`), status
checks and expiry (`checks`), reviews (`reviews`), the events a change makes (`events`).
"""

import enum
import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

ORDER_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ORDER_ID_RULE = "1 to 64 characters of A-Z a-z 0-9 - _"


def is_valid_order_id(value: Any) -> bool:
    """A merchant_order_id as ETpay takes it (its own example, `OC-700104`, has a hyphen)."""
    return isinstance(value, str) and bool(ORDER_ID_PATTERN.fullmatch(value))


def shard_of(merchant_order_id: str, shards: int) -> int:
    """Which of `shards` partitions an order's index entries go to: a stable hash of its id, so
    orders spread evenly and every entry of one order lands on the same partition."""
    digest = hashlib.sha256(merchant_order_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") % shards


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
    """Why an order was flagged for review, and when."""

    reason: ReviewReason
    raised_at: str


@dataclass(frozen=True)
class ReviewResolution:
    """How an operator closed an order's review."""

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


def current_review(reviews: tuple[Review, ...], open_reasons: frozenset[ReviewReason], at: str) -> Review | None:
    """The open review, given an order's stored reviews and the reasons stored as open: the last
    review while unresolved, with every open reason. An open reason its record lacks (an item
    restored from a backup or edited by hand) still counts: raised, and its review opened, `at`."""
    if not open_reasons:
        return None
    last = reviews[-1] if reviews else None
    current = last if last is not None and last.is_open else Review(len(reviews) + 1, at, ())
    unrecorded = open_reasons - current.reason_set
    if not unrecorded:
        return current
    return replace(current, reasons=current.reasons + tuple(RaisedReason(reason, at) for reason in sorted(unrecorded)))


@dataclass(frozen=True)
class Order:
    """A merchant's order as stored: its amount, state, sessions and reviews."""

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
        return current_review(self.reviews, self.review_reasons, self.updated_at)

    @property
    def review_history(self) -> tuple[Review, ...]:
        """Every review, the open one included (also one recorded without its review record)."""
        current = self.open_review
        if current is None:
            return self.reviews
        if self.reviews and self.reviews[-1].number == current.number:
            return (*self.reviews[:-1], current)
        return (*self.reviews, current)


@dataclass(frozen=True)
class PaymentSession:
    """One ETpay payment session of an order, and what ETpay said of it."""

    session_token: str
    merchant_order_id: str
    order_amount: int
    currency: str
    # The key that verifies this session's notifications. Server-side only, never returned; None
    # when it was not read (only verifying a notification reads it).
    signature_token: str | None = field(repr=False)
    status: Status = Status.PENDING
    created_at: str = ""
    updated_at: str = ""
    payment_token: str | None = None
    # When we end it if ETpay has no result by then (ISO 8601 UTC); "" for an older session.
    expires_at: str = ""
    # Where its payer pays: the order shows it again if a late payment makes this session its own.
    payment_url: str = ""


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

"""Opening sessions: what POST /sessions does for an order (`decide_session_request`), the order
and session once ETpay opened one (`opened_session`), and what we ask ETpay for. Pure: no I/O.

Opening a session is a claim and then ETpay: the claim (a conditional write) gives one request the
right to ask ETpay for the order's next session, so two requests at once never open two sessions.
"""

import functools
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from etpay.sessions import NO_OPTIONS, SessionOptions, SessionRequest
from payments.domain.clock import iso_utc
from payments.domain.errors import (
    OrderAlreadyPaid,
    OrderAmountMismatch,
    OrderCurrencyMismatch,
    PaymentsError,
    RequestInProgress,
    SessionLimitReached,
)
from payments.domain.orders import REOPENING_STATUSES, Order, PaymentSession, Status, StoredOrder

# ETpay's notification URL carries the stack's notification key in this query parameter. Query
# strings reach neither API Gateway's access log (resource paths only) nor our logs.
NOTIFICATION_KEY_PARAMETER = "key"


@dataclass(frozen=True)
class SessionStart:
    """A valid POST /sessions: the order, and what its session carries (ETpay's optional fields)."""

    merchant_order_id: str
    order_amount: int
    options: SessionOptions = NO_OPTIONS


def session_request(
    start: SessionStart,
    notification_url: str | None,
    notification_key: str,
    default_success_url: str | None,
    default_cancellation_url: str | None,
) -> SessionRequest:
    """What ETpay is asked for: the merchant's fields as sent, the stack's redirects where the
    merchant gave none, and our notification URL with its key (without the key our own
    /notifications would turn ETpay away)."""
    options = start.options
    success_url = options.payment_completed_url or default_success_url
    cancellation_url = options.payment_cancellation_url or default_cancellation_url
    if (success_url, cancellation_url) != (options.payment_completed_url, options.payment_cancellation_url):
        options = replace(options, payment_completed_url=success_url, payment_cancellation_url=cancellation_url)
    webhook_url = with_key(notification_url, notification_key) if notification_url else None
    return SessionRequest(start.merchant_order_id, start.order_amount, webhook_url, options)


def with_key(url: str, key: str) -> str:
    """`url` with the notification key as its query parameter (any other parameters kept)."""
    scheme, netloc, path, others, fragment = _without_key(url)
    key_parameter = urlencode(((NOTIFICATION_KEY_PARAMETER, key),))
    return urlunsplit((scheme, netloc, path, f"{others}&{key_parameter}" if others else key_parameter, fragment))


@functools.lru_cache(maxsize=16)
def _without_key(url: str) -> tuple[str, str, str, str, str]:
    """`url` split, its query without any key parameter: the same few URLs on every request (the
    key itself is never remembered here)."""
    parts = urlsplit(url)
    others = urlencode([(name, value) for name, value in parse_qsl(parts.query) if name != NOTIFICATION_KEY_PARAMETER])
    return parts.scheme, parts.netloc, parts.path, others, parts.fragment


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

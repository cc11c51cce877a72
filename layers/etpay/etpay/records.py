"""ETpay's payment records: what a verified notification's claims and a status-check answer say
about one payment, read with ETpay's field names. Pure: no HTTP, no JWT, no I/O.

ETpay documents `payment_status: true` and a live integration checks for "success"; nothing else is
published, so a status word we do not know is UNKNOWN (never a final transition).
"""

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from etpay.errors import InvalidNotification

# Tokens end up in URLs and DynamoDB keys: printable ASCII without spaces, bounded.
TOKEN_PATTERN = re.compile(r"^[\x21-\x7e]{1,512}$")

PAID_STATUS_WORDS = frozenset({"success"})
FAILED_STATUS_WORDS = frozenset({"error", "failed", "rejected", "canceled", "cancelled"})
MAX_STATUS_WORD_LENGTH = 64
# ETpay's amounts are whole units; a longer digit string is no amount of ours.
MAX_AMOUNT_DIGITS = 15
MAX_PAYMENT_TOKEN_LENGTH = 256


class PaymentOutcome(enum.Enum):
    PAID = "paid"
    FAILED = "failed"
    # Anything ETpay has not told us the meaning of: never a final transition.
    UNKNOWN = "unknown"


def classify_payment_status(value: Any) -> PaymentOutcome:
    if value is True:
        return PaymentOutcome.PAID
    if value is False:
        return PaymentOutcome.FAILED
    if isinstance(value, str) and len(value) <= MAX_STATUS_WORD_LENGTH:
        word = value.strip().lower()
        if word in PAID_STATUS_WORDS:
            return PaymentOutcome.PAID
        if word in FAILED_STATUS_WORDS:
            return PaymentOutcome.FAILED
    return PaymentOutcome.UNKNOWN


def describe_payment_status(value: Any) -> str:
    """A short, log-safe rendering of an unknown `payment_status` for later checking."""
    if isinstance(value, (bool, int, float)) or value is None:
        return repr(value)
    if isinstance(value, str):
        return value[:MAX_STATUS_WORD_LENGTH]
    return type(value).__name__


@dataclass(frozen=True)
class Notification:
    """The verified claims we act on. Payer data (RUT, account) is deliberately not kept."""

    session_token: str
    merchant_order_id: str
    # None when ETpay's value is not a whole number: such a notification can never mark PAID.
    merchant_amount: int | None
    merchant_currency: str | None
    payment_token: str | None
    payment_status: Any = field(repr=False)
    outcome: PaymentOutcome


def payment_from_record(claims: Mapping[str, Any], session_token: str | None = None) -> Notification:
    """The fields we act on, from verified JWT claims or from a `check_payment_status` record
    (same field names). `session_token` fills in a status record that omits it."""
    if not isinstance(claims, Mapping):
        raise InvalidNotification("payment record is not an object")
    session_token = claims.get("session_token", session_token)
    merchant_order_id = claims.get("merchant_order_id")
    if not isinstance(session_token, str) or not isinstance(merchant_order_id, str):
        raise InvalidNotification("session_token and merchant_order_id must be strings")
    currency = claims.get("merchant_currency")
    payment_token = claims.get("payment_token")
    if payment_token is not None and not isinstance(payment_token, (str, int)):
        payment_token = None
    status = claims.get("payment_status")
    return Notification(
        session_token=session_token,
        merchant_order_id=merchant_order_id,
        merchant_amount=_whole_amount(claims.get("merchant_amount")),
        # A currency claim that is present but not a string can never match: keep it as "".
        merchant_currency=currency if currency is None or isinstance(currency, str) else "",
        payment_token=str(payment_token)[:MAX_PAYMENT_TOKEN_LENGTH] if payment_token is not None else None,
        payment_status=status,
        outcome=classify_payment_status(status),
    )


def _whole_amount(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= MAX_AMOUNT_DIGITS:
        return int(value)
    return None

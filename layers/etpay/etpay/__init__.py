"""ETpay client: ETpay's HTTP API, its field names and its notification JWTs. No AWS here."""

from etpay.client import CreatedSession, EtpayClient, SessionRequest
from etpay.credentials import Credentials
from etpay.errors import (
    EtpayError,
    EtpayRateLimited,
    EtpayResponseError,
    EtpayTimeout,
    EtpayUnavailable,
    InvalidCredentials,
    InvalidNotification,
)
from etpay.notification import (
    LookupKeys,
    Notification,
    PaymentOutcome,
    classify_payment_status,
    payment_from_record,
    read_lookup_keys,
    sign_notification,
    token_from_body,
    verify_notification,
)

__all__ = [
    "CreatedSession",
    "Credentials",
    "EtpayClient",
    "EtpayError",
    "EtpayRateLimited",
    "EtpayResponseError",
    "EtpayTimeout",
    "EtpayUnavailable",
    "InvalidCredentials",
    "InvalidNotification",
    "LookupKeys",
    "Notification",
    "PaymentOutcome",
    "SessionRequest",
    "classify_payment_status",
    "payment_from_record",
    "read_lookup_keys",
    "sign_notification",
    "token_from_body",
    "verify_notification",
]

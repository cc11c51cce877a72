"""What the sandbox accepts and how it answers: every ETpay rule and tunable in one place.

Where ETpay publishes nothing (see `docs/ETPAY.md`, section 6) the choice made here is a
guess, named so it is easy to change.
"""

import re
from typing import Any

# -- session requests (POST /session/initialize) ---------------------------------------------------
# ETpay: "alphanumeric, at most 64 chars", and its own example `OC-700104` has a hyphen.
MERCHANT_ORDER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
OPTIONAL_FIELD_TYPES: dict[str, type] = {
    "customer_email": str,
    "metadata": list,
    "user_bank_code": str,
    "user_rut": str,
    "is_rut_block": bool,
    "payment_completed_url": str,
    "payment_cancellation_url": str,
    "payment_webhook_url": str,
    "concat": str,
    "target_flow": str,  # Mexico only
    "customer_phone": str,  # Mexico only
}
METADATA_ITEM_TYPES: dict[str, type] = {"name": str, "value": str, "show": bool}

# -- tokens ------------------------------------------------------------------------------------------
SESSION_TOKEN_BYTES = 24
# The HS256 key of a session's notifications: at least 256 bits, as RFC 7518 asks of HMAC keys.
SIGNATURE_TOKEN_BYTES = 32
PAYMENT_TOKEN_PREFIX = "sbx-pay-"
PAYMENT_TOKEN_BYTES = 12

# -- notifications ---------------------------------------------------------------------------------
JWT_ALGORITHM = "HS256"
DEFAULT_CURRENCY = "CLP"
PAYMENT_PROCESS = "auto"
# Obviously fake account data: ETpay's example carries these claims, their real format is unpublished.
FAKE_ACCOUNT_CLAIMS: dict[str, str] = {
    "merchant_account": "000000000-SANDBOX",
    "merchant_account_bank": "CL_TEST",
    "merchant_account_type": "checking",
    "user_rut": "111111111",
    "user_account": "000000000-TEST",
}
DEFAULT_USER_BANK = "CL_TEST"
# The words the sandbox's `outcome` arguments understand; any other value is sent raw.
OUTCOME_VALUES: dict[str, bool] = {"paid": True, "failed": False}
# How ETpay's `payment_status` values read (docs/ETPAY.md, section 4): decides the session's state.
PAID_STATUS_WORDS = frozenset({"success"})
FAILED_STATUS_WORDS = frozenset({"error", "failed", "rejected", "canceled", "cancelled"})

# -- funnel ----------------------------------------------------------------------------------------
# The SDK's spelling (upper case); the docs use the same codes in lower case.
BANKS: tuple[tuple[str, str], ...] = (
    ("CL_TEST", "Banco de Prueba (test bank)"),
    ("CL_ESTADO", "BancoEstado"),
    ("CL_SANTANDER", "Banco Santander"),
    ("CL_BCH", "Banco de Chile"),
    ("CL_BCI", "Banco BCI"),
    ("CL_FALABELLA", "Banco Falabella"),
    ("CL_ITAU", "Banco Itaú"),
    ("CL_SCOTIABANK", "Scotiabank"),
)
REDIRECT_JWT_PARAMETER = "jwt"

# -- transport ---------------------------------------------------------------------------------------
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})
MAX_BODY_BYTES = 64 * 1024
# A client that opens a connection and sends nothing must not hold a thread forever.
REQUEST_READ_TIMEOUT_SECONDS = 10.0
# Notifications go to a stack on this machine: never wait long for it.
DELIVERY_CONNECT_TIMEOUT_SECONDS = 2.0
DELIVERY_READ_TIMEOUT_SECONDS = 5.0
# stop(): how long in-flight requests get to finish before their sockets are closed under them.
STOP_GRACE_SECONDS = 2.0
# How often the serving loop looks for stop(): the longest stop() waits for an idle server.
SHUTDOWN_POLL_SECONDS = 0.01

# -- failure injection -------------------------------------------------------------------------------
FAILURE_MODES = frozenset({"error", "malformed", "incomplete", "hang", "slow"})
MALFORMED_BODY = b"<html><body>502 Bad Gateway (sandbox: not JSON)</body></html>"


def session_request_problem(body: Any) -> str | None:
    """Why ETpay would refuse this session request (credentials aside), or None."""
    order_id = body.get("merchant_order_id")
    if not isinstance(order_id, str) or not MERCHANT_ORDER_ID.fullmatch(order_id):
        return "merchant_order_id must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'"
    amount = body.get("order_amount")
    if type(amount) is not int or amount < 1:
        return "order_amount must be a positive integer"
    for name, kind in OPTIONAL_FIELD_TYPES.items():
        if name in body and type(body[name]) is not kind:
            return f"{name} must be a {kind.__name__}"
    for item in body.get("metadata", []):
        if not isinstance(item, dict) or any(
            type(item.get(key)) is not kind for key, kind in METADATA_ITEM_TYPES.items()
        ):
            return "metadata items must be {name: str, value: str, show: bool}"
    if "concat" in body and len(body["concat"]) != 1:
        return "concat must be a single character"
    return None


def payment_status_for(outcome: Any) -> Any:
    """`outcome` as ETpay's `payment_status`: booleans for paid / failed (ETpay's example), else raw."""
    if isinstance(outcome, str) and outcome in OUTCOME_VALUES:
        return OUTCOME_VALUES[outcome]
    return outcome


def session_status_for(payment_status: Any) -> str:
    """The session's own state once ETpay has a result: paid, failed, or unknown (an unpublished value)."""
    if payment_status is True:
        return "paid"
    if payment_status is False:
        return "failed"
    if isinstance(payment_status, str):
        word = payment_status.strip().lower()
        if word in PAID_STATUS_WORDS:
            return "paid"
        if word in FAILED_STATUS_WORDS:
            return "failed"
    return "unknown"

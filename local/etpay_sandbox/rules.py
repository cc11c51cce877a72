"""What the sandbox accepts and how it answers: every ETpay rule and tunable in one place.

Where ETpay publishes nothing (see `docs/ETPAY.md`, section 6) the choice made here is a
guess, named so it is easy to change.
"""

import re
from dataclasses import dataclass
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
# ETpay's Mexican payment flows; without target_flow the payer picks one in the funnel.
TARGET_FLOWS = ("spei", "codi")
PHONE = re.compile(r"[0-9]{10}")
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
# The words the sandbox's `outcome` arguments understand; any other value is sent raw.
OUTCOME_VALUES: dict[str, bool] = {"paid": True, "failed": False}
# How ETpay's `payment_status` values read (docs/ETPAY.md, section 4): decides the session's state.
PAID_STATUS_WORDS = frozenset({"success"})
FAILED_STATUS_WORDS = frozenset({"error", "failed", "rejected", "canceled", "cancelled"})


# -- countries: ETpay Chile and ETpay Mexico ---------------------------------------------------------
@dataclass(frozen=True)
class Country:
    """What a merchant of one country sees: its banks, its currency, its own session fields."""

    name: str
    currency: str
    # The funnel's banks, the test bank first. The SDK's spelling (upper case); ETpay's docs use the
    # same codes in lower case.
    banks: tuple[tuple[str, str], ...]
    # Session fields ETpay documents for this country only; the other country's are refused (400).
    own_fields: frozenset[str]
    # Obviously fake account data: ETpay's example carries these claims; their real format in each
    # country is unpublished. `user_rut` is None in Mexico, which has no RUT (a guess: ETpay
    # publishes no Mexican notification).
    account_claims: dict[str, str | None]
    # ETpay answers `terms_url: null` in Mexico; what it answers in Chile is not published.
    terms_url: str | None
    # How the funnel writes an amount of whole pesos: 50.000 in Chile, 1,500 in Mexico.
    thousands_separator: str

    @property
    def test_bank(self) -> str:
        return self.banks[0][0]


CHILE = Country(
    name="Chile",
    currency="CLP",
    banks=(
        ("CL_TEST", "Banco de Prueba (test bank)"),
        ("CL_ESTADO", "BancoEstado"),
        ("CL_SANTANDER", "Banco Santander"),
        ("CL_BCH", "Banco de Chile"),
        ("CL_BCI", "Banco BCI"),
        ("CL_FALABELLA", "Banco Falabella"),
        ("CL_ITAU", "Banco Itaú"),
        ("CL_SCOTIABANK", "Scotiabank"),
    ),
    own_fields=frozenset({"user_rut", "is_rut_block"}),
    account_claims={
        "merchant_account": "000000000-SANDBOX",
        "merchant_account_bank": "CL_TEST",
        "merchant_account_type": "checking",
        "user_rut": "111111111",
        "user_account": "000000000-TEST",
    },
    terms_url=None,
    thousands_separator=".",
)
MEXICO = Country(
    name="Mexico",
    currency="MXN",
    # MX_TEST is the SDK's test bank; the others are the sandbox's names for Mexican banks.
    banks=(
        ("MX_TEST", "Banco de Prueba (test bank)"),
        ("MX_BBVA", "BBVA México"),
        ("MX_BANAMEX", "Banamex"),
        ("MX_SANTANDER", "Santander México"),
        ("MX_BANORTE", "Banorte"),
        ("MX_HSBC", "HSBC México"),
        ("MX_SCOTIABANK", "Scotiabank México"),
        ("MX_AZTECA", "Banco Azteca"),
    ),
    own_fields=frozenset({"target_flow", "customer_phone"}),
    # Accounts in Mexico are 18-digit CLABEs: these are all zeros but the last digits.
    account_claims={
        "merchant_account": "000000000000000001",
        "merchant_account_bank": "MX_TEST",
        "merchant_account_type": "clabe",
        "user_rut": None,
        "user_account": "000000000000000002",
    },
    terms_url=None,
    thousands_separator=",",
)
COUNTRIES: dict[str, Country] = {country.currency: country for country in (CHILE, MEXICO)}


def country_for(currency: str) -> Country:
    try:
        return COUNTRIES[currency]
    except KeyError:
        raise ValueError(f"ETpay serves {' and '.join(COUNTRIES)} merchants only") from None


# -- funnel ----------------------------------------------------------------------------------------
REDIRECT_JWT_PARAMETER = "jwt"
# Where a SPEI payer sends the transfer: an obviously fake CLABE.
SANDBOX_CLABE = "000000000000000003"

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


def session_request_problem(body: Any, country: Country) -> str | None:
    """Why ETpay would refuse this session request (credentials aside), or None. A field of the
    other country is refused: what ETpay does with one is unpublished, and a merchant sending it
    has a bug worth seeing."""
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
    for other in COUNTRIES.values():
        if other is not country:
            for name in sorted(other.own_fields & set(body)):
                return f"{name} is for ETpay {other.name} merchants only"
    if "target_flow" in body and body["target_flow"] not in TARGET_FLOWS:
        return f"target_flow must be one of {', '.join(TARGET_FLOWS)}"
    if "customer_phone" in body and not PHONE.fullmatch(body["customer_phone"]):
        return "customer_phone must be 10 digits"
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

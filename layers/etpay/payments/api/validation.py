"""Validation of what callers send us. Every problem is reported by field name; values are never
echoed back (they may be payer data such as a RUT or a phone number).

What POST /sessions may carry is ETpay's optional session fields (etpay.sessions.SessionOptions),
as the stack's market allows them (payments/domain/markets.py): Chile's RUT fields,
Mexico's `target_flow` and `customer_phone`, and each country's bank codes. A field of the other
market is refused by name, saying which currency it belongs to."""

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from etpay.credentials import is_allowed_url
from etpay.sessions import NO_OPTIONS, OPTION_FIELDS, SessionOptions
from payments.domain.errors import ValidationFailed
from payments.domain.markets import MARKET_FIELDS, TARGET_FLOWS, Market, market_of_field
from payments.domain.orders import ORDER_ID_RULE, Resolution, is_valid_order_id
from payments.domain.sessions import SessionStart

# Bodies bigger than these are not requests we make sense of.
MAX_SESSION_BODY_BYTES = 16 * 1024
MAX_NOTIFICATION_BODY_BYTES = 16 * 1024
MAX_REVIEW_BODY_BYTES = 16 * 1024
# GET /reviews: orders per page when the caller does not say, and at most.
DEFAULT_REVIEW_PAGE_SIZE = 25
MAX_REVIEW_PAGE_SIZE = 100
# The operator's note on a resolution, in characters.
MAX_REVIEW_NOTE_CHARS = 1000
# A conservative dot-atom address (ASCII): ETpay uses it for refunds, so no guessing about it.
EMAIL_PATTERN = re.compile(
    r"[A-Za-z0-9_+-]{1,64}(?:\.[A-Za-z0-9_+-]{1,64})*@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
# A bank code is its country's prefix (the market's, any case) and then this.
BANK_CODE_REST = re.compile(r"[A-Za-z0-9_]{1,32}")
# Patterns are used with fullmatch: `$` alone would also accept a trailing newline.
# Chilean RUT without dots or hyphen: body digits then the check digit (0-9 or K), e.g. 111111111.
RUT_PATTERN = re.compile(r"^[0-9]{7,8}[0-9Kk]$")
# Mexico: ETpay documents a 10-digit phone (Mexican numbers are 10 digits, without the +52).
PHONE_PATTERN = re.compile(r"^[0-9]{10}$")
MAX_EMAIL_LENGTH = 254
MAX_URL_LENGTH = 2048
MAX_METADATA_ITEMS = 10
MAX_METADATA_NAME_LENGTH = 64
MAX_METADATA_VALUE_LENGTH = 256
METADATA_KEYS = frozenset({"name", "value", "show"})

REQUIRED_FIELDS = ("merchant_order_id", "order_amount")
KNOWN_FIELDS = frozenset(REQUIRED_FIELDS + OPTION_FIELDS)


def require_order_id(value: Any) -> str:
    if not is_valid_order_id(value):
        raise ValidationFailed({"merchant_order_id": f"must be {ORDER_ID_RULE}"})
    assert isinstance(value, str)
    return value


def parse_json_object(body: str | None) -> dict[str, Any]:
    if not body:
        raise ValidationFailed({"body": "must be a JSON object"}, "the request body is empty")
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        # RecursionError: JSON nested deeper than the decoder goes.
        raise ValidationFailed({"body": "must be a JSON object"}, "the request body is not JSON") from None
    if not isinstance(value, dict):
        raise ValidationFailed({"body": "must be a JSON object"})
    return value


def parse_session_start(payload: dict[str, Any], max_order_amount: int, market: Market) -> SessionStart:
    errors: dict[str, str] = {}
    for name in sorted(payload.keys() - KNOWN_FIELDS):
        errors[name[:64]] = "unknown field"
    foreign, checks = _market_rules(market)
    # ETpay documents these for one country only: never sent to a merchant of the other.
    for name in foreign:
        if name in payload and (owner := market_of_field(name)) is not None:
            errors[name] = (
                f"only for {owner.currency} stacks (ETpay {owner.country}); this stack's currency is {market.currency}"
            )

    # Absent is "required"; present but wrong says what it must be.
    if "merchant_order_id" not in payload:
        errors["merchant_order_id"] = f"required: {ORDER_ID_RULE}"
    elif not is_valid_order_id(payload["merchant_order_id"]):
        errors["merchant_order_id"] = f"must be {ORDER_ID_RULE}"

    amount = payload.get("order_amount")
    if "order_amount" not in payload:
        errors["order_amount"] = f"required: a JSON integer of {market.amount_unit} ({market.currency})"
    # JSON integers only: 10.0, "10" and true are refused, so no amount is ever guessed.
    elif not isinstance(amount, int) or isinstance(amount, bool):
        # ETpay's order_amount is an integer of whole units: centavos cannot be sent.
        errors["order_amount"] = f"must be a JSON integer of {market.amount_unit} ({market.currency})"
    elif not 1 <= amount <= max_order_amount:
        errors["order_amount"] = f"must be between 1 and {max_order_amount} {market.amount_unit} ({market.currency})"

    for name, check in checks.items():
        # Present means checked: `null` is not a value of any of these fields. A field of the
        # other market is already refused.
        if name in payload and name not in errors:
            problem = check(payload[name])
            if problem:
                errors[name] = problem

    if errors:
        raise ValidationFailed(errors)
    given = {name: payload[name] for name in OPTION_FIELDS if name in payload}
    return SessionStart(
        merchant_order_id=payload["merchant_order_id"],
        order_amount=payload["order_amount"],
        options=SessionOptions(**given) if given else NO_OPTIONS,
    )


@functools.cache
def _market_rules(market: Market) -> tuple[tuple[str, ...], dict[str, Callable[[Any], str | None]]]:
    """The other market's fields (refused by name) and the check of each optional field, made once
    per market rather than on every request."""
    checks: dict[str, Callable[[Any], str | None]] = {
        "customer_email": _check_email,
        "metadata": _check_metadata,
        "user_bank_code": _bank_code_check(market),
        "user_rut": _pattern_check(RUT_PATTERN, "a RUT without dots or hyphen, e.g. 111111111"),
        "is_rut_block": _check_bool,
        "target_flow": _check_target_flow,
        "customer_phone": _pattern_check(PHONE_PATTERN, "10 digits, e.g. 5512345678"),
        "payment_completed_url": _check_url,
        "payment_cancellation_url": _check_url,
    }
    return tuple(sorted(MARKET_FIELDS - market.own_fields)), checks


def _check_email(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.fullmatch(value):
        return "must be an email address"
    return None


def _bank_code_check(market: Market) -> Callable[[Any], str | None]:
    prefix = market.bank_code_prefix

    def check(value: Any) -> str | None:
        if (
            not isinstance(value, str)
            or not value[: len(prefix)].lower() == prefix
            or not BANK_CODE_REST.fullmatch(value[len(prefix) :])
        ):
            return f"must be a bank code of {market.country} ({prefix}...), e.g. {prefix}test"
        return None

    return check


def _check_target_flow(value: Any) -> str | None:
    return None if value in TARGET_FLOWS else f"must be one of {', '.join(TARGET_FLOWS)}"


def _check_bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _check_url(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH or not is_allowed_url(value):
        return "must be an https URL (http only for localhost)"
    return None


def _pattern_check(pattern: re.Pattern[str], description: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            return f"must be {description}"
        return None

    return check


def _check_metadata(value: Any) -> str | None:
    problem = (
        f"must be a list of at most {MAX_METADATA_ITEMS} objects "
        f"{{name: string (1-{MAX_METADATA_NAME_LENGTH}), value: string "
        f"(0-{MAX_METADATA_VALUE_LENGTH}), show: boolean}}"
    )
    if not isinstance(value, list) or len(value) > MAX_METADATA_ITEMS:
        return problem
    for item in value:
        if not isinstance(item, dict) or set(item) != METADATA_KEYS:
            return problem
        name, text, show = item["name"], item["value"], item["show"]
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_METADATA_NAME_LENGTH:
            return problem
        if not isinstance(text, str) or len(text) > MAX_METADATA_VALUE_LENGTH:
            return problem
        if not isinstance(show, bool):
            return problem
    return None


# -- the review queue ---------------------------------------------------------------------------------
RESOLUTION_FIELDS = frozenset({"resolution", "note"})
# Any text; a lone surrogate (which JSON's \u escapes can carry) is not text and cannot be stored.
NOTE_PATTERN = re.compile(r"^[^\ud800-\udfff]*$")
NOTE_RULE = f"1 to {MAX_REVIEW_NOTE_CHARS} characters of text"
LIMIT_PATTERN = re.compile(r"^[0-9]{1,3}$")


@dataclass(frozen=True)
class ReviewResolutionRequest:
    """An operator's request to close a review."""

    resolution: Resolution
    # The operator's free text: stored and returned by the API, never logged.
    note: str = field(repr=False)


def parse_review_resolution(payload: dict[str, Any]) -> ReviewResolutionRequest:
    errors: dict[str, str] = {}
    for name in sorted(set(payload) - RESOLUTION_FIELDS):
        errors[name[:64]] = "unknown field"
    choices = ", ".join(resolution.value for resolution in Resolution)
    resolution = payload.get("resolution")
    if "resolution" not in payload:
        errors["resolution"] = f"required: one of {choices}"
    elif not isinstance(resolution, str) or resolution not in {r.value for r in Resolution}:
        errors["resolution"] = f"must be one of {choices}"
    note = payload.get("note")
    if "note" not in payload:
        errors["note"] = f"required: {NOTE_RULE}"
    elif not isinstance(note, str) or not 1 <= len(note) <= MAX_REVIEW_NOTE_CHARS or not NOTE_PATTERN.fullmatch(note):
        errors["note"] = f"must be {NOTE_RULE}"
    if errors or not isinstance(resolution, str) or not isinstance(note, str):
        raise ValidationFailed(errors)
    return ReviewResolutionRequest(Resolution(resolution), note)


def parse_review_limit(value: str | None) -> int:
    """GET /reviews' `limit`: how many orders a page holds."""
    if value is None:
        return DEFAULT_REVIEW_PAGE_SIZE
    if not LIMIT_PATTERN.fullmatch(value) or not 1 <= int(value) <= MAX_REVIEW_PAGE_SIZE:
        raise ValidationFailed({"limit": f"must be an integer from 1 to {MAX_REVIEW_PAGE_SIZE}"})
    return int(value)

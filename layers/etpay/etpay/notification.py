"""ETpay's payment notification: a JWT signed HS256 with the session's `signature_token`.

Verification is two steps because the key depends on the token: `read_notification` reads the
unverified token once (its shape, header and claims) only to find which order and session (and so
which key) to use; `verify_notification` then checks the signature with that key (PyJWT, one parse)
and returns the claims. Nothing from the unverified read is trusted except the lookup keys.
"""

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import jwt

from etpay.errors import InvalidNotification
from etpay.records import TOKEN_PATTERN, Notification, payment_from_record

ALGORITHM = "HS256"
# A real notification is well under 2 KiB; a bigger token is not ETpay's.
MAX_JWT_LENGTH = 8192
# ETpay's tokens carry `iat` but no `exp`. Allow for clock skew between ETpay and AWS.
IAT_LEEWAY_SECONDS = 600
REQUIRED_CLAIMS = ("session_token", "merchant_order_id", "merchant_amount", "payment_status")
JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class ReceivedNotification:
    """A notification as it arrived: a compact JWT with one meaning (no name repeated in its header
    or claims) and an HS256 header. Unverified: its lookup keys (which order and session, and so
    which key) are read from it and trusted for nothing else."""

    token: str
    session_token: str
    merchant_order_id: str


def read_notification(token: str) -> ReceivedNotification:
    """The token's shape, header and lookup keys, read once, without the key: the `session_token`
    and `merchant_order_id` claims of an *unverified* notification."""
    header, claims = _read_segments(token)
    _check_header(header)
    session_token = claims.get("session_token")
    if not isinstance(session_token, str) or not TOKEN_PATTERN.fullmatch(session_token):
        raise InvalidNotification("no usable session_token claim")
    merchant_order_id = claims.get("merchant_order_id")
    if not isinstance(merchant_order_id, str) or not TOKEN_PATTERN.fullmatch(merchant_order_id):
        raise InvalidNotification("no usable merchant_order_id claim")
    return ReceivedNotification(token, session_token, merchant_order_id)


def verify_notification(received: ReceivedNotification, signature_token: str) -> Notification:
    """Verify the signature with the session's key and return the claims we act on. PyJWT checks
    the signature, with the algorithm pinned (the header was checked when the token was read), and
    `iat`."""
    try:
        claims = jwt.decode(
            received.token,
            key=signature_token,
            algorithms=[ALGORITHM],
            leeway=IAT_LEEWAY_SECONDS,
            options={"require": list(REQUIRED_CLAIMS), "verify_aud": False, "verify_iss": False},
        )
    except jwt.PyJWTError as error:
        raise InvalidNotification(f"verification failed: {type(error).__name__}") from error
    return payment_from_record(claims)


def sign_notification(claims: Mapping[str, Any], signature_token: str, **header: Any) -> str:
    """Sign claims the way ETpay does. For tests, fixtures and the local sandbox."""
    return jwt.encode(dict(claims), signature_token, algorithm=ALGORITHM, headers=header or None)


def _read_segments(token: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and the claims of a compact JWT, each a JSON object."""
    if not isinstance(token, str) or len(token) > MAX_JWT_LENGTH or not JWT_SHAPE.fullmatch(token):
        raise InvalidNotification("not a compact JWT")
    segments = []
    # JSON parsers disagree on repeated keys (first wins, last wins): a token whose header or
    # claims repeat a name means different things to different readers, so it means nothing.
    for segment in token.split(".")[:2]:
        try:
            value = json.loads(
                base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)), object_pairs_hook=_unique_keys
            )
        except (ValueError, RecursionError, binascii.Error) as error:
            # RecursionError: JSON nested deeper than the decoder goes.
            raise InvalidNotification(f"malformed segment: {type(error).__name__}") from None
        if not isinstance(value, dict):
            raise InvalidNotification("malformed segment: not a JSON object")
        segments.append(value)
    header, claims = segments
    return header, claims


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        raise ValueError("repeated member name")
    return dict(pairs)


def _check_header(header: Mapping[str, Any]) -> None:
    # Pin the algorithm before any key is chosen: `none`, RS/ES (public-key confusion) and
    # anything else ETpay does not use are refused outright.
    if header.get("alg") != ALGORITHM:
        raise InvalidNotification("algorithm is not HS256")
    # RFC 7515 4.1.11: a token with critical extensions we do not understand must be rejected.
    if "crit" in header:
        raise InvalidNotification("critical header extensions are not supported")


def token_from_body(body: str, content_type: str | None = None) -> str | None:
    """Find the notification JWT in a webhook body, or None.

    ETpay's documented handler reads JSON `{"payment": "<jwt>"}`; a form field `payment=<jwt>` and
    a bare JWT body are accepted too, since the exact delivery format is not published.
    """
    text = body.strip()
    if not text:
        return None
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            return None
        token = value.get("payment") if isinstance(value, dict) else None
        return token.strip() if isinstance(token, str) and token.strip() else None
    if "=" in text or (content_type or "").lower().startswith("application/x-www-form-urlencoded"):
        fields = parse_qs(text, keep_blank_values=False)
        values = fields.get("payment", [])
        return values[0].strip() if len(values) == 1 and values[0].strip() else None
    return text if JWT_SHAPE.fullmatch(text) else None

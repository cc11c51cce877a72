"""ETpay's merchant API over HTTP: session creation and the payment status check.

Request bodies carry `merchant_api_token` (ETpay authenticates in the body), so nothing here ever
logs a body. No call is retried automatically: ETpay does not say whether it deduplicates
`merchant_order_id`, so re-POSTing `/session/initialize` after a timeout could open a second
session. The caller decides what a retry means.
"""

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import urllib3

from etpay.credentials import Credentials
from etpay.errors import EtpayRateLimited, EtpayResponseError, EtpayTimeout, EtpayUnavailable
from etpay.records import TOKEN_PATTERN
from etpay.sessions import CreatedSession, SessionRequest

# ETpay publishes no limits; these keep every call well inside API Gateway's 29 s.
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 10.0
TOTAL_TIMEOUT_SECONDS = 12.0
# One Timeout for every call (urllib3 copies it per request).
TIMEOUT = urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS, total=TOTAL_TIMEOUT_SECONDS)
# A session answer is a few hundred bytes; refuse to buffer anything absurd.
MAX_RESPONSE_BYTES = 256 * 1024
TOO_MANY_REQUESTS = 429

INITIALIZE_PATH = "/session/initialize"
STATUS_PATH = "/merchant/check_payment_status"

# One pool per process: Lambda reuses it across warm invocations (keep-alive to ETpay).
_POOL = urllib3.PoolManager(num_pools=4, maxsize=4, retries=False)


def forget_connections() -> None:
    """Close every pooled connection (after a SnapStart restore: none from the snapshot is used)."""
    _POOL.clear()


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """RFC 9110's Retry-After: a number of seconds, or an HTTP date; None if absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


class EtpayClient:
    def __init__(self, credentials: Credentials, pool: urllib3.PoolManager | None = None):
        self._credentials = credentials
        self._pool = pool or _POOL

    @property
    def credentials(self) -> Credentials:
        return self._credentials

    def initialize_session(self, request: SessionRequest) -> CreatedSession:
        payload = self._post(INITIALIZE_PATH, request.body(self._credentials))
        if not isinstance(payload, dict):
            raise EtpayResponseError("session answer is not a JSON object")
        token = payload.get("token")
        signature_token = payload.get("signature_token")
        if not isinstance(token, str) or not TOKEN_PATTERN.fullmatch(token):
            raise EtpayResponseError("session answer has no usable token")
        if not isinstance(signature_token, str) or not TOKEN_PATTERN.fullmatch(signature_token):
            raise EtpayResponseError("session answer has no usable signature_token")
        terms_url = payload.get("terms_url")
        return CreatedSession(
            token=token,
            signature_token=signature_token,
            terms_url=terms_url if isinstance(terms_url, str) else None,
        )

    def check_payment_status(
        self,
        *,
        session_token: str | None = None,
        merchant_order_id: str | None = None,
        payment_token: str | None = None,
    ) -> list[dict[str, Any]]:
        """ETpay's payment records for a session/order/payment; an empty list means none yet."""
        keys = {
            "session_token": session_token,
            "merchant_order_id": merchant_order_id,
            "payment_token": payment_token,
        }
        keys = {name: value for name, value in keys.items() if value}
        if not keys:
            raise ValueError("check_payment_status needs at least one lookup key")
        body = {
            "merchant_code": self._credentials.merchant_code,
            "merchant_api_token": self._credentials.merchant_api_token,
            **keys,
        }
        payload = self._post(STATUS_PATH, body)
        # The SDK's README shows a single object, its code a list: accept both.
        if isinstance(payload, dict):
            payload = [payload]
        if not isinstance(payload, list) or not all(isinstance(item, dict) for item in payload):
            raise EtpayResponseError("status answer is not a list of payment objects")
        return payload

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        try:
            response = self._pool.request(
                "POST",
                self._credentials.api_url + path,
                body=json.dumps(body).encode(),
                headers={"Content-Type": "application/json", "Accept": "application/json"},
                timeout=TIMEOUT,
                retries=False,
                redirect=False,
                preload_content=False,
            )
        except urllib3.exceptions.NewConnectionError as error:
            # urllib3 files "connection refused" under ConnectTimeoutError; it is not a timeout.
            raise EtpayUnavailable(f"ETpay unreachable on {path}: {type(error).__name__}") from error
        except (urllib3.exceptions.TimeoutError, TimeoutError) as error:
            raise EtpayTimeout(f"ETpay did not answer {path} in time") from error
        except urllib3.exceptions.HTTPError as error:
            raise EtpayUnavailable(f"ETpay unreachable on {path}: {type(error).__name__}") from error
        try:
            raw = response.read(MAX_RESPONSE_BYTES + 1)
        except (urllib3.exceptions.TimeoutError, TimeoutError) as error:
            raise EtpayTimeout(f"ETpay did not finish answering {path} in time") from error
        except urllib3.exceptions.HTTPError as error:
            raise EtpayUnavailable(f"ETpay answer to {path} broke off") from error
        finally:
            response.release_conn()
        if not 200 <= response.status < 300:
            # ETpay's error bodies are not documented and may echo input: keep only the status.
            retry_after = response.headers.get("Retry-After")
            if response.status == TOO_MANY_REQUESTS or retry_after is not None:
                raise EtpayRateLimited(
                    f"ETpay answered {response.status} on {path}", response.status, parse_retry_after(retry_after)
                )
            raise EtpayUnavailable(f"ETpay answered {response.status} on {path}", response.status)
        if len(raw) > MAX_RESPONSE_BYTES:
            raise EtpayResponseError(f"ETpay answer to {path} is too large")
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            # RecursionError: JSON nested deeper than the decoder goes (a few KB of brackets).
            raise EtpayResponseError(f"ETpay answer to {path} is not JSON") from None

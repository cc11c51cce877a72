"""ETpay's session request and answer, with ETpay's field names. Pure: the client sends them.

`SessionOptions` declares the optional fields of `POST /session/initialize` once: the merchant's
`POST /sessions` takes exactly these (validated by the API, per market), and the client sends them
on as they are.
"""

from dataclasses import dataclass, field, fields
from typing import Any

from etpay.credentials import Credentials


@dataclass(frozen=True)
class SessionOptions:
    """What a session may carry besides the order id and amount. None: not sent."""

    customer_email: str | None = None
    metadata: list[dict[str, Any]] | None = None
    user_bank_code: str | None = None
    # Payer data: never in a repr, a log line or an answer.
    user_rut: str | None = field(default=None, repr=False)
    is_rut_block: bool | None = None
    # Mexico only: `codi` or `spei`, and the payer's 10-digit phone (payer data, as the RUT).
    target_flow: str | None = None
    customer_phone: str | None = field(default=None, repr=False)
    payment_completed_url: str | None = None
    payment_cancellation_url: str | None = None


# The optional fields' names, in declaration order (the order they are sent in).
OPTION_FIELDS = tuple(option.name for option in fields(SessionOptions))
# A session with none of them (the usual one): shared, as SessionOptions is immutable.
NO_OPTIONS = SessionOptions()


@dataclass(frozen=True)
class SessionRequest:
    """What we ask ETpay for."""

    merchant_order_id: str
    order_amount: int
    payment_webhook_url: str | None = None
    options: SessionOptions = NO_OPTIONS

    def body(self, credentials: Credentials) -> dict[str, Any]:
        body: dict[str, Any] = {
            "merchant_code": credentials.merchant_code,
            "merchant_api_token": credentials.merchant_api_token,
            "merchant_order_id": self.merchant_order_id,
            "order_amount": self.order_amount,
        }
        if self.payment_webhook_url is not None:
            body["payment_webhook_url"] = self.payment_webhook_url
        options = self.options
        body.update((name, value) for name in OPTION_FIELDS if (value := getattr(options, name)) is not None)
        return body


@dataclass(frozen=True)
class CreatedSession:
    """A session ETpay opened: its token, the key its notifications are signed with."""

    token: str
    signature_token: str = field(repr=False)
    terms_url: str | None = None

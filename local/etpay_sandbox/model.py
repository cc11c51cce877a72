"""What the sandbox and its HTTP side share: the sandbox's refusals, a session's state, an
endpoint's answer.

Imports run one way only: `sandbox.py` uses `routes.py` (its request handler), and both use this
module, which uses neither.
"""

from dataclasses import dataclass, field
from typing import Any, Protocol

from local.etpay_sandbox import rules


# -- errors --------------------------------------------------------------------------------------------
class SandboxError(Exception):
    """Base of every refusal the sandbox's API makes; the message never carries a secret."""


class UnknownSession(SandboxError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "no such session"


class SessionFinished(SandboxError, ValueError):
    """The session already has a result: ETpay pays a session at most once."""


class NothingToDeliver(SandboxError, ValueError):
    """No notification built yet, or no notification URL to send it to."""


class DeliveryRefused(SandboxError, ValueError):
    """The sandbox only ever POSTs to this machine."""


class DeliveryFailed(SandboxError):
    """The notification URL could not be reached or did not answer in time."""


class ConnectionDropped(Exception):
    """Internal: close the client's connection without answering (the sandbox is stopping)."""


class SandboxServer(Protocol):
    """What a request handler needs of the HTTP server that built it: the sandbox it serves."""

    sandbox: Any


# -- state ---------------------------------------------------------------------------------------------
@dataclass
class SandboxSession:
    token: str
    signature_token: str = field(repr=False)
    merchant_order_id: str
    order_amount: int
    request: dict[str, Any] = field(repr=False)
    status: str = "pending"  # pending | paid | failed | unknown (a payment_status of unpublished meaning)
    payment_token: str | None = None
    payment_status: Any = None
    user_bank: str = rules.CHILE.test_bank
    # Mexico: the flow the payer paid with, `spei` or `codi` (target_flow, else the payer's pick).
    flow: str | None = None
    notifications: list[str] = field(default_factory=list, repr=False)

    @property
    def finished(self) -> bool:
        return self.status != "pending"

    @property
    def webhook_url(self) -> str | None:
        return self.request.get("payment_webhook_url")

    @property
    def target_flow(self) -> str | None:
        return self.request.get("target_flow")


@dataclass(frozen=True)
class Answer:
    """What an ETpay endpoint answers: a status and a JSON value (or raw bytes for `malformed`)."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def known_bank(code: Any, country: rules.Country) -> str | None:
    """The sandbox's spelling of one of the country's bank codes (ETpay's docs and SDK differ in
    case), or None."""
    if not isinstance(code, str):
        return None
    return next((known for known, _ in country.banks if known.lower() == code.lower()), None)

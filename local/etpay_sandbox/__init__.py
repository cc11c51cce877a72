"""A local stand-in for ETpay's merchant API and payment funnel, for demos and tests.

It behaves as `docs/ETPAY.md` describes ETpay: sessions opened with the merchant's
credentials, a funnel page at `{pmt_url}/session/{token}`, notifications signed HS256 with each
session's own `signature_token` and POSTed as `{"payment": "<jwt>"}`, and the status API. A
control API under `/_control/` drives it without a browser (see README.md beside this file).
"""

from local.etpay_sandbox.model import (
    DeliveryFailed,
    DeliveryRefused,
    NothingToDeliver,
    SandboxError,
    SandboxSession,
    SessionFinished,
    UnknownSession,
)
from local.etpay_sandbox.sandbox import EtpaySandbox

__all__ = [
    "DeliveryFailed",
    "DeliveryRefused",
    "EtpaySandbox",
    "NothingToDeliver",
    "SandboxError",
    "SandboxSession",
    "SessionFinished",
    "UnknownSession",
]

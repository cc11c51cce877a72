"""The four values ETpay issues per merchant and environment (sandbox, pre-production, production)."""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from etpay.errors import InvalidCredentials

CREDENTIAL_FIELDS = ("merchant_code", "merchant_api_token", "api_url", "pmt_url")
# https to a host name or address, with an optional port; plain http only to this machine (the local
# sandbox and tests). The path, query and fragment take only RFC 3986's unreserved and reserved
# characters and %-escapes, so a URL we hand to ETpay or a browser is never left to be re-encoded.
# openapi.yaml's RedirectUrl has the same pattern: what the contract refuses, this refuses.
ALLOWED_URL = re.compile(
    r"(?:https://[A-Za-z0-9.-]+|http://(?:localhost|127\.0\.0\.1))(?::[0-9]{1,5})?"
    r"(?:/(?:[A-Za-z0-9._~:/?#@!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*)?"
)


def is_allowed_url(url: str) -> bool:
    """https anywhere; plain http only on this machine. No user or password part (the host
    pattern leaves no room for one), a port of at most 65535."""
    if not isinstance(url, str) or not ALLOWED_URL.fullmatch(url):
        return False
    try:
        port = urlsplit(url).port
    except ValueError:
        return False
    return port != 0


@dataclass(frozen=True)
class Credentials:
    """A merchant's ETpay credentials and endpoints."""

    merchant_code: str
    # repr=False: a credentials object printed in a traceback or log must not leak the token.
    merchant_api_token: str = field(repr=False)
    api_url: str
    pmt_url: str

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "Credentials":
        missing = [
            name for name in CREDENTIAL_FIELDS if not isinstance(values.get(name), str) or not values[name].strip()
        ]
        if missing:
            raise InvalidCredentials(f"missing or empty credential fields: {', '.join(missing)}")
        bad_urls = [name for name in ("api_url", "pmt_url") if not is_allowed_url(values[name])]
        if bad_urls:
            raise InvalidCredentials(f"credential URLs must be https: {', '.join(bad_urls)}")
        return cls(
            merchant_code=values["merchant_code"].strip(),
            merchant_api_token=values["merchant_api_token"].strip(),
            api_url=values["api_url"].strip().rstrip("/"),
            pmt_url=values["pmt_url"].strip().rstrip("/"),
        )

    def funnel_url(self, session_token: str) -> str:
        """Where the payer's browser goes to pay: `{pmt_url}/session/{token}`."""
        return f"{self.pmt_url}/session/{quote(session_token, safe='')}"

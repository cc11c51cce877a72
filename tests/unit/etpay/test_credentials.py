"""ETpay's credentials: all four values, and URLs a payer's browser or our client may be sent to."""

import pytest

from etpay.credentials import Credentials, is_allowed_url
from etpay.errors import InvalidCredentials

VALID = {
    "merchant_code": "m",
    "merchant_api_token": "t" * 20,
    "api_url": "https://api.etpay.example",
    "pmt_url": "https://pmt.etpay.example/",
}


@pytest.mark.parametrize(
    "overrides",
    [{"merchant_api_token": " "}, {"api_url": "http://api.etpay.example"}, {"pmt_url": "ftp://pmt.etpay.example"}],
)
def test_incomplete_or_insecure_credentials_are_refused_without_quoting_the_token(overrides):
    with pytest.raises(InvalidCredentials) as refused:
        Credentials.from_mapping({**VALID, **overrides})

    assert VALID["merchant_api_token"] not in str(refused.value)


def test_the_funnel_url_is_the_pmt_url_and_the_session():
    assert Credentials.from_mapping(VALID).funnel_url("a/b") == "https://pmt.etpay.example/session/a%2Fb"


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://shop.example/ok", True),
        ("http://localhost:3000/ok", True),
        ("http://shop.example/ok", False),
        ("https://[::1", False),  # not a URL at all
        ("https://user:pw@shop.example/", False),
        ("http://127.0.0.1:8000/ok?a=1#top", True),
        ("https://shop.example:8443", True),
        ("https://shop.example*", False),  # not a host name: the contract's pattern refuses it too
        ("https://shop.example?ok=1", False),  # the contract wants a path before the query
        ("https://shop.example:99999/", False),
        ("https://shop.example:0/", False),
        ("https://shop.example/[x]", False),
    ],
)
def test_allowed_urls(url, allowed):
    assert is_allowed_url(url) is allowed

"""Webhook signatures as Standard Webhooks defines them, checked by the `standardwebhooks` library
(what a merchant verifies with), through a secret's rotation."""

import base64
import json
import secrets
import string
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from payments.domain.errors import ConfigurationUnavailable
from payments.domain.webhooks import signing_key, webhook_headers

BODY = json.dumps({"id": "evt_0123", "type": "payment.succeeded", "data": {"order": {"merchant_order_id": "OC-1"}}})


def a_secret() -> str:
    """As the stack generates one: 48 letters and digits (GenerateSecretString)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(48))


def merchant(secret: str) -> Webhook:
    """The merchant's verifier, given the secret in its canonical form."""
    return Webhook("whsec_" + secret)


def signed(*secrets_: str, body: str = BODY, timestamp: int | None = None) -> dict[str, str]:
    keys = [signing_key(secret) for secret in secrets_]
    return webhook_headers("evt_0123", int(time.time()) if timestamp is None else timestamp, body, keys)


def test_the_merchant_verifies_a_webhook_with_the_library():
    secret = a_secret()

    payload = merchant(secret).verify(BODY, signed(secret))

    assert payload["type"] == "payment.succeeded"


def test_the_headers_are_standard_webhooks():
    headers = signed(a_secret(), timestamp=1_767_225_600)

    assert headers["webhook-id"] == "evt_0123"
    assert headers["webhook-timestamp"] == "1767225600"
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["content-type"] == "application/json"


def test_the_secret_works_with_and_without_its_prefix():
    secret = a_secret()

    assert signing_key(secret) == signing_key("whsec_" + secret) == base64.b64decode(secret)
    assert Webhook(secret).verify(BODY, signed("whsec_" + secret))


def test_a_tampered_body_or_another_secret_does_not_verify():
    secret = a_secret()
    headers = signed(secret)

    with pytest.raises(WebhookVerificationError):
        merchant(secret).verify(BODY.replace("OC-1", "OC-2"), headers)
    with pytest.raises(WebhookVerificationError):
        merchant(a_secret()).verify(BODY, headers)


def test_during_a_rotation_both_the_old_and_the_new_secret_verify():
    # given a rotation: the new secret is current, the old one previous; both sign
    old, new = a_secret(), a_secret()
    headers = signed(new, old)

    # then a merchant still on the old secret, and one already on the new, both accept it
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert merchant(old).verify(BODY, headers)
    assert merchant(new).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        merchant(a_secret()).verify(BODY, headers)


def test_a_stale_timestamp_is_refused_by_the_library():
    secret = a_secret()

    with pytest.raises(WebhookVerificationError):
        merchant(secret).verify(BODY, signed(secret, timestamp=int(time.time()) - 3600))


@pytest.mark.parametrize("bad", ["", "not base64 !", "whsec_" + "A" * 8, "short"])
def test_a_secret_that_is_no_usable_key_is_refused_without_showing_it(bad):
    with pytest.raises(ConfigurationUnavailable) as refused:
        signing_key(bad)
    if bad:
        assert bad.removeprefix("whsec_") not in refused.value.message


def test_no_key_is_refused_rather_than_sending_an_unsigned_webhook():
    with pytest.raises(ConfigurationUnavailable):
        webhook_headers("evt_0123", 1_767_225_600, BODY, [])

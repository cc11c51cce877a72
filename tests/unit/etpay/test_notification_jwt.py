"""The notification JWT: only HS256 signed with the session's signature_token is believed."""

import base64
import json
import time

import jwt
import pytest

from etpay.errors import InvalidNotification
from etpay.notification import (
    ReceivedNotification,
    read_notification,
    sign_notification,
    token_from_body,
    verify_notification,
)
from etpay.records import PaymentOutcome, classify_payment_status, describe_payment_status, payment_from_record

SIGNATURE_TOKEN = "sig-" + "k" * 40
OTHER_SIGNATURE_TOKEN = "sig-" + "z" * 40


def claims(**overrides):
    values = {
        "session_token": "sess-abc",
        "merchant_order_id": "OC-700104",
        "merchant_amount": 50000,
        "merchant_currency": "CLP",
        "payment_token": "pay-123",
        "payment_status": True,
        "user_rut": "111111111",
        "user_account": "000123456",
        "iat": int(time.time()),
    }
    values.update(overrides)
    return values


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_correctly_signed_notification_is_verified():
    token = sign_notification(claims(), SIGNATURE_TOKEN)

    notification = verify_notification(read_notification(token), SIGNATURE_TOKEN)

    assert read_notification(token) == ReceivedNotification(token, "sess-abc", "OC-700104")
    assert notification.merchant_order_id == "OC-700104"
    assert notification.merchant_amount == 50000
    assert notification.payment_token == "pay-123"
    assert notification.outcome is PaymentOutcome.PAID


def test_payer_data_is_not_kept_on_the_verified_notification():
    notification = verify_notification(read_notification(sign_notification(claims(), SIGNATURE_TOKEN)), SIGNATURE_TOKEN)

    assert "111111111" not in repr(notification)
    assert not hasattr(notification, "user_rut")


def test_a_wrong_key_is_rejected():
    token = sign_notification(claims(), OTHER_SIGNATURE_TOKEN)

    with pytest.raises(InvalidNotification):
        verify_notification(read_notification(token), SIGNATURE_TOKEN)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_a_token_signed_with_the_public_session_token_is_rejected():
    # ETpay's system-error redirect token is signed with the session token, which is public.
    token = jwt.encode({"session_token": "sess-abc", "system_error": True}, "sess-abc", algorithm="HS256")

    with pytest.raises(InvalidNotification):
        verify_notification(read_notification(token), SIGNATURE_TOKEN)


def test_alg_none_is_rejected_before_any_key_is_looked_up():
    token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}."

    with pytest.raises(InvalidNotification):
        read_notification(token)
    with pytest.raises(InvalidNotification):
        verify_notification(read_notification(token), SIGNATURE_TOKEN)


@pytest.mark.parametrize("alg", ["HS384", "HS512", "RS256", "ES256", "None", "hs256"])
def test_every_algorithm_but_hs256_is_rejected(alg):
    header = b64({"alg": alg, "typ": "JWT"})
    body = b64(claims())
    token = f"{header}.{body}.c2lnbmF0dXJl"

    with pytest.raises(InvalidNotification):
        read_notification(token)


def test_a_tampered_payload_is_rejected():
    header, _, signature = sign_notification(claims(), SIGNATURE_TOKEN).split(".")
    tampered = f"{header}.{b64(claims(merchant_amount=1))}.{signature}"

    assert read_notification(tampered).session_token == "sess-abc"  # the lookup still works ...
    with pytest.raises(InvalidNotification):
        verify_notification(read_notification(tampered), SIGNATURE_TOKEN)  # ... but the signature does not


def test_critical_header_extensions_are_rejected():
    token = sign_notification(claims(), SIGNATURE_TOKEN, crit=["exp"])

    with pytest.raises(InvalidNotification):
        read_notification(token)


@pytest.mark.parametrize("missing", ["session_token", "merchant_order_id", "merchant_amount", "payment_status"])
def test_a_notification_without_a_required_claim_is_rejected(missing):
    values = claims()
    del values[missing]

    with pytest.raises(InvalidNotification):
        verify_notification(read_notification(sign_notification(values, SIGNATURE_TOKEN)), SIGNATURE_TOKEN)


def test_an_iat_far_in_the_future_is_rejected():
    token = sign_notification(claims(iat=int(time.time()) + 86_400), SIGNATURE_TOKEN)

    with pytest.raises(InvalidNotification):
        verify_notification(read_notification(token), SIGNATURE_TOKEN)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b", "a.b.c.d", "é.é.é", "x" * 9000, "eyJ.eyJ.sig"])
def test_malformed_tokens_are_rejected(garbage):
    with pytest.raises(InvalidNotification):
        read_notification(garbage)


@pytest.mark.parametrize("claim", ["session_token", "merchant_order_id"])
@pytest.mark.parametrize("value", [["x"], 7, None, "", "a b"])
def test_an_unusable_lookup_claim_is_rejected(claim, value):
    with pytest.raises(InvalidNotification):
        read_notification(sign_notification(claims(**{claim: value}), SIGNATURE_TOKEN))


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        (True, PaymentOutcome.PAID),
        ("success", PaymentOutcome.PAID),
        (" SUCCESS ", PaymentOutcome.PAID),
        (False, PaymentOutcome.FAILED),
        ("error", PaymentOutcome.FAILED),
        ("failed", PaymentOutcome.FAILED),
        ("Rejected", PaymentOutcome.FAILED),
        ("canceled", PaymentOutcome.FAILED),
        ("cancelled", PaymentOutcome.FAILED),
        ("pending", PaymentOutcome.UNKNOWN),
        ("true", PaymentOutcome.UNKNOWN),
        (1, PaymentOutcome.UNKNOWN),
        (0, PaymentOutcome.UNKNOWN),
        (None, PaymentOutcome.UNKNOWN),
        ({"ok": True}, PaymentOutcome.UNKNOWN),
    ],
)
def test_payment_status_words(value, outcome):
    assert classify_payment_status(value) is outcome


@pytest.mark.parametrize(
    ("amount", "parsed"), [(50000, 50000), ("50000", 50000), (50000.0, None), (True, None), ("5e4", None)]
)
def test_merchant_amount_must_be_a_whole_number(amount, parsed):
    token = sign_notification(claims(merchant_amount=amount), SIGNATURE_TOKEN)

    assert verify_notification(read_notification(token), SIGNATURE_TOKEN).merchant_amount == parsed


class TestTokenFromBody:
    TOKEN = sign_notification(claims(), SIGNATURE_TOKEN)

    def test_json_body(self):
        assert token_from_body(json.dumps({"payment": self.TOKEN})) == self.TOKEN

    def test_form_body(self):
        assert token_from_body(f"payment={self.TOKEN}", "application/x-www-form-urlencoded") == self.TOKEN

    def test_bare_body(self):
        assert token_from_body(f"  {self.TOKEN}\n", "text/plain") == self.TOKEN

    @pytest.mark.parametrize(
        "body",
        ["", "   ", "{}", '{"payment": 5}', '{"payment": ""}', "[1]", "{not json", "other=1", "hello world"],
    )
    def test_bodies_without_a_token(self, body):
        assert token_from_body(body, "application/json") is None

    def test_a_form_with_two_payment_fields_is_refused(self):
        assert token_from_body(f"payment={self.TOKEN}&payment={self.TOKEN}") is None


def raw_token(header: str, payload: str, key: str = SIGNATURE_TOKEN) -> str:
    """A token signed correctly over hand-written JSON (what PyJWT would never produce)."""
    import hashlib
    import hmac

    def seg(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()

    signing_input = f"{seg(header)}.{seg(payload)}"
    signature = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def test_a_correctly_signed_token_with_repeated_claims_is_rejected():
    payload = (
        '{"session_token": "sess-abc", "merchant_order_id": "OC-1", "merchant_amount": 1,'
        ' "merchant_amount": 50000, "payment_status": true}'
    )
    token = raw_token('{"alg": "HS256", "typ": "JWT"}', payload)

    with pytest.raises(InvalidNotification):
        read_notification(token)
    with pytest.raises(InvalidNotification):
        verify_notification(read_notification(token), SIGNATURE_TOKEN)


def test_a_repeated_alg_header_is_rejected():
    token = raw_token('{"alg": "none", "alg": "HS256"}', json.dumps(claims()))

    with pytest.raises(InvalidNotification):
        read_notification(token)


def test_a_non_utf8_payload_segment_is_rejected():
    body = base64.urlsafe_b64encode(b'{"session_token": "\\xff\xfe"}').rstrip(b"=").decode()
    token = f"{b64({'alg': 'HS256'})}.{body}.c2ln"

    with pytest.raises(InvalidNotification):
        read_notification(token)


def test_key_hints_in_the_header_are_ignored():
    # We never fetch keys: jku / jwk / kid cannot point verification at an attacker's key.
    attacker_key = "attacker-" + "a" * 40
    token = sign_notification(claims(), attacker_key, kid="x", jku="https://evil.example/jwks")

    with pytest.raises(InvalidNotification):
        verify_notification(read_notification(token), SIGNATURE_TOKEN)


def test_a_jwt_with_a_trailing_newline_inside_the_token_is_not_a_jwt():
    token = sign_notification(claims(), SIGNATURE_TOKEN)

    with pytest.raises(InvalidNotification):
        read_notification(token + "\n")


@pytest.mark.parametrize(
    ("value", "described"),
    [
        ("processing", "processing"),
        ("x" * 100, "x" * 64),
        (1, "1"),
        (None, "None"),
        (True, "True"),
        ({"nested": "111111111"}, "dict"),  # never the content: it could be payer data
        (["a"], "list"),
    ],
)
def test_an_unknown_payment_status_is_described_briefly_and_safely(value, described):
    assert describe_payment_status(value) == described


@pytest.mark.parametrize(
    "record",
    [
        ["not", "an", "object"],
        {"session_token": "sess-abc", "payment_status": True},  # no merchant_order_id
        {"session_token": 7, "merchant_order_id": "OC-1"},
    ],
)
def test_a_payment_record_without_usable_keys_is_refused(record):
    with pytest.raises(InvalidNotification):
        payment_from_record(record)


def test_a_status_record_without_a_session_token_is_read_as_the_one_asked_about():
    record = {key: value for key, value in claims().items() if key != "session_token"}
    assert payment_from_record(record, session_token="sess-asked").session_token == "sess-asked"


@pytest.mark.parametrize(("payment_token", "kept"), [("pay-1", "pay-1"), (42, "42"), ({"id": 1}, None), (None, None)])
def test_a_payment_token_is_kept_only_as_text(payment_token, kept):
    assert payment_from_record(claims(payment_token=payment_token)).payment_token == kept

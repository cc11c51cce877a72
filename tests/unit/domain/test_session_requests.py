"""What ETpay is asked for: the notification URL with the stack's key (and nothing else of the
URL lost), the stack's redirects where the merchant gave none, and the optional fields as sent."""

import pytest

from etpay.credentials import Credentials
from etpay.sessions import SessionOptions
from payments.domain.sessions import SessionStart, session_request, with_key


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.example/prod/notifications", "https://api.example/prod/notifications?key=k%2Fy+z"),
        ("https://hooks.shop.example/etpay?shop=7", "https://hooks.shop.example/etpay?shop=7&key=k%2Fy+z"),
        ("https://hooks.shop.example/etpay?key=old&shop=7", "https://hooks.shop.example/etpay?shop=7&key=k%2Fy+z"),
        ("https://hooks.shop.example/etpay?a=1&a=2#frag", "https://hooks.shop.example/etpay?a=1&a=2&key=k%2Fy+z#frag"),
        ("http://localhost:3000/notifications?", "http://localhost:3000/notifications?key=k%2Fy+z"),
    ],
)
def test_the_notification_url_carries_the_key_and_keeps_the_rest(url, expected):
    assert with_key(url, "k/y z") == expected


def test_each_request_gets_the_key_it_is_given_for_the_same_url():
    url = "https://hooks.shop.example/etpay?shop=7"
    assert with_key(url, "first").endswith("key=first")
    assert with_key(url, "second").endswith("key=second")


def test_the_stack_redirects_fill_only_what_the_merchant_left_out():
    given = SessionStart("OC-1", 1000, SessionOptions(payment_completed_url="https://shop.example/done"))
    request = session_request(given, None, "", "https://stack.example/ok", "https://stack.example/cancel")
    assert request.options.payment_completed_url == "https://shop.example/done"
    assert request.options.payment_cancellation_url == "https://stack.example/cancel"
    assert request.payment_webhook_url is None

    plain = SessionStart("OC-2", 1000)
    assert session_request(plain, None, "", None, None).options is plain.options


def test_the_body_sends_the_optional_fields_given_in_their_declared_order():
    credentials = Credentials.from_mapping(
        {"merchant_code": "m", "merchant_api_token": "t", "api_url": "https://api.etpay.example",
         "pmt_url": "https://pmt.etpay.example"}
    )  # fmt: skip
    metadata = [{"name": "cart", "value": "7", "show": False}]
    options = SessionOptions(customer_email="a@b.example", metadata=metadata, is_rut_block=False)
    body = session_request(SessionStart("OC-3", 5, options), "https://x.example/n", "k", None, None).body(credentials)
    assert list(body) == [
        "merchant_code", "merchant_api_token", "merchant_order_id", "order_amount", "payment_webhook_url",
        "customer_email", "metadata", "is_rut_block",
    ]  # fmt: skip
    assert body["metadata"] == metadata and body["is_rut_block"] is False

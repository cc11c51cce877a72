"""A stack serves one ETpay market, chosen by its Currency: through the handlers (moto, and the ETpay
sandbox of that country over HTTP), what an MXN stack and a CLP stack take, what they send ETpay,
what they refuse (nothing stored, ETpay not asked), and that a Mexican payment is settled in MXN.
Field by field, both markets: tests/unit/test_session_fields.py."""

import json

import pytest

from payments.config import wiring
from tests.support.api import session_payload
from tests.support.aws import stored_items, stored_order

MEXICAN_FIELDS = {"target_flow": "spei", "customer_phone": "5512345678", "user_bank_code": "mx_bbva"}
PHONE = MEXICAN_FIELDS["customer_phone"]


def test_an_mxn_stack_sends_etpay_mexicos_fields_and_answers_in_mxn(api, mx_stack, order_id):
    # when a Mexican merchant opens a session with ETpay Mexico's fields
    reply = api.create_session(session_payload(order_id, 1_500, customer_email="payer@example.mx", **MEXICAN_FIELDS))

    # then ETpay gets them as they were sent, and the order is in MXN
    assert reply.status == 201, reply.body
    assert reply.body["currency"] == "MXN"
    assert reply.body["order_amount"] == 1_500
    sent = mx_stack.initialize_requests[-1]
    assert {name: sent[name] for name in MEXICAN_FIELDS} == MEXICAN_FIELDS
    assert sent["merchant_code"].startswith("mx_")
    assert "user_rut" not in sent and "is_rut_block" not in sent
    # and the phone is payer data: not in the answer, not stored
    assert PHONE not in json.dumps(reply.body)
    assert PHONE not in json.dumps(stored_order(order_id), default=str)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"user_rut": "111111111"}, "user_rut"),
        ({"is_rut_block": False}, "is_rut_block"),
        ({"user_bank_code": "cl_estado"}, "user_bank_code"),
        ({"target_flow": "SPEI"}, "target_flow"),
        ({"customer_phone": "+52 55 1234 5678"}, "customer_phone"),
        ({"order_amount": 12_501}, "order_amount"),
        ({"order_amount": 199.9}, "order_amount"),
    ],
)
def test_an_mxn_stack_refuses_what_mexico_cannot_take_and_changes_nothing(api, mx_stack, order_id, fields, field):
    calls = len(mx_stack.initialize_requests)

    reply = api.create_session({**session_payload(order_id, 1_500), **fields})

    assert reply.status == 400
    assert reply.error == "validation_error"
    assert set(reply.body["fields"]) == {field}
    assert stored_items() == []
    assert len(mx_stack.initialize_requests) == calls


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"target_flow": "spei"}, "target_flow"),
        ({"customer_phone": PHONE}, "customer_phone"),
        ({"user_bank_code": "MX_TEST"}, "user_bank_code"),
        ({"order_amount": 7_000_001}, "order_amount"),
    ],
)
def test_a_clp_stack_refuses_mexicos_fields_and_changes_nothing(api, stack, order_id, fields, field):
    calls = len(stack.initialize_requests)

    reply = api.create_session({**session_payload(order_id), **fields})

    assert reply.status == 400
    assert set(reply.body["fields"]) == {field}
    assert PHONE not in json.dumps(reply.body)
    assert stored_items() == []
    assert len(stack.initialize_requests) == calls


def test_the_mxn_limit_is_the_currencys_default_and_its_largest_amount_is_taken(api, mx_stack, order_id):
    assert api.create_session(session_payload(order_id, 12_500)).status == 201


def test_a_mexican_notification_pays_the_order_in_mxn(api, mx_stack, order_id):
    # given a Mexican order paid by SPEI
    token = api.create_session(session_payload(order_id, 1_500, **MEXICAN_FIELDS)).body["session_token"]

    # when ETpay Mexico notifies it (merchant_currency MXN, no RUT)
    reply = api.notify_jwt(mx_stack.notification_jwt(token, "paid"))

    # then the order is PAID, and what the merchant reads never carries the phone
    assert reply.status == 200
    order = api.get_order(order_id)
    assert (order.body["status"], order.body["currency"], order.body["order_amount"]) == ("PAID", "MXN", 1_500)
    assert PHONE not in json.dumps(order.body)


def test_a_notification_in_pesos_of_the_other_country_never_pays_an_mxn_order(api, mx_stack, order_id):
    token = api.create_session(session_payload(order_id, 1_500)).body["session_token"]

    reply = api.notify_jwt(mx_stack.notification_jwt(token, "paid", merchant_currency="CLP"))

    # the signature is right, the currency is not: recorded for a person, never PAID
    assert reply.status == 200
    order = api.get_order(order_id).body
    assert order["status"] == "PENDING"
    assert order["review"] == {"required": True, "reasons": ["notification_mismatch"]}


def test_an_order_of_the_other_currency_is_refused_after_the_stack_changed_market(api, mx_stack, order_id, monkeypatch):
    # given an MXN order whose session failed
    token = api.create_session(session_payload(order_id, 1_500)).body["session_token"]
    api.notify_jwt(mx_stack.notification_jwt(token, "failed"))
    before = stored_items()

    # when the stack is redeployed for ETpay Chile and the order asks for a new session
    monkeypatch.setenv("CURRENCY", "CLP")
    wiring.reset()
    calls = len(mx_stack.initialize_requests)
    reply = api.create_session(session_payload(order_id, 1_500))

    # then it is refused: an MXN order never goes to a Chilean merchant, and nothing changed
    assert reply.status == 409
    assert reply.error == "order_currency_mismatch"
    assert stored_items() == before
    assert len(mx_stack.initialize_requests) == calls

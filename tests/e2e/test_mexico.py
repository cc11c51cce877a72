"""A Mexican merchant end to end: the local stack deployed with Currency=MXN (`make local COUNTRY=mx`),
ETpay Mexico's sandbox, every hop over real HTTP. The payer pays by SPEI; the order is PAID in MXN,
the merchant's signed webhook says so, and the payer's phone is nowhere the merchant can read it."""

import json

# A bound on waiting for a webhook to travel, not a performance assertion.
WEBHOOK_WAIT_SECONDS = 30.0
PHONE = "5512345678"


def test_an_mxn_payment_by_spei_is_paid_end_to_end(mx_local_stack, mx_http_api, order_id):
    etpay = mx_local_stack.sandbox
    # given a Mexican order with ETpay Mexico's fields
    session = mx_http_api.open_session(
        order_id, order_amount=1_500, target_flow="spei", customer_phone=PHONE, user_bank_code="MX_BANORTE"
    )
    assert (session["currency"], session["order_amount"], session["status"]) == ("MXN", 1_500, "PENDING")
    sent = etpay.initialize_requests[-1]
    assert (sent["order_amount"], sent["target_flow"], sent["customer_phone"]) == (1_500, "spei", PHONE)
    assert sent["merchant_code"].startswith("mx_")

    # when the payer pays by SPEI and ETpay Mexico notifies the stack
    delivery = etpay.complete(session["session_token"], "paid", user_bank="MX_BANORTE")

    # then the order is PAID in MXN
    assert (delivery["delivery_status"], delivery["delivery_body"]) == (200, {"received": True})
    assert etpay.session(session["session_token"]).flow == "spei"
    order = mx_http_api.get_order(order_id)
    assert (order.body["status"], order.body["currency"], order.body["order_amount"]) == ("PAID", "MXN", 1_500)
    # and the merchant's signed webhook says so, without the phone
    webhook = mx_local_stack.webhooks.wait_for(
        lambda received: received.type == "payment.succeeded" and received.merchant_order_id == order_id,
        WEBHOOK_WAIT_SECONDS,
    )
    assert webhook is not None and webhook.verified, webhook
    assert json.loads(webhook.body)["data"]["order"]["currency"] == "MXN"
    events = mx_http_api.get_order(order_id).body, mx_http_api.request("GET", f"/orders/{order_id}/events").body
    for readable in (session, *events, *(w.body for w in mx_local_stack.webhooks.of_order(order_id))):
        assert PHONE not in (readable if isinstance(readable, str) else json.dumps(readable))


def test_an_mxn_stack_refuses_chiles_fields_and_amounts_it_cannot_take(mx_local_stack, mx_http_api, order_id):
    etpay = mx_local_stack.sandbox
    calls = len(etpay.initialize_requests)

    refusals = [
        mx_http_api.create_session(order_id, 1_500, user_rut="111111111"),
        mx_http_api.create_session(order_id, 1_500, user_bank_code="cl_estado"),
        mx_http_api.create_session(order_id, 12_501),
        mx_http_api.create_session(order_id, 199.9),
    ]

    assert [reply.status for reply in refusals] == [400] * 4
    assert refusals[0].body["fields"] == {"user_rut": "only for CLP stacks (ETpay Chile); this stack's currency is MXN"}
    assert refusals[3].body["fields"] == {"order_amount": "must be a JSON integer of whole pesos (MXN)"}
    assert len(etpay.initialize_requests) == calls
    assert mx_http_api.get_order(order_id).status == 404


def test_a_clp_stack_refuses_mexicos_fields(local_stack, http_api, order_id):
    reply = http_api.create_session(order_id, 50_000, target_flow="spei", customer_phone=PHONE)

    assert reply.status == 400
    assert set(reply.body["fields"]) == {"target_flow", "customer_phone"}
    assert PHONE not in json.dumps(reply.body)

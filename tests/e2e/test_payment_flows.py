"""A merchant's payments through the local stack, every hop over real HTTP: our API, the
functions, ETpay's sandbox and its signed notifications back to /notifications."""


def test_a_paid_payment_marks_the_order_paid(http_api, etpay, order_id):
    # given an order with an ETpay session
    session = http_api.open_session(order_id)
    assert session["status"] == "PENDING"
    assert session["payment_url"] == f"{etpay.pmt_url}/session/{session['session_token']}"

    # when the payer pays and ETpay notifies us
    delivery = etpay.complete(session["session_token"], "paid")

    # then the notification was accepted and the order is paid by that ETpay payment
    assert delivery["delivery_status"] == 200
    assert delivery["delivery_body"] == {"received": True}
    order = http_api.get_order(order_id)
    assert order.status == 200
    assert order.body["status"] == "PAID"
    assert order.body["payment_token"] == etpay.session(session["session_token"]).payment_token


def test_a_cancelled_payment_marks_the_order_failed(http_api, etpay, order_id):
    session = http_api.open_session(order_id)

    delivery = etpay.complete(session["session_token"], "failed")

    assert delivery["delivery_status"] == 200
    assert http_api.get_order(order_id).body["status"] == "FAILED"


def test_a_repeated_notification_gets_the_same_answer_and_changes_nothing(http_api, etpay, order_id):
    session = http_api.open_session(order_id)
    first = etpay.complete(session["session_token"], "paid")
    paid = http_api.get_order(order_id).body

    again = etpay.redeliver(session["session_token"])

    assert (again["delivery_status"], again["delivery_body"]) == (first["delivery_status"], first["delivery_body"])
    assert http_api.get_order(order_id).body == paid


def test_a_notification_for_a_session_we_never_opened_is_refused(http_api, etpay, order_id):
    # given a correctly signed notification for a session ETpay knows but this stack never opened
    credentials = {"merchant_code": etpay.merchant_code, "merchant_api_token": etpay.merchant_api_token}
    answer = etpay.initialize({**credentials, "merchant_order_id": order_id, "order_amount": 50_000})
    foreign_jwt = etpay.notification_jwt(answer.body["token"], "paid")

    reply = http_api.notify(foreign_jwt)

    assert reply.status == 401
    assert reply.error == "invalid_notification"
    assert http_api.get_order(order_id).status == 404


def test_repeating_post_sessions_returns_the_same_session(http_api, order_id):
    first = http_api.create_session(order_id)
    again = http_api.create_session(order_id)

    assert (first.status, again.status) == (201, 200)
    assert again.body["session_token"] == first.body["session_token"]
    assert again.body["payment_url"] == first.body["payment_url"]


def test_the_same_order_with_another_amount_is_refused(http_api, order_id):
    http_api.open_session(order_id)

    reply = http_api.create_session(order_id, order_amount=50_001)

    assert reply.status == 409
    assert reply.error == "order_amount_mismatch"
    assert http_api.get_order(order_id).body["order_amount"] == 50_000


def test_etpay_down_is_a_502_and_the_retry_opens_the_session(http_api, etpay, order_id):
    # given ETpay answers its next session request with a server error
    etpay.fail_next_initialize("error", status=500)

    down = http_api.create_session(order_id)

    assert down.status == 502
    assert down.error == "etpay_error"
    assert http_api.get_order(order_id).status == 404

    # when ETpay is back, the same request opens the session
    back = http_api.create_session(order_id)

    assert back.status == 201
    assert back.body["status"] == "PENDING"

"""An order may need several ETpay sessions (the payer's first attempt failed). A session's outcome
is final, PAID is final for the order, and late news about an old session never rewrites history.

Races are tested in tests/reliability on DynamoDB Local: moto's transactions are not atomic
across threads, so concurrency tests against it fail for moto's reasons."""

from payments.config import wiring
from tests.support.api import open_session, session_payload
from tests.support.aws import stored_items, stored_order
from tests.support.logs import emitted_metrics


def fail(api, sandbox, session_token):
    assert api.notify_jwt(sandbox.notification_jwt(session_token, "failed")).status == 200


def pay(api, sandbox, session_token):
    return api.notify_jwt(sandbox.notification_jwt(session_token, "paid"))


def test_a_failed_order_gets_a_new_session_and_is_pending_again(api, stack, order_id):
    first = open_session(api, stack, order_id)
    fail(api, stack, first)

    reply = api.create_session(session_payload(order_id))

    assert reply.status == 201
    assert reply.body["session_token"] != first
    assert reply.body["status"] == "PENDING"
    assert api.get_order(order_id).body["session_token"] == reply.body["session_token"]


def test_an_order_that_failed_too_often_gets_no_more_sessions(api, stack, order_id):
    from payments.domain.policy import MAX_SESSIONS_PER_ORDER

    fail(api, stack, open_session(api, stack, order_id))
    for _ in range(MAX_SESSIONS_PER_ORDER - 1):
        fail(api, stack, api.create_session(session_payload(order_id)).body["session_token"])
    calls = len(stack.initialize_requests)
    before = stored_items()

    reply = api.create_session(session_payload(order_id))

    assert (reply.status, reply.error) == (409, "session_limit_reached")
    assert len(stack.initialize_requests) == calls
    assert stored_items() == before
    assert api.get_order(order_id).body["status"] == "FAILED"


def test_a_paid_order_refuses_a_new_session(api, stack, order_id):
    token = open_session(api, stack, order_id)
    pay(api, stack, token)
    calls = len(stack.initialize_requests)

    reply = api.create_session(session_payload(order_id))

    assert reply.status == 409
    assert reply.error == "order_already_paid"
    assert len(stack.initialize_requests) == calls


def test_the_new_session_can_be_paid(api, stack, order_id):
    fail(api, stack, open_session(api, stack, order_id))
    second = open_session(api, stack, order_id)

    assert pay(api, stack, second).status == 200

    order = api.get_order(order_id).body
    assert order["status"] == "PAID"
    assert order["review"]["required"] is False


def test_a_late_failure_of_the_old_session_leaves_the_new_one_alone(api, stack, order_id):
    first = open_session(api, stack, order_id)
    fail(api, stack, first)
    open_session(api, stack, order_id)
    before = api.get_order(order_id).body

    fail(api, stack, first)

    assert api.get_order(order_id).body == before


def test_paid_for_the_old_session_while_pending_on_a_new_one_is_flagged(api, stack, order_id, capfd):
    first = open_session(api, stack, order_id)
    fail(api, stack, first)
    second = open_session(api, stack, order_id)

    reply = pay(api, stack, first)

    assert reply.status == 200
    order = api.get_order(order_id).body
    assert order["status"] == "PENDING"
    assert order["session_token"] == second
    assert order["review"] == {"required": True, "reasons": ["paid_after_failed"]}
    assert "PaidAfterFailed" in emitted_metrics(capfd.readouterr().out)


def test_paid_for_the_old_session_after_the_new_one_paid_is_a_possible_double_payment(api, stack, order_id, capfd):
    first = open_session(api, stack, order_id)
    fail(api, stack, first)
    second = open_session(api, stack, order_id)
    pay(api, stack, second)

    reply = pay(api, stack, first)

    assert reply.status == 200
    order = api.get_order(order_id).body
    assert order["status"] == "PAID"
    assert order["review"] == {"required": True, "reasons": ["paid_after_failed", "possible_double_payment"]}
    assert "PossibleDoublePayment" in emitted_metrics(capfd.readouterr().out)


def test_flagging_twice_keeps_one_flag(api, stack, order_id):
    first = open_session(api, stack, order_id)
    fail(api, stack, first)
    late = stack.notification_jwt(first, "paid")
    api.notify_jwt(late)
    flagged = stored_items()

    assert api.notify_jwt(late).status == 200

    assert stored_items() == flagged


def test_a_review_flag_decided_on_a_stale_state_is_refused(api, stack, order_id):
    """A duplicate paid notification that read the session just before the first one settled it
    would see a PENDING session and a PAID order; its flag must not land."""
    import pytest

    from payments.config import wiring
    from payments.domain.clock import iso_utc, utc_now
    from payments.domain.errors import ConcurrentUpdate
    from payments.domain.orders import ReviewReason
    from payments.domain.reviews import raise_review

    token = open_session(api, stack, order_id)
    store = wiring.orders()
    found = store.get_order_and_session(order_id, token)
    assert found is not None
    stale_order, stale_session = found
    pay(api, stack, token)
    flag = raise_review(stale_order, frozenset({ReviewReason.POSSIBLE_DOUBLE_PAYMENT}), iso_utc(utc_now()))

    with pytest.raises(ConcurrentUpdate):
        store.flag_for_review(stale_order, stale_session, flag, utc_now())

    assert api.get_order(order_id).body["review"] == {"required": False, "reasons": []}


def test_a_clp_order_is_refused_a_new_session_once_the_stack_takes_mxn(api, stack, order_id, monkeypatch):
    # given an order opened in CLP whose session failed, and a deployment since switched to MXN
    fail(api, stack, open_session(api, stack, order_id))
    before = stored_order(order_id)
    monkeypatch.setenv("CURRENCY", "MXN")
    wiring.reset()

    # when the merchant asks for a new session
    reply = api.create_session(session_payload(order_id))

    # then it is refused: the amount means Chilean pesos, which the Mexican merchant cannot take,
    # and the order is as it was
    assert (reply.status, reply.error) == (409, "order_currency_mismatch")
    assert stored_order(order_id) == before
    assert api.get_order(order_id).body["currency"] == "CLP"


def test_order_status_is_logged_as_the_order_stands_after_the_change(api, stack, order_id, caplog):
    # given an order PENDING on its session
    token = open_session(api, stack, order_id)
    caplog.clear()

    # when ETpay reports the session failed
    fail(api, stack, token)

    # then the log line's order_status is the order's status after the change, as GET shows it
    logged = [record.order_status for record in caplog.records if record.getMessage() == "payment session failed"]
    assert logged == ["FAILED"] == [api.get_order(order_id).body["status"]]

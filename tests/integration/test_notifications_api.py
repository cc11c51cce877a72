"""POST /notifications: only verified notifications move money state, exactly once."""

import base64
import json
import time

import jwt
import pytest

from etpay.notification import sign_notification
from tests.support.api import new_order_id, open_session
from tests.support.aws import stored_items, stored_order
from tests.support.logs import emitted_metrics, errors_logged


class TestValidNotifications:
    def test_paid_marks_the_order_paid_with_its_payment_token(self, api, stack, order_id):
        token = open_session(api, stack, order_id)
        notification = stack.notification_jwt(token, "paid")
        payment_token = jwt.decode(notification, options={"verify_signature": False})["payment_token"]

        reply = api.notify_jwt(notification)

        assert reply.status == 200
        assert reply.body == {"received": True}
        order = api.get_order(order_id).body
        assert order["status"] == "PAID"
        assert order["payment_token"] == payment_token

    @pytest.mark.parametrize("status_value", ["success", "SUCCESS", True])
    def test_every_paid_word_marks_paid(self, api, stack, order_id, status_value):
        token = open_session(api, stack, order_id)

        reply = api.notify_jwt(stack.notification_jwt(token, status_value))

        assert reply.status == 200
        assert api.get_order(order_id).body["status"] == "PAID"

    @pytest.mark.parametrize("status_value", ["failed", "rejected", "cancelled", "canceled", "error", False])
    def test_failed_marks_the_order_failed(self, api, stack, order_id, status_value):
        token = open_session(api, stack, order_id)

        reply = api.notify_jwt(stack.notification_jwt(token, status_value))

        assert reply.status == 200
        assert api.get_order(order_id).body["status"] == "FAILED"

    def test_an_unknown_status_changes_nothing_and_is_kept_for_checking(self, api, stack, order_id):
        token = open_session(api, stack, order_id)
        before = api.get_order(order_id).body

        reply = api.notify_jwt(stack.notification_jwt(token, "processing"))

        assert reply.status == 200
        assert api.get_order(order_id).body == before
        session = stored_order(order_id)["sessions"][token]
        assert session["status"] == "PENDING"
        assert session["needs_status_check"] is True
        assert session["last_reported_status"] == "processing"

    @pytest.mark.parametrize("outcome", ["paid", "failed"])
    def test_a_redelivery_gets_the_same_answer_and_no_second_transition(self, api, stack, order_id, outcome, capfd):
        token = open_session(api, stack, order_id)
        notification = stack.notification_jwt(token, outcome)
        first = api.notify_jwt(notification)
        after_first = stored_items()

        again = api.notify_jwt(notification)

        assert (again.status, again.body) == (first.status, first.body)
        assert stored_items() == after_first
        assert "NotificationDuplicate" in emitted_metrics(capfd.readouterr().out)

    def test_failed_after_paid_keeps_paid_flags_the_order_and_raises_the_alarms_metric(
        self, api, stack, order_id, capfd, caplog
    ):
        token = open_session(api, stack, order_id)
        api.notify_jwt(stack.notification_jwt(token, "paid"))
        capfd.readouterr()

        reply = api.notify_jwt(stack.notification_jwt(token, "failed"))

        assert reply.status == 200
        order = api.get_order(order_id).body
        assert order["status"] == "PAID"
        assert order["review"] == {"required": True, "reasons": ["failed_after_paid"]}
        assert stored_order(order_id)["sessions"][token]["status"] == "PAID"
        metrics = emitted_metrics(capfd.readouterr().out)
        # FailedAfterPaid is what FailedAfterPaidAlarm watches; every flag also counts here.
        assert {"FailedAfterPaid", "OrderFlaggedForReview"} <= set(metrics)
        assert errors_logged(caplog) == ["order flagged for review"]

    def test_failed_after_paid_again_flags_once(self, api, stack, order_id, capfd):
        token = open_session(api, stack, order_id)
        api.notify_jwt(stack.notification_jwt(token, "paid"))
        api.notify_jwt(stack.notification_jwt(token, "failed"))
        flagged = stored_items()

        reply = api.notify_jwt(stack.notification_jwt(token, "failed"))

        assert reply.status == 200
        assert stored_items() == flagged

    def test_paid_after_failed_for_the_same_session_keeps_failed_and_flags(self, api, stack, order_id, capfd):
        token = open_session(api, stack, order_id)
        api.notify_jwt(stack.notification_jwt(token, "failed"))

        reply = api.notify_jwt(stack.notification_jwt(token, "paid"))

        assert reply.status == 200
        order = api.get_order(order_id).body
        assert order["status"] == "FAILED"
        assert order["review"] == {"required": True, "reasons": ["paid_after_failed"]}
        assert "PaidAfterFailed" in emitted_metrics(capfd.readouterr().out)


class TestMismatchedNotifications:
    @pytest.mark.parametrize(
        "overrides",
        [
            {"merchant_amount": 49_999},
            {"merchant_amount": "50001"},
            {"merchant_amount": 50_000.5},
            {"merchant_currency": "MXN"},
        ],
    )
    def test_a_signed_notification_that_disagrees_is_flagged_never_paid(
        self, api, stack, order_id, overrides, capfd, caplog
    ):
        token = open_session(api, stack, order_id)

        reply = api.notify_jwt(stack.notification_jwt(token, "paid", **overrides))

        assert reply.status == 200
        order = api.get_order(order_id).body
        assert order["status"] == "PENDING"
        assert order["review"] == {"required": True, "reasons": ["notification_mismatch"]}
        assert "NotificationMismatch" in emitted_metrics(capfd.readouterr().out)
        assert errors_logged(caplog) == ["order flagged for review"]


class TestRejectedNotifications:
    def expect_rejected(self, api, reply, before):
        assert reply.status == 401
        assert reply.body == {"error": "invalid_notification", "message": "the notification could not be verified"}
        assert stored_items() == before

    @pytest.mark.parametrize("other_order", ["OC-someone-else", "exists"])
    def test_a_session_claimed_for_another_order_is_unknown(self, api, stack, order_id, other_order):
        """The order named in the claims is where the session's key is looked up: a session that
        is not that order's has no key there, whoever signed the token."""
        token = open_session(api, stack, order_id)
        if other_order == "exists":
            other_order = new_order_id()
            open_session(api, stack, other_order)
        before = stored_items()

        reply = api.notify_jwt(stack.notification_jwt(token, "paid", merchant_order_id=other_order))

        self.expect_rejected(api, reply, before)

    def test_a_wrong_key(self, api, stack, order_id):
        token = open_session(api, stack, order_id)
        claims = jwt.decode(stack.notification_jwt(token, "paid"), options={"verify_signature": False})
        before = stored_items()

        reply = api.notify_jwt(sign_notification(claims, "not-the-signature-token-" + "x" * 20))

        self.expect_rejected(api, reply, before)

    @pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
    def test_a_token_signed_with_the_session_token(self, api, stack, order_id):
        token = open_session(api, stack, order_id)
        claims = jwt.decode(stack.notification_jwt(token, "paid"), options={"verify_signature": False})
        before = stored_items()

        reply = api.notify_jwt(jwt.encode(claims, token, algorithm="HS256"))

        self.expect_rejected(api, reply, before)

    def test_alg_none(self, api, stack, order_id):
        token = open_session(api, stack, order_id)
        claims = jwt.decode(stack.notification_jwt(token, "paid"), options={"verify_signature": False})
        before = stored_items()

        # PyJWT turns "" into None for alg none (same token); its types have no None key.
        reply = api.notify_jwt(jwt.encode(claims, "", algorithm="none"))

        self.expect_rejected(api, reply, before)

    def test_a_tampered_amount(self, api, stack, order_id):
        token = open_session(api, stack, order_id)
        header, payload, signature = stack.notification_jwt(token, "paid").split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["merchant_amount"] = 1
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        before = stored_items()

        reply = api.notify_jwt(f"{header}.{forged}.{signature}")

        self.expect_rejected(api, reply, before)

    def test_an_unknown_session(self, api, stack):
        before = stored_items()
        claims = {
            "session_token": "no-such-session",
            "merchant_order_id": "OC-1",
            "merchant_amount": 1,
            "payment_status": True,
            "iat": int(time.time()),
        }

        reply = api.notify_jwt(sign_notification(claims, "k" * 40))

        self.expect_rejected(api, reply, before)

    @pytest.mark.parametrize("garbage", ["abc.def.ghi", "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln", "a.b.c"])
    def test_a_malformed_token(self, api, stack, garbage):
        before = stored_items()

        reply = api.notify_jwt(garbage)

        self.expect_rejected(api, reply, before)


class TestNotificationBodies:
    def test_a_form_body(self, api, stack, order_id):
        token = open_session(api, stack, order_id)

        reply = api.notify(f"payment={stack.notification_jwt(token, 'paid')}", "application/x-www-form-urlencoded")

        assert reply.status == 200
        assert api.get_order(order_id).body["status"] == "PAID"

    def test_a_bare_jwt_body(self, api, stack, order_id):
        token = open_session(api, stack, order_id)

        reply = api.notify(stack.notification_jwt(token, "paid"), "text/plain")

        assert reply.status == 200
        assert api.get_order(order_id).body["status"] == "PAID"

    def test_a_base64_encoded_body(self, api, stack, order_id):
        token = open_session(api, stack, order_id)

        reply = api.notify(json.dumps({"payment": stack.notification_jwt(token, "paid")}), base64_body=True)

        assert reply.status == 200
        assert api.get_order(order_id).body["status"] == "PAID"

    @pytest.mark.parametrize(
        "body", ["", "   ", "{}", '{"payment": ""}', '{"other": "x"}', "payment=", "hello there", "[]"]
    )
    def test_a_body_without_a_jwt_is_400(self, api, stack, body):
        reply = api.notify(body)

        assert reply.status == 400
        assert reply.error == "validation_error"
        assert stored_items() == []

    def test_an_oversized_body_is_400(self, api, stack):
        reply = api.notify(json.dumps({"payment": "a" * 20_000}))

        assert reply.status == 400
        assert reply.error == "validation_error"

    def test_a_non_utf8_body_is_400(self, api, stack):
        reply = api.notify(b"\xff\xfe\xfa", base64_body=True)

        assert reply.status == 400


def test_a_token_signed_with_another_sessions_key_is_rejected(api, stack):
    """Key confusion across sessions: a payer who learnt their own signature_token cannot settle
    someone else's order with it."""
    victim = open_session(api, stack, new_order_id())
    attacker_order = new_order_id()
    attacker = open_session(api, stack, attacker_order)
    claims = jwt.decode(stack.notification_jwt(victim, "paid"), options={"verify_signature": False})
    before = stored_items()

    reply = api.notify_jwt(sign_notification(claims, stored_order(attacker_order)["signature_tokens"][attacker]))

    assert reply.status == 401
    assert stored_items() == before

"""The money rules, without any I/O: what a notification may do to an order and its session."""

import pytest

from etpay import Notification, PaymentOutcome
from payments.errors import OrderAlreadyPaid, OrderAmountMismatch
from payments.model import (
    NotificationAction,
    Order,
    PaymentSession,
    ReviewReason,
    SessionPlan,
    Status,
    decide_notification,
    opened_session,
    plan_session_request,
)

NOW = "2026-11-26T00:00:00.000Z"
LATER = "2026-11-27T09:30:00.000Z"


def an_order(status=Status.PENDING, session_token="s1", amount=50000) -> Order:
    return Order("OC-1", amount, "CLP", status, session_token, f"https://pmt/session/{session_token}", NOW, NOW)


def a_session(status=Status.PENDING, session_token="s1", amount=50000) -> PaymentSession:
    return PaymentSession(session_token, "OC-1", amount, "CLP", "sig", status, NOW, NOW)


def a_notification(outcome=PaymentOutcome.PAID, session_token="s1", **overrides) -> Notification:
    values = dict(
        session_token=session_token,
        merchant_order_id="OC-1",
        merchant_amount=50000,
        merchant_currency="CLP",
        payment_token="p1",
        payment_status={PaymentOutcome.PAID: True, PaymentOutcome.FAILED: False}.get(outcome, "odd"),
        outcome=outcome,
    )
    values.update(overrides)
    return Notification(**values)


class TestSessionRequests:
    def test_a_new_order_opens_a_session(self):
        assert plan_session_request(None, 100) is SessionPlan.OPEN

    def test_a_pending_order_with_the_same_amount_reuses_its_session(self):
        assert plan_session_request(an_order(), 50000) is SessionPlan.REUSE

    def test_a_different_amount_is_a_mismatch_in_every_state(self):
        for status in Status:
            with pytest.raises(OrderAmountMismatch):
                plan_session_request(an_order(status), 49999)

    def test_a_paid_order_is_never_reopened(self):
        with pytest.raises(OrderAlreadyPaid):
            plan_session_request(an_order(Status.PAID), 50000)

    def test_a_failed_order_opens_a_new_session(self):
        assert plan_session_request(an_order(Status.FAILED), 50000) is SessionPlan.OPEN



class TestOpenedSession:
    """An order's currency is fixed when it is created; every later session uses it."""

    def open(self, replaces, configured="CLP"):
        return opened_session(replaces, "OC-1", 50000, configured, "s2", "sig2", "https://pmt/session/s2", LATER)

    @pytest.mark.parametrize(
        ("replaces", "configured", "currency", "created_at"),
        [
            (None, "CLP", "CLP", LATER),  # a new order takes the deployment's currency
            (None, "MXN", "MXN", LATER),
            (an_order(Status.FAILED), "CLP", "CLP", NOW),  # a reopened order keeps its own ...
            (an_order(Status.FAILED), "MXN", "CLP", NOW),  # ... even when the deployment's changed
        ],
    )
    def test_order_and_session_share_the_orders_currency(self, replaces, configured, currency, created_at):
        order, session = self.open(replaces, configured)

        assert (order.currency, session.currency) == (currency, currency)
        assert (order.status, session.status) == (Status.PENDING, Status.PENDING)
        assert order.session_token == session.session_token == "s2"
        assert (order.created_at, order.updated_at, session.created_at) == (created_at, LATER, LATER)


class TestNotifications:
    def test_paid_for_the_live_session_marks_paid(self):
        decision = decide_notification(an_order(), a_session(), a_notification())
        assert decision.action is NotificationAction.MARK_PAID

    def test_failed_for_the_live_session_fails_session_and_order(self):
        decision = decide_notification(an_order(), a_session(), a_notification(PaymentOutcome.FAILED))
        assert decision.action is NotificationAction.MARK_FAILED
        assert decision.fail_order

    def test_failed_for_an_old_pending_session_leaves_the_order_alone(self):
        order = an_order(session_token="s2")
        decision = decide_notification(order, a_session(), a_notification(PaymentOutcome.FAILED))
        assert decision.action is NotificationAction.MARK_FAILED
        assert not decision.fail_order

    @pytest.mark.parametrize(
        ("session_status", "outcome"), [(Status.PAID, PaymentOutcome.PAID), (Status.FAILED, PaymentOutcome.FAILED)]
    )
    def test_a_repeated_outcome_is_already_applied(self, session_status, outcome):
        order = an_order(session_status)
        decision = decide_notification(order, a_session(session_status), a_notification(outcome))
        assert decision.action is NotificationAction.ALREADY_APPLIED

    def test_failed_after_paid_keeps_paid(self):
        order = an_order(Status.PAID)
        decision = decide_notification(order, a_session(Status.PAID), a_notification(PaymentOutcome.FAILED))
        assert decision.action is NotificationAction.FAILED_AFTER_PAID

    def test_paid_after_failed_is_flagged(self):
        order = an_order(Status.FAILED)
        decision = decide_notification(order, a_session(Status.FAILED), a_notification())
        assert decision.action is NotificationAction.FLAG_FOR_REVIEW
        assert decision.reasons == {ReviewReason.PAID_AFTER_FAILED}

    def test_paid_for_a_failed_session_of_an_order_paid_elsewhere_is_a_possible_double_payment(self):
        order = an_order(Status.PAID, session_token="s2")
        decision = decide_notification(order, a_session(Status.FAILED), a_notification())
        assert decision.reasons == {ReviewReason.PAID_AFTER_FAILED, ReviewReason.POSSIBLE_DOUBLE_PAYMENT}

    @pytest.mark.parametrize(
        "overrides",
        [
            {"merchant_amount": 1},
            {"merchant_amount": None},
            {"merchant_order_id": "OC-2"},
            {"merchant_currency": "MXN"},
            {"merchant_currency": ""},
        ],
    )
    def test_a_verified_notification_that_disagrees_with_the_order_is_flagged_never_paid(self, overrides):
        decision = decide_notification(an_order(), a_session(), a_notification(**overrides))
        assert decision.action is NotificationAction.FLAG_FOR_REVIEW
        assert decision.reasons == {ReviewReason.NOTIFICATION_MISMATCH}

    def test_a_missing_currency_claim_is_accepted(self):
        decision = decide_notification(an_order(), a_session(), a_notification(merchant_currency=None))
        assert decision.action is NotificationAction.MARK_PAID

    def test_an_unknown_status_changes_nothing(self):
        decision = decide_notification(an_order(), a_session(), a_notification(PaymentOutcome.UNKNOWN))
        assert decision.action is NotificationAction.RECORD_UNKNOWN

    def test_an_unknown_status_for_a_final_session_is_ignored(self):
        order = an_order(Status.PAID)
        decision = decide_notification(order, a_session(Status.PAID), a_notification(PaymentOutcome.UNKNOWN))
        assert decision.action is NotificationAction.IGNORE

"""Concurrent invocations on a real DynamoDB engine (DynamoDB Local): ETpay re-delivers, payers
double-click, and the merchant's backend retries, all at the same instant. Money state must still
change exactly once, and only to something a verified result says."""

from datetime import timedelta

import pytest

from payments.app.reconciliation import CheckSession
from payments.config import wiring
from payments.domain.checks import CheckTask
from payments.domain.clock import utc_now
from tests.support.api import new_order_id, open_session, session_payload

CONCURRENT_DELIVERIES = 20
CONCURRENT_SESSION_REQUESTS = 10
RACES = 10
# The duplicate-delivery race is repeated on fresh orders: an interleaving that breaks the rules
# may need several tries to appear.
DUPLICATE_ROUNDS = 3
# The first ETpay call answers this late, so every concurrent request is in flight meanwhile.
SLOW_ETPAY_SECONDS = 0.5


def order_and_session(stack, merchant_order_id: str, session_token: str):
    order = stack.item(f"ORDER#{merchant_order_id}")
    return order, order["sessions"][session_token]


def sessions_of(stack, merchant_order_id: str) -> list[dict]:
    return list(stack.item(f"ORDER#{merchant_order_id}")["sessions"].values())


class TestDuplicateDeliveries:
    @pytest.mark.parametrize("round_", range(DUPLICATE_ROUNDS))
    def test_twenty_identical_paid_notifications_make_one_transition(self, api, real_stack, run_together, round_):
        order_id = new_order_id()
        token = open_session(api, real_stack.sandbox, order_id)
        notification = real_stack.sandbox.notification_jwt(token, "paid")
        real_stack.writes.reset()
        real_stack.metrics.reset()

        replies = run_together([lambda: api.notify_jwt(notification)] * CONCURRENT_DELIVERIES)

        assert [reply.status for reply in replies] == [200] * CONCURRENT_DELIVERIES
        assert all(reply.body == {"received": True} for reply in replies)
        # DynamoDB accepted exactly one write: the PAID transition of session and order together
        # (one item).
        assert real_stack.writes.accepted == ["Update ORDER: session outcome"]
        order, session = order_and_session(real_stack, order_id, token)
        assert (order["status"], session["status"]) == ("PAID", "PAID")
        assert order["payment_token"] == session["payment_token"] == real_stack.sandbox.sessions[token].payment_token
        assert "pending_check" not in order
        assert "review_reasons" not in order
        # What the invocations report: one payment, nineteen duplicates, nothing for review.
        assert real_stack.metrics.count("OrderPaid") == 1
        assert real_stack.metrics.count("NotificationDuplicate") == CONCURRENT_DELIVERIES - 1
        assert real_stack.metrics.count("OrderFlaggedForReview") == 0

    def test_twenty_identical_failed_notifications_make_one_transition(self, api, real_stack, run_together):
        order_id = new_order_id()
        token = open_session(api, real_stack.sandbox, order_id)
        notification = real_stack.sandbox.notification_jwt(token, "failed")
        real_stack.writes.reset()
        real_stack.metrics.reset()

        replies = run_together([lambda: api.notify_jwt(notification)] * CONCURRENT_DELIVERIES)

        assert [reply.status for reply in replies] == [200] * CONCURRENT_DELIVERIES
        assert real_stack.writes.accepted == ["Update ORDER: session outcome"]
        order, session = order_and_session(real_stack, order_id, token)
        assert (order["status"], session["status"]) == ("FAILED", "FAILED")
        assert real_stack.metrics.count("SessionFailed") == 1
        assert real_stack.metrics.count("NotificationDuplicate") == CONCURRENT_DELIVERIES - 1
        # The order can be paid again through a new session.
        assert api.create_session(session_payload(order_id)).status == 201


class TestConcurrentSessionRequests:
    @pytest.fixture(autouse=True)
    def _record(self, record_property):
        self.record_property = record_property

    def expect_one_etpay_session(self, api, stack, order_id, replies, calls_before, previous_token=None):
        assert len(stack.sandbox.initialize_requests) - calls_before == 1
        statuses = sorted(reply.status for reply in replies)
        self.record_property("statuses", ",".join(map(str, statuses)))
        assert set(statuses) <= {200, 201, 409}
        assert statuses.count(201) == 1
        for reply in replies:
            if reply.status == 409:
                assert reply.error == "request_in_progress"
                assert reply.headers.get("Retry-After")
        tokens = {reply.body["session_token"] for reply in replies if reply.status in (200, 201)}
        assert len(tokens) == 1
        (token,) = tokens
        assert token != previous_token
        order = stack.item(f"ORDER#{order_id}")
        assert (order["status"], order["session_token"]) == ("PENDING", token)
        assert [session["status"] for session in sessions_of(stack, order_id)].count("PENDING") == 1
        assert "claim_id" not in order
        return token

    def test_ten_identical_requests_for_a_new_order_open_one_etpay_session(self, api, real_stack, run_together):
        order_id = new_order_id()
        calls_before = len(real_stack.sandbox.initialize_requests)
        real_stack.sandbox.fail_next_initialize("slow", delay=SLOW_ETPAY_SECONDS)

        replies = run_together([lambda: api.create_session(session_payload(order_id))] * CONCURRENT_SESSION_REQUESTS)

        token = self.expect_one_etpay_session(api, real_stack, order_id, replies, calls_before)
        assert len(sessions_of(real_stack, order_id)) == 1
        # Once the dust settles every retry gets the one session, and ETpay is not called again.
        assert api.create_session(session_payload(order_id)).body["session_token"] == token
        assert len(real_stack.sandbox.initialize_requests) - calls_before == 1

    def test_ten_identical_retries_after_a_failure_open_one_new_etpay_session(self, api, real_stack, run_together):
        order_id = new_order_id()
        first = open_session(api, real_stack.sandbox, order_id)
        assert api.notify_jwt(real_stack.sandbox.notification_jwt(first, "failed")).status == 200
        calls_before = len(real_stack.sandbox.initialize_requests)
        real_stack.sandbox.fail_next_initialize("slow", delay=SLOW_ETPAY_SECONDS)

        replies = run_together([lambda: api.create_session(session_payload(order_id))] * CONCURRENT_SESSION_REQUESTS)

        self.expect_one_etpay_session(api, real_stack, order_id, replies, calls_before, previous_token=first)
        assert sorted(session["status"] for session in sessions_of(real_stack, order_id)) == ["FAILED", "PENDING"]


class TestRacingOutcomes:
    @pytest.mark.parametrize("race", range(RACES))
    def test_paid_and_failed_racing_end_in_one_consistent_final_state(
        self, api, real_stack, run_together, race, record_property
    ):
        order_id = new_order_id()
        token = open_session(api, real_stack.sandbox, order_id)
        paid = real_stack.sandbox.notification_jwt(token, "paid")
        failed = real_stack.sandbox.notification_jwt(token, "failed")
        real_stack.writes.reset()

        replies = run_together([lambda: api.notify_jwt(paid), lambda: api.notify_jwt(failed)] * 2)

        assert [reply.status for reply in replies] == [200] * 4
        assert real_stack.writes.session_changes() == ["Update ORDER: session outcome"]
        order, session = order_and_session(real_stack, order_id, token)
        assert order["status"] == session["status"]
        assert order["status"] in ("PAID", "FAILED")
        record_property("winner", order["status"])
        review = api.get_order(order_id).body["review"]
        if order["status"] == "PAID":
            # The paid result won; the failure, decided against a PAID session, contradicts it:
            # the order stays PAID and a person checks with ETpay that the money arrived.
            assert review == {"required": True, "reasons": ["failed_after_paid"]}
        else:
            # The failure won, so the paid result was decided against a FAILED session: money may
            # have moved, a person must look.
            assert review == {"required": True, "reasons": ["paid_after_failed"]}


def a_worker(minutes_later: float = 0) -> CheckSession:
    """A status-check worker of its own (its own clients), `minutes_later` than now."""
    return wiring.make_check_session(clock=lambda: utc_now() + timedelta(minutes=minutes_later))


class TestStatusChecksRacing:
    """The queue between the sweep and the workers delivers at least once: two workers may check
    the same session at the same moment."""

    def test_two_workers_finding_the_same_payment_settle_it_once(self, api, real_stack, run_together):
        order_id = new_order_id()
        token = open_session(api, real_stack.sandbox, order_id)
        real_stack.sandbox.complete(token, "paid", deliver=False)
        task = CheckTask(order_id, token)
        workers = [a_worker(), a_worker()]
        real_stack.writes.reset()

        outcomes = run_together([lambda worker=worker: worker.check(task) for worker in workers])

        assert real_stack.writes.session_changes() == ["Update ORDER: session outcome"]
        # The one that lost the race read the payment back and answered as a duplicate does.
        assert sorted(outcome.value for outcome in outcomes) == ["ended", "paid"]
        order, session = order_and_session(real_stack, order_id, token)
        assert (order["status"], session["status"]) == ("PAID", "PAID")
        assert "next_check_at" not in order and "review_reasons" not in order

    def test_two_workers_at_the_final_check_expire_it_once(self, api, real_stack, run_together):
        order_id = new_order_id()
        token = open_session(api, real_stack.sandbox, order_id)
        task = CheckTask(order_id, token)
        workers = [a_worker(minutes_later=31), a_worker(minutes_later=31)]
        real_stack.writes.reset()

        outcomes = run_together([lambda worker=worker: worker.check(task) for worker in workers])

        assert real_stack.writes.session_changes() == ["Update ORDER: session outcome"]
        assert sorted(outcome.value for outcome in outcomes) == ["ended", "expired"]
        order, session = order_and_session(real_stack, order_id, token)
        assert (order["status"], session["status"]) == ("EXPIRED", "EXPIRED")
        assert "next_check_at" not in order

    def test_a_worker_and_a_notification_racing_settle_once(self, api, real_stack, run_together):
        order_id = new_order_id()
        token = open_session(api, real_stack.sandbox, order_id)
        notification = real_stack.sandbox.complete(token, "paid", deliver=False)["jwt"]
        worker = a_worker()
        real_stack.writes.reset()

        run_together([lambda: worker.check(CheckTask(order_id, token)), lambda: api.notify_jwt(notification)])

        assert real_stack.writes.session_changes() == ["Update ORDER: session outcome"]
        order, session = order_and_session(real_stack, order_id, token)
        assert (order["status"], session["status"]) == ("PAID", "PAID")

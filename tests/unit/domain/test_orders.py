"""The money rules, without any I/O: what POST /sessions does for an order, and what a notification may
do to an order and its session."""

from datetime import UTC, datetime, timedelta

import pytest

from etpay.records import Notification, PaymentOutcome
from payments.domain.checks import CheckAction, DueCheck, check_times, decide_status_check, following_check
from payments.domain.errors import (
    OrderAlreadyPaid,
    OrderAmountMismatch,
    OrderCurrencyMismatch,
    RequestInProgress,
    SessionLimitReached,
)
from payments.domain.notifications import NotificationAction, decide_notification
from payments.domain.orders import REOPENING_STATUSES, Order, PaymentSession, ReviewReason, Status, StoredOrder
from payments.domain.sessions import ClaimNew, ClaimNext, Refuse, Reuse, decide_session_request, opened_session

NOW = "2026-11-26T00:00:00.000Z"
LATER = "2026-11-27T09:30:00.000Z"
CLAIM_NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
LIFETIME = timedelta(minutes=30)


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


def stored(order=None, sessions=1, claim=None) -> StoredOrder:
    """What is stored under OC-1: `order` (None: only a claim), and a claim that is "live",
    "stale" (its holder crashed: claim_expires has passed) or None."""
    expires = {"live": CLAIM_NOW + timedelta(seconds=30), "stale": CLAIM_NOW - timedelta(seconds=1), None: None}
    return StoredOrder("OC-1", order, session_count=sessions if order else 0, claim_expires=expires[claim])


def outcome(decision):
    """A decision as a table cell: its kind, or the error a refusal answers with."""
    return type(decision.error) if isinstance(decision, Refuse) else type(decision)


MAX = 20
PENDING, PAID, FAILED = (an_order(status) for status in (Status.PENDING, Status.PAID, Status.FAILED))


class TestSessionRequests:
    @pytest.mark.parametrize(
        ("situation", "found", "amount", "expected"),
        [
            ("nothing stored (the first claim assumes so)", None, 50000, ClaimNew),
            ("a claim on a new order, held by another request", stored(claim="live"), 50000, RequestInProgress),
            ("a claim on a new order whose holder crashed", stored(claim="stale"), 50000, ClaimNew),
            ("... whatever amount it was for", stored(claim="stale"), 1, ClaimNew),
            ("pending, same amount", stored(PENDING), 50000, Reuse),
            ("pending, another amount", stored(PENDING), 49999, OrderAmountMismatch),
            ("paid", stored(PAID), 50000, OrderAlreadyPaid),
            ("paid, another amount", stored(PAID), 49999, OrderAmountMismatch),
            ("failed", stored(FAILED), 50000, ClaimNext),
            ("failed, another amount", stored(FAILED), 49999, OrderAmountMismatch),
            ("failed, a claim held by another request", stored(FAILED, claim="live"), 50000, RequestInProgress),
            ("failed, a claim whose holder crashed", stored(FAILED, claim="stale"), 50000, ClaimNext),
            ("failed, one session below the cap", stored(FAILED, sessions=MAX - 1), 50000, ClaimNext),
            ("failed, at the session cap", stored(FAILED, sessions=MAX), 50000, SessionLimitReached),
            ("failed, at the cap and claimed", stored(FAILED, sessions=MAX, claim="live"), 50000, RequestInProgress),
        ],
    )
    def test_the_decision(self, situation, found, amount, expected):
        decision = decide_session_request(found, amount, CLAIM_NOW, MAX, "CLP")

        assert outcome(decision) is expected, situation

    @pytest.mark.parametrize(
        ("situation", "found", "expected"),
        [
            ("pending", stored(PENDING), OrderCurrencyMismatch),
            ("failed", stored(FAILED), OrderCurrencyMismatch),
            ("paid", stored(PAID), OrderCurrencyMismatch),
            ("a claim whose holder crashed", stored(claim="stale"), ClaimNew),
            ("nothing stored", None, ClaimNew),
        ],
    )
    def test_an_order_is_never_handed_to_a_stack_of_another_currency(self, situation, found, expected):
        # given CLP orders, and the stack redeployed for ETpay Mexico
        decision = decide_session_request(found, 50000, CLAIM_NOW, MAX, "MXN")

        assert outcome(decision) is expected, situation

    def test_a_reused_session_is_the_stored_one_and_a_next_session_replaces_the_stored_order(self):
        assert decide_session_request(stored(PENDING), 50000, CLAIM_NOW, MAX, "CLP") == Reuse(PENDING)
        assert decide_session_request(stored(FAILED), 50000, CLAIM_NOW, MAX, "CLP") == ClaimNext(FAILED)

    def test_a_claim_is_live_until_the_moment_it_expires(self):
        claimed = StoredOrder("OC-1", None, claim_expires=CLAIM_NOW)

        assert outcome(decide_session_request(claimed, 50000, CLAIM_NOW - timedelta(microseconds=1), MAX, "CLP")) is (
            RequestInProgress
        )
        assert outcome(decide_session_request(claimed, 50000, CLAIM_NOW, MAX, "CLP")) is ClaimNew

    @pytest.mark.parametrize("status", sorted(REOPENING_STATUSES))
    def test_every_status_in_which_the_payment_did_not_happen_opens_a_new_session(self, status):
        assert outcome(decide_session_request(stored(an_order(status)), 50000, CLAIM_NOW, MAX, "CLP")) is ClaimNext

    @pytest.mark.parametrize("status", [status for status in Status if status.is_final and not status.reopens])
    def test_every_other_final_status_refuses_a_new_session(self, status):
        assert (
            outcome(decide_session_request(stored(an_order(status)), 50000, CLAIM_NOW, MAX, "CLP")) is OrderAlreadyPaid
        )


class TestOpenedSession:
    """An order's currency is fixed when it is created; every later session uses it."""

    def open(self, replaces, configured="CLP"):
        return opened_session(
            replaces, "OC-1", 50000, configured, "s2", "sig2", "https://pmt/session/s2", CLAIM_NOW, LIFETIME
        )

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

    def test_a_session_expires_a_lifetime_after_it_opened_and_its_checks_start_with_it(self):
        order, session = self.open(None)

        assert order.expires_at == session.expires_at == "2026-11-27T10:00:00.000Z"
        assert order.check_session == session.session_token
        assert session.payment_url == order.payment_url


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

    def test_failed_after_paid_keeps_paid_and_is_flagged(self):
        order = an_order(Status.PAID)
        decision = decide_notification(order, a_session(Status.PAID), a_notification(PaymentOutcome.FAILED))
        assert decision.action is NotificationAction.FLAG_FOR_REVIEW
        assert decision.reasons == {ReviewReason.FAILED_AFTER_PAID}

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


class TestExpiredSessions:
    """EXPIRED is our decision, not ETpay's: for the merchant it works like FAILED (a new
    POST /sessions opens a new session), but a verified payment that comes later is real money."""

    @pytest.mark.parametrize(
        ("situation", "order", "session", "outcome", "expected", "reasons"),
        [
            (
                "expired, then paid: the order becomes PAID with that session",
                an_order(Status.EXPIRED),
                a_session(Status.EXPIRED),
                PaymentOutcome.PAID,
                NotificationAction.MARK_PAID,
                set(),
            ),
            (
                "expired, a new session opened, then the old session paid: PAID with the old one",
                an_order(Status.PENDING, session_token="s2"),
                a_session(Status.EXPIRED),
                PaymentOutcome.PAID,
                NotificationAction.MARK_PAID,
                set(),
            ),
            (
                "expired, the new session failed, then the old session paid",
                an_order(Status.FAILED, session_token="s2"),
                a_session(Status.EXPIRED),
                PaymentOutcome.PAID,
                NotificationAction.MARK_PAID,
                set(),
            ),
            (
                "expired, the new session paid, then the old one paid too: a possible double payment",
                an_order(Status.PAID, session_token="s2"),
                a_session(Status.EXPIRED),
                PaymentOutcome.PAID,
                NotificationAction.RECORD_DOUBLE_PAYMENT,
                {ReviewReason.POSSIBLE_DOUBLE_PAYMENT},
            ),
            (
                "the old session paid late (the order is PAID with it), then the newer live one paid",
                an_order(Status.PAID, session_token="s2"),
                a_session(Status.PENDING),
                PaymentOutcome.PAID,
                NotificationAction.RECORD_DOUBLE_PAYMENT,
                {ReviewReason.POSSIBLE_DOUBLE_PAYMENT},
            ),
            (
                "expired, then ETpay says failed: already ended unpaid",
                an_order(Status.EXPIRED),
                a_session(Status.EXPIRED),
                PaymentOutcome.FAILED,
                NotificationAction.ALREADY_APPLIED,
                set(),
            ),
            (
                "expired, then an unpublished status: nothing to keep it for",
                an_order(Status.EXPIRED),
                a_session(Status.EXPIRED),
                PaymentOutcome.UNKNOWN,
                NotificationAction.IGNORE,
                set(),
            ),
            (
                "expired, paid late, then the same payment again: already applied",
                an_order(Status.PAID),
                a_session(Status.PAID),
                PaymentOutcome.PAID,
                NotificationAction.ALREADY_APPLIED,
                set(),
            ),
        ],
    )
    def test_the_rule(self, situation, order, session, outcome, expected, reasons):
        decision = decide_notification(order, session, a_notification(outcome))

        assert (decision.action, decision.reasons) == (expected, reasons), situation

    def test_an_expired_order_takes_a_new_session_like_a_failed_one(self):
        assert (
            outcome(decide_session_request(stored(an_order(Status.EXPIRED)), 50000, CLAIM_NOW, MAX, "CLP")) is ClaimNext
        )


OPENED = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


class TestCheckSchedule:
    @pytest.mark.parametrize(
        ("first_after_minutes", "lifetime_minutes", "check_minutes"),
        [
            (15, 30, [15, 30]),  # the defaults: halfway, then at expiry
            (5, 30, [5, 15, 30]),  # 5, then 10 later, then (20 later would pass expiry) at expiry
            (1, 30, [1, 3, 7, 15, 30]),
            (1, 24 * 60, [1, 3, 7, 15, 31, 63, 127, 255, 511, 1023, 1440]),  # a day: 11 checks, not 1,440
            (30, 30, [30]),  # a first check at expiry is the only one
            (45, 30, [30]),  # ... also when it would come later
        ],
    )
    def test_checks_double_their_interval_and_the_last_is_at_expiry(
        self, first_after_minutes, lifetime_minutes, check_minutes
    ):
        times = check_times(
            OPENED, OPENED + timedelta(minutes=lifetime_minutes), timedelta(minutes=first_after_minutes)
        )

        assert times == [OPENED + timedelta(minutes=minutes) for minutes in check_minutes]

    def due(self, checks_done: int) -> DueCheck:
        return DueCheck("OC-1", "s1", "x", OPENED, OPENED + timedelta(minutes=30), checks_done)

    def following(self, checks_done: int, now_minutes: float) -> float:
        now = OPENED + timedelta(minutes=now_minutes)
        following = following_check(
            self.due(checks_done),
            now,
            first_after=timedelta(minutes=5),
            lease=timedelta(minutes=2),
            retry=timedelta(minutes=5),
            max_retry=timedelta(minutes=60),
        )
        return (following - OPENED).total_seconds() / 60

    def test_handing_out_a_check_schedules_the_next_one(self):
        assert self.following(checks_done=0, now_minutes=5) == 15
        assert self.following(checks_done=1, now_minutes=15) == 30

    def test_a_late_check_still_leases_the_session_long_enough_for_its_worker(self):
        assert self.following(checks_done=0, now_minutes=14.5) == 16.5

    def test_after_the_final_check_come_only_retries_doubling_to_a_cap(self):
        assert self.following(checks_done=2, now_minutes=30) == 35
        assert self.following(checks_done=3, now_minutes=35) == 45
        assert self.following(checks_done=20, now_minutes=100) == 160


class TestStatusChecks:
    @pytest.mark.parametrize(
        ("situation", "session", "result", "minutes", "expected", "expire_order"),
        [
            ("no result before expiry", a_session(), None, 15, CheckAction.WAIT, False),
            ("no result at expiry", a_session(), None, 30, CheckAction.EXPIRE, True),
            ("no result past expiry", a_session(), None, 90, CheckAction.EXPIRE, True),
            ("paid before expiry", a_session(), a_notification(), 15, CheckAction.APPLY, False),
            ("paid at expiry: ETpay's word wins", a_session(), a_notification(), 30, CheckAction.APPLY, False),
            ("failed at expiry", a_session(), a_notification(PaymentOutcome.FAILED), 30, CheckAction.APPLY, False),
            ("an unpublished status before expiry: kept", a_session(), a_notification(PaymentOutcome.UNKNOWN), 15,
             CheckAction.APPLY, False),
            ("an unpublished status at expiry is no result", a_session(), a_notification(PaymentOutcome.UNKNOWN), 30,
             CheckAction.EXPIRE, True),
            ("the session ended meanwhile", a_session(Status.PAID), None, 30, CheckAction.ENDED, False),
            ("the session expired meanwhile", a_session(Status.EXPIRED), None, 30, CheckAction.ENDED, False),
        ],
    )  # fmt: skip
    def test_the_decision(self, situation, session, result, minutes, expected, expire_order):
        session = PaymentSession(**{**session.__dict__, "expires_at": "2026-11-29T12:30:00.000Z"})
        decision = decide_status_check(an_order(), session, result, OPENED + timedelta(minutes=minutes))

        assert (decision.action, decision.expire_order) == (expected, expire_order), situation

    def test_an_expiring_session_that_is_no_longer_the_orders_live_one_leaves_the_order_alone(self):
        session = PaymentSession(**{**a_session().__dict__, "expires_at": "2026-11-29T12:30:00.000Z"})
        decision = decide_status_check(
            an_order(Status.PAID, session_token="s0"), session, None, OPENED + timedelta(minutes=30)
        )

        assert (decision.action, decision.expire_order) == (CheckAction.EXPIRE, False)

    def test_a_session_opened_before_sessions_expired_never_expires_on_its_own(self):
        decision = decide_status_check(an_order(), a_session(), None, OPENED + timedelta(days=365))

        assert decision.action is CheckAction.WAIT

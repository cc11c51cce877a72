"""Reconciliation: a notification may never arrive, and a payer may never come back.

The sweep hands every due status check to workers; each worker asks ETpay's status API about one
session and applies the answer through the same conditional transitions as notifications. A
session is checked a first time ReconcileAfterSeconds after it opened, then at doubling intervals,
the last time at its expiry: with no result then, it ends EXPIRED.

Time is a test clock handed to the use cases (the sessions themselves are opened through the API at
the real time, which the clock starts from); the check queue is a list.
"""

from datetime import datetime, timedelta

import pytest

from etpay.errors import EtpayRateLimited, EtpayUnavailable
from local.etpay_sandbox import rules
from payments.adapters import secrets
from payments.adapters.aws import SQS_MAX_ATTEMPTS
from payments.adapters.check_index import CheckIndex
from payments.adapters.order_codec import pending_shard
from payments.adapters.queues import message_body
from payments.app.reconciliation import ETPAY_BACKOFF_SECONDS, CheckOutcome, SweepReport
from payments.config import wiring
from payments.domain.checks import CheckTask
from payments.domain.clock import iso_utc, utc_now
from payments.domain.errors import OrderBusy, StorageUnavailable
from payments.domain.policy import MAX_DECISION_ATTEMPTS, PENDING_SHARDS, STUCK_AFTER_EXPIRY_SECONDS
from tests.support.api import LambdaContext, load_handler, new_order_id, open_session, session_payload
from tests.support.aws import REGION, SECRET_ID, TABLE_NAME, Http200, aws_client, stored_items, stored_order
from tests.support.logs import emitted_metrics, errors_logged

MINUTE = timedelta(minutes=1)


class TestClock:
    """The use cases' clock, moved by the test. It starts at the real time when first read, so the
    sessions a test opened through the API before are already there."""

    __test__ = False

    def __init__(self) -> None:
        self._now: datetime | None = None

    def __call__(self) -> datetime:
        if self._now is None:
            self._now = utc_now()
        return self._now

    def advance(self, minutes: float) -> None:
        self._now = self() + timedelta(minutes=minutes)


class Reconciler:
    """The sweep and its workers, on the test clock; the check queue is a list."""

    def __init__(self, clock: TestClock, etpay_client=None):
        self.clock = clock
        self.sweeper = wiring.make_sweep(clock)
        self.checker = wiring.make_check_session(clock, etpay_client)
        self.queue: list[CheckTask] = []
        self.outcomes: list[CheckOutcome] = []

    def sweep(self) -> SweepReport:
        return self.sweeper.run(dispatch=self.queue.extend, has_time=lambda: True)

    def work(self) -> list[CheckOutcome]:
        outcomes, self.queue = [self.checker.check(task) for task in self.queue], []
        self.outcomes += outcomes
        return outcomes

    def run(self, minutes: int, every: int = 5) -> None:
        """A sweep and its checks every `every` simulated minutes, for `minutes` minutes (the
        schedule's checks fall on multiples of 5 minutes: 15 and 30 with the defaults). A sweep
        with nothing due by then does nothing, so it is left out: the same outcome, without its
        32 shard queries."""
        for _ in range(minutes // every):
            self.clock.advance(every)
            if something_due(self.clock()):
                self.sweep()
                self.work()


@pytest.fixture
def clock() -> TestClock:
    return TestClock()


@pytest.fixture
def reconciler(stack, clock) -> Reconciler:
    return Reconciler(clock)


def status(api, order_id: str) -> str:
    return api.get_order(order_id).body["status"]


def record(stack, token: str, outcome: str = "paid", **overrides) -> dict:
    """The payment record ETpay's status API returns for the session."""
    return stack.payment(stack.session(token), rules.payment_status_for(outcome), **overrides)


class TestLostNotifications:
    def test_a_paid_session_whose_notification_never_came_is_paid_at_its_first_check(
        self, api, stack, reconciler, order_id
    ):
        token = open_session(api, stack, order_id)
        stack.complete(token, "paid", deliver=False)

        reconciler.run(minutes=14, every=7)
        assert status(api, order_id) == "PENDING"  # its notification may still come
        reconciler.run(minutes=1, every=1)

        order = api.get_order(order_id).body
        assert (order["status"], order["payment_token"]) == ("PAID", stack.sessions[token].payment_token)
        assert stack.status_requests[token] == 1

    def test_a_failed_session_is_failed_at_its_first_check(self, api, stack, reconciler, order_id):
        token = open_session(api, stack, order_id)
        stack.complete(token, "failed", deliver=False)

        reconciler.run(minutes=15)

        assert status(api, order_id) == "FAILED"

    def test_a_reconciled_session_then_notified_is_answered_as_a_duplicate(self, api, stack, reconciler, order_id):
        token = open_session(api, stack, order_id)
        result = stack.complete(token, "paid", deliver=False)
        reconciler.run(minutes=15)
        settled = stored_order(order_id)

        assert api.notify_jwt(result["jwt"]).status == 200
        assert stored_order(order_id) == settled


class TestExpiry:
    def test_an_abandoned_session_is_checked_twice_then_expires_with_its_order(self, api, stack, reconciler, order_id):
        token = open_session(api, stack, order_id)

        reconciler.run(minutes=29, every=1)
        assert (status(api, order_id), stack.status_requests[token]) == ("PENDING", 1)
        reconciler.run(minutes=1, every=1)

        assert status(api, order_id) == "EXPIRED"
        assert stored_order(order_id)["sessions"][token]["status"] == "EXPIRED"
        assert stack.status_requests[token] == 2
        assert CheckOutcome.EXPIRED in reconciler.outcomes

    def test_no_status_check_after_a_session_ends(self, api, stack, reconciler):
        paid, failed, abandoned = (open_session(api, stack, new_order_id()) for _ in range(3))
        assert api.notify_jwt(stack.notification_jwt(paid, "paid")).status == 200
        assert api.notify_jwt(stack.notification_jwt(failed, "failed")).status == 200

        reconciler.run(minutes=6 * 60, every=15)

        assert paid not in stack.status_requests and failed not in stack.status_requests
        assert stack.status_requests[abandoned] == 2
        stored = stored_order(stored_order_id_of(stack, abandoned))
        assert "next_check_at" not in stored and "pending_shard" not in stored

    def test_an_expired_order_takes_a_new_session_like_a_failed_one(self, api, stack, reconciler, order_id):
        first = open_session(api, stack, order_id)
        reconciler.run(minutes=30)

        reply = api.create_session(session_payload(order_id))

        assert (reply.status, reply.body["status"]) == (201, "PENDING")
        assert reply.body["session_token"] != first

    def test_expired_then_paid_late_makes_the_order_paid_with_that_session(self, api, stack, reconciler, order_id):
        token = open_session(api, stack, order_id)
        reconciler.run(minutes=30)

        reply = api.notify_jwt(stack.notification_jwt(token, "paid"))

        order = api.get_order(order_id).body
        assert reply.status == 200
        assert (order["status"], order["session_token"]) == ("PAID", token)
        assert order["review"]["required"] is False

    def test_expired_then_a_new_session_then_the_old_one_paid(self, api, stack, reconciler, order_id):
        old = open_session(api, stack, order_id)
        reconciler.run(minutes=30)
        new = api.create_session(session_payload(order_id)).body

        assert api.notify_jwt(stack.notification_jwt(old, "paid")).status == 200

        order = api.get_order(order_id).body
        assert (order["status"], order["session_token"]) == ("PAID", old)
        assert order["payment_url"] == f"{stack.pmt_url}/session/{old}"
        # The new session is still live at ETpay: it is still checked, and ends on its own.
        reconciler.run(minutes=30)
        assert stored_order(order_id)["sessions"][new["session_token"]]["status"] == "EXPIRED"
        assert api.get_order(order_id).body["status"] == "PAID"

    def test_both_sessions_paid_keeps_the_first_payment_and_flags_a_possible_double_payment(
        self, api, stack, reconciler, order_id, capfd
    ):
        old = open_session(api, stack, order_id)
        reconciler.run(minutes=30)
        new = api.create_session(session_payload(order_id)).body["session_token"]
        assert api.notify_jwt(stack.notification_jwt(new, "paid")).status == 200
        capfd.readouterr()

        assert api.notify_jwt(stack.notification_jwt(old, "paid")).status == 200

        order = api.get_order(order_id).body
        assert (order["status"], order["session_token"]) == ("PAID", new)
        assert order["review"] == {"required": True, "reasons": ["possible_double_payment"]}
        assert stored_order(order_id)["sessions"][old]["status"] == "PAID"
        assert {"PossibleDoublePayment", "OrderFlaggedForReview"} <= set(emitted_metrics(capfd.readouterr().out))

    def test_a_second_possible_double_payment_is_recorded_without_flagging_the_order_again(
        self, api, stack, reconciler, order_id, capfd
    ):
        # given an order paid through its third session, and flagged when its first expired
        # session was paid too
        first = open_session(api, stack, order_id)
        reconciler.run(minutes=30)
        second = api.create_session(session_payload(order_id)).body["session_token"]
        reconciler.run(minutes=30)
        third = api.create_session(session_payload(order_id)).body["session_token"]
        assert api.notify_jwt(stack.notification_jwt(third, "paid")).status == 200
        assert api.notify_jwt(stack.notification_jwt(first, "paid")).status == 200
        flagged = api.get_order(order_id).body["review"]
        capfd.readouterr()

        # when the second expired session turns out paid as well
        reply = api.notify_jwt(stack.notification_jwt(second, "paid"))

        # then its payment is recorded, the order keeps its payment and its flag, and the
        # payment is counted again without counting a new flag
        assert reply.status == 200
        order = api.get_order(order_id).body
        assert flagged == {"required": True, "reasons": ["possible_double_payment"]}
        assert (order["status"], order["session_token"], order["review"]) == ("PAID", third, flagged)
        assert stored_order(order_id)["sessions"][second]["status"] == "PAID"
        metrics = emitted_metrics(capfd.readouterr().out)
        assert "PossibleDoublePayment" in metrics
        assert "OrderFlaggedForReview" not in metrics

    def test_a_payment_found_at_the_final_check_wins_over_expiry(self, api, stack, reconciler, order_id):
        token = open_session(api, stack, order_id)
        reconciler.run(minutes=20)
        stack.complete(token, "paid", deliver=False)

        reconciler.run(minutes=10)

        assert status(api, order_id) == "PAID"

    def test_without_an_answer_from_etpay_a_session_never_expires_and_counts_as_stuck(
        self, api, stack, clock, order_id
    ):
        token = open_session(api, stack, order_id)
        down = Reconciler(clock, etpay_client=lambda: Unreachable())

        down.run(minutes=30 + STUCK_AFTER_EXPIRY_SECONDS // 60 + 10, every=5)
        report = sweep_when_due(down)

        assert status(api, order_id) == "PENDING"
        assert report.stuck == 1
        # ... and ETpay back, the retried final check ends it.
        Reconciler(clock).run(minutes=60, every=5)
        assert status(api, order_id) == "EXPIRED"
        assert token not in stack.status_requests or stack.status_requests[token] >= 1


class TestTheSweep:
    def test_young_sessions_are_left_for_their_notification(self, api, stack, reconciler, order_id):
        open_session(api, stack, order_id)

        reconciler.clock.advance(14)
        report = reconciler.sweep()

        assert (report.handed_out, reconciler.queue) == (0, [])

    def test_two_sweeps_at_once_hand_each_check_out_once(self, api, stack, clock):
        orders = [new_order_id() for _ in range(5)]
        for order_id in orders:
            open_session(api, stack, order_id)
        first, second = Reconciler(clock), Reconciler(clock)
        clock.advance(15)

        reports = [first.sweep(), second.sweep()]

        assert sorted(task.merchant_order_id for task in first.queue + second.queue) == sorted(orders)
        assert sum(report.handed_out for report in reports) == 5

    def test_a_backlog_is_handed_out_in_one_run_page_after_page(self, api, stack, reconciler, monkeypatch):
        monkeypatch.setattr("payments.app.reconciliation.SWEEP_PAGE_SIZE", 1)  # every shard with two orders pages
        orders = [new_order_id() for _ in range(40)]  # over 32 shards: some hold several
        for order_id in orders:
            open_session(api, stack, order_id)

        reconciler.clock.advance(15)
        report = reconciler.sweep()

        assert report.handed_out == 40
        assert {task.merchant_order_id for task in reconciler.queue} == set(orders)

    def test_orders_spread_over_the_index_shards(self):
        ids = [f"OC-{number}" for number in range(20_000)]
        counts: dict[str, int] = {}
        for order_id in ids:
            counts[pending_shard(order_id)] = counts.get(pending_shard(order_id), 0) + 1

        assert len(counts) == PENDING_SHARDS
        assert max(counts.values()) / len(ids) < 1.2 / PENDING_SHARDS


class TestSlowingDown:
    def test_a_429_storm_slows_every_worker_down_and_loses_nothing(self, api, stack, reconciler):
        lost_paid = [open_session(api, stack, new_order_id()) for _ in range(3)]
        abandoned = [open_session(api, stack, new_order_id()) for _ in range(3)]
        for token in lost_paid:
            stack.complete(token, "paid", deliver=False)
        stack.fail_next_status_checks(count=1, status=429, retry_after=120)

        reconciler.clock.advance(15)
        reconciler.sweep()
        outcomes = reconciler.work()

        # One worker heard "429, Retry-After: 120"; the others did not ask ETpay at all.
        assert outcomes.count(CheckOutcome.DEFERRED) == 6
        assert sum(stack.status_requests.get(token, 0) for token in lost_paid + abandoned) == 1
        reconciler.clock.advance(1)
        assert reconciler.sweep().backing_off
        # After the wait every check is made, and every session settles as it should.
        reconciler.run(minutes=30)
        assert {status(api, stored_order_id_of(stack, token)) for token in lost_paid} == {"PAID"}
        assert {status(api, stored_order_id_of(stack, token)) for token in abandoned} == {"EXPIRED"}

    def test_a_429_without_retry_after_waits_the_default(self, api, stack, reconciler, order_id):
        token = open_session(api, stack, order_id)
        stack.fail_next_status_checks(count=1, status=429)
        reconciler.clock.advance(15)
        reconciler.sweep()
        reconciler.work()

        reconciler.clock.advance(ETPAY_BACKOFF_SECONDS / 60 - 0.1)
        held = reconciler.sweep()
        reconciler.clock.advance(0.2)
        resumed = reconciler.sweep()

        assert held.backing_off and not resumed.backing_off
        assert resumed.handed_out == 1
        assert stack.status_requests[token] == 1

    def test_etpay_down_is_an_error_and_the_next_scheduled_check_tries_again(self, api, stack, clock, order_id):
        token = open_session(api, stack, order_id)
        stack.complete(token, "paid", deliver=False)
        down = Reconciler(clock, etpay_client=lambda: Unreachable())

        down.run(minutes=15)
        Reconciler(clock).run(minutes=15)

        assert CheckOutcome.ERROR in down.outcomes
        assert status(api, order_id) == "PAID"


class TestChecksRacingNotifications:
    def test_a_check_for_a_session_a_notification_settled_meanwhile_does_not_ask_etpay(
        self, api, stack, reconciler, order_id
    ):
        token = open_session(api, stack, order_id)
        reconciler.clock.advance(15)
        reconciler.sweep()
        assert api.notify_jwt(stack.notification_jwt(token, "paid")).status == 200

        assert reconciler.work() == [CheckOutcome.ENDED]
        assert token not in stack.status_requests

    def test_the_decisive_record_is_paid_then_failed_and_other_sessions_records_count_for_nothing(
        self, api, stack, clock, order_id
    ):
        token = open_session(api, stack, order_id)
        other_order = new_order_id()
        other = open_session(api, stack, other_order)
        answer = [
            "not a payment object",
            {"payment_status": True},  # no merchant_order_id
            record(stack, other, "paid"),  # another session's result
            record(stack, token, "failed"),
            record(stack, token, "paid"),
        ]
        Reconciler(clock, etpay_client=lambda: StatusApi({token: answer, other: []})).run(minutes=15)

        assert status(api, order_id) == "PAID"
        assert status(api, other_order) == "PENDING"

    def test_a_record_that_disagrees_with_the_order_is_flagged(self, api, stack, clock, order_id):
        token = open_session(api, stack, order_id)
        answer = [record(stack, token, "paid", merchant_amount=1)]

        Reconciler(clock, etpay_client=lambda: StatusApi({token: answer})).run(minutes=15)

        order = api.get_order(order_id).body
        assert (order["status"], order["review"]["reasons"]) == ("PENDING", ["notification_mismatch"])


class TestTheFunctions:
    def test_the_sweep_hands_checks_to_the_queue_and_the_worker_settles_them(
        self, api, stack, monkeypatch, capfd, order_id
    ):
        queue_url = aws_client("sqs").create_queue(QueueName=f"checks-{new_order_id()}")["QueueUrl"]
        monkeypatch.setenv("RECONCILE_QUEUE_URL", queue_url)
        wiring.reset()
        token = open_session(api, stack, order_id)
        stack.complete(token, "paid", deliver=False)
        make_due_now(order_id)

        report = load_handler("reconcile").lambda_handler({"source": "aws.scheduler"}, LambdaContext())
        messages = aws_client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
        answer = load_handler("reconcile_worker").lambda_handler(sqs_event(messages), LambdaContext())

        assert report["handed_out"] == 1
        assert answer == {"batchItemFailures": []}
        assert status(api, order_id) == "PAID"
        assert '"StuckPendingSessions"' in capfd.readouterr().out

    def test_the_worker_drops_an_unreadable_message_and_returns_a_storage_failure_to_the_queue(
        self, api, stack, aws_faults, order_id
    ):
        token = open_session(api, stack, order_id)
        good = {"messageId": "m-good", "body": message_body(CheckTask(order_id, token))}
        bad = {"messageId": "m-bad", "body": "{not json"}
        aws_faults.fail_always("dynamodb", "GetItem", "InternalServerError")

        answer = load_handler("reconcile_worker").lambda_handler({"Records": [bad, good]}, LambdaContext())

        assert answer == {"batchItemFailures": [{"itemIdentifier": "m-good"}]}

    def test_unreadable_etpay_credentials_return_the_check_to_the_queue(self, api, stack, order_id):
        token = open_session(api, stack, order_id)
        aws_client("secretsmanager").put_secret_value(SecretId=SECRET_ID, SecretString="{}")
        secrets.store.forget()
        message = {"messageId": "m-1", "body": message_body(CheckTask(order_id, token))}

        answer = load_handler("reconcile_worker").lambda_handler({"Records": [message]}, LambdaContext())

        assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
        assert status(api, order_id) == "PENDING"


class TestTheSweepCutShort:
    def test_a_sweep_out_of_time_stops_and_leaves_every_check_due(self, api, stack, reconciler, order_id):
        open_session(api, stack, order_id)
        reconciler.clock.advance(15)

        report = reconciler.sweeper.run(dispatch=reconciler.queue.extend, has_time=lambda: False)

        assert (report.out_of_time, report.handed_out, reconciler.queue) == (True, 0, [])
        # nothing was leased: the next sweep hands it out at once
        assert reconciler.sweep().handed_out == 1

    def test_a_check_another_sweep_leased_first_is_not_handed_out_twice(
        self, api, stack, reconciler, aws_faults, order_id
    ):
        open_session(api, stack, order_id)
        reconciler.clock.advance(15)
        aws_faults.before_next("dynamodb", "UpdateItem", lambda: leased_by_another_sweep(order_id))

        report = reconciler.sweep()

        assert (report.lost_leases, report.handed_out, reconciler.queue) == (1, 0, [])
        assert stored_order(order_id)["check_count"] == 1  # the other sweep's lease only


class TestTheCheckQueue:
    def test_without_a_queue_configured_the_sweep_fails_and_loses_no_check(self, api, stack, order_id):
        token = open_session(api, stack, order_id)
        make_due_now(order_id)

        with pytest.raises(StorageUnavailable, match="RECONCILE_QUEUE_URL"):
            load_handler("reconcile").lambda_handler({"source": "aws.scheduler"}, LambdaContext())

        # leased, so handed out again at its next scheduled check
        stored = stored_order(order_id)
        assert stored["check_session"] == token and stored["next_check_at"] > utc_now().isoformat()

    def test_sqs_down_fails_the_sweep_after_its_retries(self, api, stack, aws_faults, caplog, monkeypatch, order_id):
        queue_url = check_queue(monkeypatch)
        open_session(api, stack, order_id)
        make_due_now(order_id)
        aws_faults.fail_always("sqs", "SendMessageBatch", "ServiceUnavailable")

        with pytest.raises(StorageUnavailable, match="unavailable"):
            load_handler("reconcile").lambda_handler({"source": "aws.scheduler"}, LambdaContext())

        assert aws_faults.count("sqs", "SendMessageBatch") == SQS_MAX_ATTEMPTS
        assert "check queue unavailable" in errors_logged(caplog)
        aws_faults.heal()
        assert "Messages" not in aws_client("sqs").receive_message(QueueUrl=queue_url)

    def test_messages_sqs_refuses_fail_the_sweep(self, api, stack, session_hooks, caplog, monkeypatch, order_id):
        check_queue(monkeypatch)
        open_session(api, stack, order_id)
        make_due_now(order_id)
        refused = {"Id": "0", "SenderFault": False, "Code": "InternalError", "Message": "injected"}
        session_hooks.register(
            "before-call.sqs.SendMessageBatch",
            lambda **_: (Http200(), {"Successful": [], "Failed": [refused], "ResponseMetadata": {}}),
        )

        with pytest.raises(StorageUnavailable, match="refused"):
            load_handler("reconcile").lambda_handler({"source": "aws.scheduler"}, LambdaContext())

        (logged,) = [record for record in caplog.records if record.getMessage() == "check queue refused messages"]
        assert logged.levelname == "ERROR" and logged.codes == ["InternalError"]


class TestChecksOfSessionsThatEnded:
    def test_a_check_for_an_order_that_no_longer_exists_ends_without_asking_etpay(self, stack, reconciler):
        assert reconciler.checker.check(CheckTask("OC-gone", "session-gone")) is CheckOutcome.ENDED
        assert "session-gone" not in stack.status_requests

    def test_an_ended_session_still_in_the_check_index_is_taken_out_without_asking_etpay(
        self, api, stack, reconciler, order_id
    ):
        # given a paid order whose item still schedules checks of its session (as written by hand)
        token = open_session(api, stack, order_id)
        ended_but_still_scheduled(order_id, token)

        outcome = reconciler.checker.check(CheckTask(order_id, token))

        assert outcome is CheckOutcome.ENDED
        assert token not in stack.status_requests
        stored = stored_order(order_id)
        assert "check_session" not in stored and "next_check_at" not in stored
        reconciler.clock.advance(60)
        assert reconciler.sweep().handed_out == 0

    def test_two_workers_taking_the_same_ended_session_out_of_the_index_both_end_quietly(
        self, api, stack, reconciler, aws_faults, order_id
    ):
        token = open_session(api, stack, order_id)
        ended_but_still_scheduled(order_id, token)
        other_worker = Reconciler(reconciler.clock)
        task = CheckTask(order_id, token)
        aws_faults.before_next("dynamodb", "UpdateItem", lambda: other_worker.checker.check(task))

        assert reconciler.checker.check(task) is CheckOutcome.ENDED
        assert "check_session" not in stored_order(order_id)

    def test_an_order_deleted_while_its_session_expires_ends_the_check(
        self, api, stack, reconciler, aws_faults, order_id
    ):
        token = open_session(api, stack, order_id)
        reconciler.clock.advance(30)
        aws_faults.before_next("dynamodb", "UpdateItem", lambda: delete_order(order_id))

        assert reconciler.checker.check(CheckTask(order_id, token)) is CheckOutcome.ENDED
        assert stored_items() == []

    def test_an_expiry_that_keeps_losing_races_is_retried_later_not_forced(
        self, api, stack, reconciler, aws_faults, order_id
    ):
        token = open_session(api, stack, order_id)
        reconciler.clock.advance(30)
        aws_faults.fail_next("dynamodb", "UpdateItem", "ConditionalCheckFailedException", times=MAX_DECISION_ATTEMPTS)

        with pytest.raises(OrderBusy, match="busy"):
            reconciler.checker.check(CheckTask(order_id, token))

        assert status(api, order_id) == "PENDING"
        assert stack.status_requests[token] == 1  # re-decided on fresh reads, ETpay asked once
        assert reconciler.checker.check(CheckTask(order_id, token)) is CheckOutcome.EXPIRED


class TestBackoffRaces:
    def test_a_deferred_check_of_a_session_that_ended_meanwhile_is_not_scheduled_again(self, api, stack, reconciler):
        first, second = new_order_id(), new_order_id()
        first_token, second_token = open_session(api, stack, first), open_session(api, stack, second)
        stack.fail_next_status_checks(count=1, status=429, retry_after=120)
        reconciler.clock.advance(15)
        reconciler.sweep()
        assert api.notify_jwt(stack.notification_jwt(second_token, "paid")).status == 200

        outcomes = [reconciler.checker.check(CheckTask(first, first_token))]
        outcomes.append(reconciler.checker.check(CheckTask(second, second_token)))

        assert outcomes == [CheckOutcome.DEFERRED, CheckOutcome.DEFERRED]
        assert "next_check_at" in stored_order(first)
        assert "next_check_at" not in stored_order(second) and status(api, second) == "PAID"

    def test_the_longest_wait_etpay_asked_for_wins(self, api, stack, clock):
        orders = [new_order_id() for _ in range(3)]
        waiting, slow, slower = (open_session(api, stack, order) for order in orders)
        long_wait = Reconciler(clock, etpay_client=lambda: StatusApi({slow: rate_limited(300)}))
        short_wait = Reconciler(clock, etpay_client=lambda: StatusApi({waiting: [], slower: rate_limited(60)}))
        clock.advance(15)
        # the second worker has read "no backoff" before the first one heard ETpay's 429
        assert short_wait.checker.check(CheckTask(orders[0], waiting)) is CheckOutcome.WAITING

        long_wait.checker.check(CheckTask(orders[1], slow))
        short_wait.checker.check(CheckTask(orders[2], slower))

        backoff = CheckIndex(TABLE_NAME).etpay_backoff_until()
        # stored to the millisecond
        assert clock() + timedelta(seconds=299) < backoff <= clock() + timedelta(seconds=300)


# -- helpers ---------------------------------------------------------------------------------------
class StatusApi:
    """ETpay's status API as a test needs it: the answer for each session, or an error."""

    def __init__(self, answers):
        self._answers = answers

    def check_payment_status(self, *, session_token):
        answer = self._answers[session_token]
        if isinstance(answer, Exception):
            raise answer
        return answer


class Unreachable:
    def check_payment_status(self, *, session_token):
        raise EtpayUnavailable("ETpay unreachable on /merchant/check_payment_status: NewConnectionError")


def stored_order_id_of(stack, token: str) -> str:
    return stack.session(token).merchant_order_id


def something_due(now: datetime) -> bool:
    """Whether any status check in the index is due by `now` (read past the use cases, in one
    scan of the index)."""
    pages = (
        aws_client("dynamodb")
        .get_paginator("scan")
        .paginate(TableName=TABLE_NAME, IndexName="PendingChecks", ProjectionExpression="next_check_at")
    )
    return any(item["next_check_at"]["S"] <= iso_utc(now) for page in pages for item in page["Items"])


def sweep_when_due(reconciler: Reconciler) -> SweepReport:
    """The next sweep that finds something due (final-check retries come every few minutes)."""
    for _ in range(120):
        reconciler.clock.advance(1)
        if not something_due(reconciler.clock()):
            continue
        report = reconciler.sweep()
        if report.handed_out:
            reconciler.work()
            return report
    raise AssertionError("nothing came due in two hours")


def make_due_now(order_id: str) -> None:
    aws_client("dynamodb").update_item(
        TableName=TABLE_NAME,
        Key={"pk": {"S": f"ORDER#{order_id}"}},
        UpdateExpression="SET next_check_at = :past",
        ExpressionAttributeValues={":past": {"S": "2000-01-01T00:00:00.000Z"}},
    )


def sqs_event(messages: list[dict]) -> dict:
    """The event Lambda's SQS event source mapping gives the worker."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:checks",
                "awsRegion": REGION,
            }
            for message in messages
        ]
    }


def leased_by_another_sweep(order_id: str) -> None:
    """What a second sweep's lease of the order's check writes."""
    aws_client("dynamodb").update_item(
        TableName=TABLE_NAME,
        Key={"pk": {"S": f"ORDER#{order_id}"}},
        UpdateExpression="SET next_check_at = :later, check_count = :one",
        ExpressionAttributeValues={":later": {"S": "2999-01-01T00:00:00.000Z"}, ":one": {"N": "1"}},
    )


def ended_but_still_scheduled(order_id: str, token: str) -> None:
    aws_client("dynamodb").update_item(
        TableName=TABLE_NAME,
        Key={"pk": {"S": f"ORDER#{order_id}"}},
        UpdateExpression="SET #status = :paid, sessions.#token.#status = :paid",
        ExpressionAttributeNames={"#status": "status", "#token": token},
        ExpressionAttributeValues={":paid": {"S": "PAID"}},
    )


def delete_order(order_id: str) -> None:
    aws_client("dynamodb").delete_item(TableName=TABLE_NAME, Key={"pk": {"S": f"ORDER#{order_id}"}})


def check_queue(monkeypatch) -> str:
    """A check queue for the sweep function; its URL."""
    queue_url = aws_client("sqs").create_queue(QueueName=f"checks-{new_order_id()}")["QueueUrl"]
    monkeypatch.setenv("RECONCILE_QUEUE_URL", queue_url)
    wiring.reset()
    return queue_url


def rate_limited(seconds: int) -> EtpayRateLimited:
    return EtpayRateLimited("ETpay answered 429 on /merchant/check_payment_status", 429, retry_after=seconds)

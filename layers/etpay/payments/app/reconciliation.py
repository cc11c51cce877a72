"""Reconciliation: a notification may never come, so sessions still PENDING are asked about with
ETpay's status API on a schedule (payments.domain.checks). The sweep (scheduled) hands every check
that is due to the workers through the check queue; a worker (the queue's event source) asks ETpay
about one session and settles the answer like a notification, or ends the session EXPIRED at the
end of its lifetime. ETpay's "slow down" (429, Retry-After) holds every worker and the sweep back.
"""

import enum
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from etpay.errors import EtpayError, EtpayRateLimited
from etpay.records import Notification
from payments.app import telemetry
from payments.app.ports import CheckDispatch, CheckIndex, Etpay, OrderStore
from payments.app.settlement import Settlement
from payments.app.telemetry import logger
from payments.domain.checks import (
    CheckAction,
    CheckTask,
    DueCheck,
    decide_status_check,
    decisive_result,
    following_check,
)
from payments.domain.clock import Clock, utc_now
from payments.domain.errors import ConcurrentUpdate, OrderBusy, OrderNotFound
from payments.domain.notifications import NotificationAction
from payments.domain.orders import Order, PaymentSession, Status
from payments.domain.policy import (
    CHECK_LEASE_SECONDS,
    FINAL_CHECK_MAX_RETRY_SECONDS,
    FINAL_CHECK_RETRY_SECONDS,
    MAX_DECISION_ATTEMPTS,
    PENDING_SHARDS,
    STUCK_AFTER_EXPIRY_SECONDS,
)

# The sweep reads the index a page of this many due checks at a time, each shard in parallel.
SWEEP_PAGE_SIZE = 100
SWEEP_THREADS = 8
# A sweep stops handing out checks when less than this is left of its Lambda timeout.
SWEEP_TIME_RESERVE_MS = 15_000
# ETpay said 429 (or sent Retry-After) without saying how long: wait this long. Whatever it says,
# never more than the maximum.
ETPAY_BACKOFF_SECONDS = 30
ETPAY_MAX_BACKOFF_SECONDS = 60 * 60
# Workers read the shared backoff at most this often.
BACKOFF_CACHE_SECONDS = 5


@dataclass
class SweepReport:
    """What one reconciliation sweep did."""

    handed_out: int = 0  # checks leased and queued for the workers
    lost_leases: int = 0  # due checks another sweep (or the session's end) took first
    stuck: int = 0  # sessions past expiry by STUCK_AFTER_EXPIRY_SECONDS and still not ended
    backing_off: bool = False  # ETpay asked us to slow down: nothing handed out
    out_of_time: bool = False  # the run ended before every due check was handed out


class CheckOutcome(enum.Enum):
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    FLAGGED = "flagged"
    WAITING = "waiting"  # ETpay has no result yet; the next check is scheduled
    ENDED = "ended"  # the session had already ended: ETpay was not asked
    DEFERRED = "deferred"  # ETpay asked us to slow down: the check moves to after the wait
    ERROR = "error"  # ETpay could not be asked; the next scheduled check will


OUTCOME_OF_ACTION = {
    NotificationAction.MARK_PAID: CheckOutcome.PAID,
    NotificationAction.MARK_FAILED: CheckOutcome.FAILED,
    NotificationAction.RECORD_DOUBLE_PAYMENT: CheckOutcome.FLAGGED,
    NotificationAction.FLAG_FOR_REVIEW: CheckOutcome.FLAGGED,
    NotificationAction.RECORD_UNKNOWN: CheckOutcome.WAITING,
    # Another worker or a notification got there first.
    NotificationAction.ALREADY_APPLIED: CheckOutcome.ENDED,
    NotificationAction.IGNORE: CheckOutcome.ENDED,
}


class Sweep:
    def __init__(self, checks: CheckIndex, first_check_after: timedelta, clock: Clock = utc_now):
        self._checks = checks
        self._first_check_after = first_check_after
        self._clock = clock

    def run(self, dispatch: CheckDispatch, has_time: Callable[[], bool]) -> SweepReport:
        """Hand every status check that is due to the workers (`dispatch`, a page at a time), each
        index shard read in parallel: the work handed out grows with the backlog, not a fixed
        batch. Each check is leased first (its next one scheduled), so no other sweep hands it out
        again while a worker has it. Nothing is handed out while ETpay asks us to slow down."""
        now = self._clock()
        report = SweepReport()
        until = self._checks.etpay_backoff_until()
        if until is not None and until > now:
            report.backing_off = True
            logger.warning("ETpay asked to slow down; no checks handed out", extra={"until": until.isoformat()})
            return report
        with ThreadPoolExecutor(max_workers=SWEEP_THREADS) as pool:
            shards = list(
                pool.map(lambda shard: self._sweep_shard(shard, now, dispatch, has_time), range(PENDING_SHARDS))
            )
        for shard in shards:
            report.handed_out += shard.handed_out
            report.lost_leases += shard.lost_leases
            report.stuck += shard.stuck
            report.out_of_time |= shard.out_of_time
        return report

    def _sweep_shard(
        self, shard: int, now: datetime, dispatch: CheckDispatch, has_time: Callable[[], bool]
    ) -> SweepReport:
        report = SweepReport()
        stuck_before = now - timedelta(seconds=STUCK_AFTER_EXPIRY_SECONDS)
        start = None
        while True:
            if not has_time():
                report.out_of_time = True
                return report
            due, start = self._checks.due_checks(shard, now, SWEEP_PAGE_SIZE, start)
            tasks = []
            for check in due:
                if check.expires_at < stuck_before:
                    report.stuck += 1
                if self._checks.lease_check(check, self._following_check(check, now)):
                    tasks.append(CheckTask(check.merchant_order_id, check.session_token))
                else:
                    report.lost_leases += 1
            if tasks:
                dispatch(tasks)
                report.handed_out += len(tasks)
            if start is None:
                return report

    def _following_check(self, check: DueCheck, now: datetime) -> datetime:
        return following_check(
            check,
            now,
            self._first_check_after,
            lease=timedelta(seconds=CHECK_LEASE_SECONDS),
            retry=timedelta(seconds=FINAL_CHECK_RETRY_SECONDS),
            max_retry=timedelta(seconds=FINAL_CHECK_MAX_RETRY_SECONDS),
        )


class CheckSession:
    def __init__(self, orders: OrderStore, checks: CheckIndex, etpay: Callable[[], Etpay], clock: Clock = utc_now):
        self._orders = orders
        self._checks = checks
        # A factory, not a client: credentials are only read when ETpay is really asked.
        self._etpay = etpay
        self._clock = clock
        self._settlement = Settlement(orders, gone=lambda: OrderNotFound("the order is gone"), clock=clock)
        # ETpay's last "slow down", as this environment last read it: (until, read at).
        self._backoff: tuple[datetime | None, datetime] | None = None

    def check(self, task: CheckTask) -> CheckOutcome:
        """A worker's status check: ask ETpay about the session and apply its answer through the
        same conditional transitions as a notification; at the end of the session's lifetime, no
        result ends it EXPIRED. A session checked by two workers at once is still settled once:
        each write is conditional on the state its decision saw."""
        now = self._clock()
        until = self._etpay_backoff_until(now)
        if until is not None and until > now:
            self._defer(task, until)
            return CheckOutcome.DEFERRED
        found = self._orders.get_order_and_session(task.merchant_order_id, task.session_token)
        if found is None:
            return CheckOutcome.ENDED
        order, session = found
        if session.status is not Status.PENDING:
            if order.check_session == session.session_token:
                self._checks.clear_check(order.merchant_order_id, session.session_token)
            return CheckOutcome.ENDED
        logger.append_keys(merchant_order_id=order.merchant_order_id)
        try:
            records = self._etpay().check_payment_status(session_token=session.session_token)
        except EtpayRateLimited as error:
            wait = min(error.retry_after or ETPAY_BACKOFF_SECONDS, ETPAY_MAX_BACKOFF_SECONDS)
            until = now + timedelta(seconds=wait)
            logger.warning("ETpay asked to slow down", extra={"etpay_status": error.status, "wait_seconds": wait})
            telemetry.count(telemetry.ETPAY_RATE_LIMITED)
            self._checks.extend_etpay_backoff(until)
            self._backoff = (until, now)
            self._defer(task, until)
            return CheckOutcome.DEFERRED
        except EtpayError as error:
            # Its next check is already scheduled (the sweep leased it with the one after).
            telemetry.count(telemetry.RECONCILE_ERRORS)
            logger.warning("ETpay status check failed", extra={"problem": str(error)})
            return CheckOutcome.ERROR
        return self._apply_check(order, session, decisive_result(session, records))

    def _apply_check(self, order: Order, session: PaymentSession, result: Notification | None) -> CheckOutcome:
        for _ in range(MAX_DECISION_ATTEMPTS):
            now = self._clock()
            decision = decide_status_check(order, session, result, now)
            if decision.action is CheckAction.ENDED:
                return CheckOutcome.ENDED
            if decision.action is CheckAction.WAIT:
                return CheckOutcome.WAITING
            if decision.action is CheckAction.APPLY and result is not None:
                action = self._settlement.apply(order, session, result).action
                return OUTCOME_OF_ACTION[action]
            try:
                self._orders.expire(order, session, now, decision.expire_order)
            except ConcurrentUpdate:
                logger.info("expiry lost a race; deciding again")
                found = self._orders.get_order_and_session(order.merchant_order_id, session.session_token)
                if found is None:
                    return CheckOutcome.ENDED
                order, session = found
                continue
            telemetry.count(telemetry.SESSION_EXPIRED)
            logger.info(
                "payment session expired",
                extra={"order_status": (Status.EXPIRED if decision.expire_order else order.status).value},
            )
            return CheckOutcome.EXPIRED
        raise OrderBusy("the order is busy; check it again")

    def _etpay_backoff_until(self, now: datetime) -> datetime | None:
        """The shared "slow down" of ETpay, read at most every BACKOFF_CACHE_SECONDS."""
        if self._backoff is None or now - self._backoff[1] >= timedelta(seconds=BACKOFF_CACHE_SECONDS):
            self._backoff = (self._checks.etpay_backoff_until(), now)
        return self._backoff[0]

    def _defer(self, task: CheckTask, until: datetime) -> None:
        # Spread over a few seconds, so the held-back checks do not all ask again at once.
        at = until + timedelta(seconds=random.uniform(0, BACKOFF_CACHE_SECONDS))  # noqa: S311 - jitter, not a secret
        self._checks.reschedule_check(task.merchant_order_id, task.session_token, at)

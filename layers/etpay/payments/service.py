"""The payments use cases: open (or reuse) an ETpay session for an order, read an order, and apply
ETpay's notifications. Knows nothing of API Gateway; speaks to ETpay and DynamoDB only through
`etpay` and `payments.repository`."""

import enum
import math
import random
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit

from etpay import (
    EtpayClient,
    EtpayError,
    EtpayRateLimited,
    EtpayResponseError,
    EtpayTimeout,
    EtpayUnavailable,
    InvalidNotification,
    Notification,
    PaymentOutcome,
    SessionRequest,
    payment_from_record,
    read_lookup_keys,
    verify_notification,
)
from etpay.client import TOTAL_TIMEOUT_SECONDS as ETPAY_TOTAL_TIMEOUT_SECONDS
from etpay.notification import describe_payment_status
from payments import observability as obs
from payments.clock import Clock, iso_utc, parse_iso, utc_now
from payments.errors import (
    ConcurrentUpdate,
    EtpayFailed,
    EtpayTimedOut,
    NotificationRejected,
    OrderNotFound,
    StorageUnavailable,
)
from payments.model import (
    CheckAction,
    ClaimNext,
    DueCheck,
    NotificationAction,
    Order,
    PaymentSession,
    Refuse,
    Resolution,
    Reuse,
    ReviewReason,
    Status,
    StoredOrder,
    check_times,
    decide_notification,
    decide_resolution,
    decide_session_request,
    decide_status_check,
    following_check,
    opened_session,
    request_in_progress,
)
from payments.notification_keys import NotificationKeys, with_key
from payments.repository import OrderRepository, all_shards, review_shard_index
from payments.reviews import QueuePage, QueuePosition, ShardPage, merge_pages
from payments.settings import (
    BACKOFF_CACHE_SECONDS,
    CHECK_LEASE_SECONDS,
    ETPAY_BACKOFF_SECONDS,
    ETPAY_MAX_BACKOFF_SECONDS,
    FINAL_CHECK_MAX_RETRY_SECONDS,
    FINAL_CHECK_RETRY_SECONDS,
    LEGACY_MIGRATION_BATCH,
    MAX_DECISION_ATTEMPTS,
    MAX_SESSIONS_PER_ORDER,
    REVIEW_OVERDUE_SECONDS,
    REVIEW_QUERY_THREADS,
    REVIEW_SHARDS,
    SESSION_STORE_RESERVE_SECONDS,
    STUCK_AFTER_EXPIRY_SECONDS,
    SWEEP_PAGE_SIZE,
    SWEEP_THREADS,
    Settings,
)
from payments.validation import SessionStart

logger = obs.logger
metrics = obs.metrics

REVIEW_METRICS = {
    ReviewReason.NOTIFICATION_MISMATCH: obs.NOTIFICATION_MISMATCH,
    ReviewReason.PAID_AFTER_FAILED: obs.PAID_AFTER_FAILED,
    ReviewReason.POSSIBLE_DOUBLE_PAYMENT: obs.POSSIBLE_DOUBLE_PAYMENT,
    ReviewReason.FAILED_AFTER_PAID: obs.FAILED_AFTER_PAID,
}


@dataclass(frozen=True)
class SessionResult:
    order: Order
    created: bool  # True: a new ETpay session was opened by this call


@dataclass(frozen=True)
class Claimed:
    """The claim on an order is ours: we may ask ETpay for its next session."""

    replaces: Order | None  # the FAILED order getting a new session; None: a brand-new order


@dataclass(frozen=True)
class NotificationResult:
    merchant_order_id: str
    action: NotificationAction


@dataclass(frozen=True)
class CheckTask:
    """One status check handed from the sweep to a worker."""

    merchant_order_id: str
    session_token: str


@dataclass
class SweepReport:
    handed_out: int = 0  # checks leased and queued for the workers
    lost_leases: int = 0  # due checks another sweep (or the session's end) took first
    stuck: int = 0  # sessions past expiry by STUCK_AFTER_EXPIRY_SECONDS and still not ended
    adopted: int = 0  # orders moved from the legacy index
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


def _count(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


class PaymentsService:
    def __init__(
        self,
        repository: OrderRepository,
        settings: Settings,
        etpay_client: Callable[[], EtpayClient],
        notification_keys: NotificationKeys,
        clock: Clock = utc_now,
    ):
        self._repository = repository
        self._settings = settings
        # A factory, not a client: credentials are only read when ETpay is really needed.
        self._etpay_client = etpay_client
        self._notification_keys = notification_keys
        self._clock = clock
        self._lifetime = timedelta(seconds=settings.session_lifetime_seconds)
        self._first_check_after = timedelta(seconds=settings.reconcile_after_seconds)
        # ETpay's last "slow down", as this environment last read it: (until, read at).
        self._backoff: tuple[datetime | None, datetime] | None = None

    # -- POST /sessions ------------------------------------------------------------------------
    def start_session(
        self,
        request: SessionStart,
        notification_url: str | None,
        seconds_left: Callable[[], float] = lambda: math.inf,
    ) -> SessionResult:
        order_id = request.merchant_order_id
        claim_id = uuid.uuid4().hex
        outcome = self._claim(request, claim_id)
        if isinstance(outcome, SessionResult):
            return outcome
        previous = outcome.replaces

        try:
            # Credentials are read only once ETpay is really needed; a failure releases the claim.
            client = self._etpay_client()
            if seconds_left() < ETPAY_TOTAL_TIMEOUT_SECONDS + SESSION_STORE_RESERVE_SECONDS:
                # AWS was slow so far: an ETpay session opened now might never be stored before the
                # invocation is cut off, leaving the claim to block retries. Let the caller retry.
                logger.warning("too little time left to ask ETpay and store the session")
                raise StorageUnavailable("AWS answered too slowly; retry the request")
            created = self._ask_etpay(client, request, notification_url)
        except BaseException:
            self._repository.release_claim(order_id, claim_id, new_order=previous is None)
            raise

        new_order, session = opened_session(
            previous,
            order_id,
            request.order_amount,
            configured_currency=self._settings.currency,
            session_token=created.token,
            signature_token=created.signature_token,
            payment_url=client.credentials.funnel_url(created.token),
            now=self._clock(),
            lifetime=self._lifetime,
        )
        opened = parse_iso(session.created_at)
        first_check = check_times(opened, parse_iso(session.expires_at), self._first_check_after)[0]
        try:
            self._repository.open_session(
                new_order,
                session,
                claim_id,
                replaces=previous.session_token if previous else None,
                first_check=first_check,
            )
        except ConcurrentUpdate:
            # Our claim expired and another invocation took over; the session we just opened was
            # never shown to anyone, so no money can move through it.
            logger.warning("session claim lost while opening a session")
            return self._answer_for_busy_order(request)
        except BaseException:
            self._repository.release_claim(order_id, claim_id, new_order=previous is None)
            raise
        _count(obs.SESSION_CREATED)
        logger.info("payment session opened", extra={"order_status": Status.PENDING.value})
        return SessionResult(new_order, created=True)

    def _claim(self, request: SessionStart, claim_id: str) -> Claimed | SessionResult:
        """Carry out decide_session_request until it is settled: either the claim (the right to ask
        ETpay for the order's next session) is ours, or the answer needs no ETpay call. Each claim
        is a conditional write that, when refused, returns what is stored, and the first one
        assumes a new order: a new order costs one write, an existing one no extra read. A refusal
        (another request won a race, a crashed claim was taken over first) is decided again."""
        order_id, amount = request.merchant_order_id, request.order_amount
        stored: StoredOrder | None = None
        for _ in range(MAX_DECISION_ATTEMPTS):
            now = self._clock()
            decision = decide_session_request(stored, amount, now, MAX_SESSIONS_PER_ORDER, self._settings.currency)
            if isinstance(decision, Refuse):
                raise decision.error
            if isinstance(decision, Reuse):
                _count(obs.SESSION_REUSED)
                return SessionResult(decision.order, created=False)
            replaces = decision.replaces if isinstance(decision, ClaimNext) else None
            if replaces is None:
                stored = self._repository.claim_new_order(order_id, amount, self._settings.currency, claim_id, now)
            else:
                stored = self._repository.claim_next_session(replaces, claim_id, now)
            if stored is None:
                return Claimed(replaces)
        raise StorageUnavailable("the order is busy; retry the request")

    def _answer_for_busy_order(self, request: SessionStart) -> SessionResult:
        """Our claim expired while ETpay answered and another request took the order over: answer
        from what is stored now, without asking ETpay again."""
        stored = self._repository.get_stored_order(request.merchant_order_id)
        decision = decide_session_request(
            stored, request.order_amount, self._clock(), MAX_SESSIONS_PER_ORDER, self._settings.currency
        )
        match decision:
            case Reuse(order):
                return SessionResult(order, created=False)
            case Refuse(error):
                raise error
            case _:
                raise request_in_progress(request.merchant_order_id)

    def _ask_etpay(self, client: EtpayClient, request: SessionStart, notification_url: str | None):
        settings = self._settings
        etpay_request = SessionRequest(
            merchant_order_id=request.merchant_order_id,
            order_amount=request.order_amount,
            # Without the key our own /notifications would turn ETpay away.
            payment_webhook_url=with_key(notification_url, self._notification_keys.current())
            if notification_url
            else None,
            payment_completed_url=request.payment_completed_url or settings.default_success_url,
            payment_cancellation_url=(request.payment_cancellation_url or settings.default_cancellation_url),
            customer_email=request.customer_email,
            metadata=request.metadata,
            user_bank_code=request.user_bank_code,
            user_rut=request.user_rut,
            is_rut_block=request.is_rut_block,
            target_flow=request.target_flow,
            customer_phone=request.customer_phone,
        )
        try:
            return client.initialize_session(etpay_request)
        except EtpayTimeout as error:
            _count(obs.ETPAY_TIMEOUT)
            logger.error("ETpay session creation timed out", extra={"problem": str(error)})
            raise EtpayTimedOut("ETpay did not answer in time; retry the request") from None
        except (EtpayUnavailable, EtpayResponseError) as error:
            _count(obs.ETPAY_ERROR)
            logger.error(
                "ETpay session creation failed",
                extra={"problem": str(error), "etpay_status": getattr(error, "status", None)},
            )
            raise EtpayFailed("ETpay could not create the payment session; retry the request") from None

    # -- GET /orders/{id} ----------------------------------------------------------------------
    def get_order(self, merchant_order_id: str) -> Order:
        order = self._repository.get_order(merchant_order_id)
        if order is None:
            raise OrderNotFound(f"no order {merchant_order_id}")
        return order

    # -- the review queue: GET /reviews, POST /orders/{id}/review, the overdue count -------------------
    def review_queue(self, after: dict[int, QueuePosition], limit: int) -> QueuePage:
        """A page of the orders with an open review, oldest first, from `after` (the positions a
        previous page's cursor held; empty: from the start). Every shard is read in parallel, each
        for `limit` + 1 entries: enough to fill the page from any one shard and to know if more follow."""

        def read(shard: int) -> ShardPage:
            entries, truncated = self._repository.open_reviews(shard, after.get(shard), limit + 1)
            return ShardPage(entries, truncated)

        with ThreadPoolExecutor(max_workers=REVIEW_QUERY_THREADS) as pool:
            pages = dict(zip(range(REVIEW_SHARDS), pool.map(read, range(REVIEW_SHARDS)), strict=True))
        return merge_pages(pages, after, limit)

    @staticmethod
    def review_shard_of(merchant_order_id: str) -> int:
        return review_shard_index(merchant_order_id)

    def resolve_review(self, merchant_order_id: str, resolution: Resolution, note: str, resolved_by: str) -> Order:
        """Record the operator's resolution of the order's open review: the order leaves the queue
        and `review.required` becomes false; its money state is not touched. A lost race (a reason
        raised, or another resolution recorded, since the read) is decided again: of two
        resolutions at once exactly one is recorded, and the other gets no_open_review."""
        for _ in range(MAX_DECISION_ATTEMPTS):
            order = self.get_order(merchant_order_id)
            now = self._clock()
            decision = decide_resolution(order, resolution, resolved_by, note, iso_utc(now))
            if isinstance(decision, Refuse):
                raise decision.error
            try:
                self._repository.resolve_review(order, decision, now)
            except ConcurrentUpdate:
                logger.info("review resolution lost a race; deciding again")
                continue
            resolved = decision.reviews[-1]
            _count(obs.REVIEW_RESOLVED)
            # The note is the operator's free text: it stays out of the log.
            logger.info(
                "review resolved",
                extra={
                    "review_number": resolved.number,
                    "resolution": resolution.value,
                    "review_reasons": sorted(reason.value for reason in resolved.reason_set),
                    "resolved_by": resolved_by,
                    "order_status": order.status.value,
                },
            )
            return replace(order, review_reasons=frozenset(), reviews=decision.reviews, updated_at=iso_utc(now))
        raise StorageUnavailable("the order is busy; retry the request")

    def overdue_reviews(self) -> int:
        """How many open reviews were opened more than REVIEW_OVERDUE_SECONDS ago."""
        before = self._clock() - timedelta(seconds=REVIEW_OVERDUE_SECONDS)
        with ThreadPoolExecutor(max_workers=REVIEW_QUERY_THREADS) as pool:
            counts = pool.map(
                lambda shard: self._repository.count_reviews_opened_before(shard, before), range(REVIEW_SHARDS)
            )
            return sum(counts)

    # -- POST /notifications -------------------------------------------------------------------
    def authenticate_notification(self, presented_key: str | None) -> None:
        """The notification URL's key, checked before anything is read: a wrong or missing key gets
        the same refusal as a bad signature."""
        if not self._notification_keys.accepts(presented_key):
            raise self._rejected("wrong or missing notification key")

    def apply_notification(self, token: str) -> NotificationResult:
        try:
            keys = read_lookup_keys(token)
        except InvalidNotification as error:
            raise self._rejected(error.reason) from None
        found = self._repository.get_order_and_session(keys.merchant_order_id, keys.session_token)
        if found is None:
            raise self._rejected("unknown session")
        order, session = found
        try:
            notification = verify_notification(token, session.signature_token)
        except InvalidNotification as error:
            raise self._rejected(error.reason) from None

        logger.append_keys(merchant_order_id=session.merchant_order_id)
        return self._apply_verified(order, session, notification)

    def _apply_verified(self, order: Order, session: PaymentSession, notification: Notification) -> NotificationResult:
        """Apply a trusted payment result (a verified JWT, or ETpay's own status API answer) to
        order and session as read together."""
        for _ in range(MAX_DECISION_ATTEMPTS):
            decision = decide_notification(order, session, notification)
            try:
                self._apply(decision, order, session, notification)
            except ConcurrentUpdate:
                # Lost a race: decide again on what won.
                logger.info("payment result lost a race; deciding again")
                found = self._repository.get_order_and_session(order.merchant_order_id, session.session_token)
                if found is None:
                    raise self._rejected("session without order") from None
                order, session = found
                continue
            return NotificationResult(order.merchant_order_id, decision.action)
        # Still contended after several fresh decisions: let the sender try again later.
        raise StorageUnavailable("the order is busy; deliver the notification again")

    # -- status checks: the sweep hands due checks to workers ---------------------------------------
    def sweep(self, dispatch: Callable[[list[CheckTask]], None], has_time: Callable[[], bool]) -> SweepReport:
        """Hand every status check that is due to the workers (`dispatch`, a page at a time), each
        index shard read in parallel: the work handed out grows with the backlog, not a fixed
        batch. Each check is leased first (its next one scheduled), so no other sweep hands it out
        again while a worker has it. Nothing is handed out while ETpay asks us to slow down."""
        now = self._clock()
        report = SweepReport()
        until = self._repository.etpay_backoff_until()
        if until is not None and until > now:
            report.backing_off = True
            logger.warning("ETpay asked to slow down; no checks handed out", extra={"until": until.isoformat()})
            return report
        report.adopted = self._adopt_legacy(now)
        with ThreadPoolExecutor(max_workers=SWEEP_THREADS) as pool:
            shards = list(pool.map(lambda shard: self._sweep_shard(shard, now, dispatch, has_time), all_shards()))
        for shard in shards:
            report.handed_out += shard.handed_out
            report.lost_leases += shard.lost_leases
            report.stuck += shard.stuck
            report.out_of_time |= shard.out_of_time
        return report

    def _sweep_shard(
        self, shard: str, now: datetime, dispatch: Callable[[list[CheckTask]], None], has_time: Callable[[], bool]
    ) -> SweepReport:
        report = SweepReport()
        stuck_before = now - timedelta(seconds=STUCK_AFTER_EXPIRY_SECONDS)
        start = None
        while True:
            if not has_time():
                report.out_of_time = True
                return report
            due, start = self._repository.due_checks(shard, now, SWEEP_PAGE_SIZE, start)
            tasks = []
            for check in due:
                if check.expires_at < stuck_before:
                    report.stuck += 1
                if self._repository.lease_check(check, self._following_check(check, now)):
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

    def _adopt_legacy(self, now: datetime) -> int:
        """Move orders stored before sessions expired to the check index: each session gets the
        lifetime it would have had, and its first check is due now."""
        adopted = 0
        for merchant_order_id in self._repository.legacy_pending(LEGACY_MIGRATION_BATCH):
            found = self._repository.get_order_and_session(merchant_order_id)
            if found is None or found[1].status is not Status.PENDING:
                self._repository.forget_legacy(merchant_order_id)
                continue
            order, session = found
            self._repository.adopt_legacy(order, session, parse_iso(session.created_at) + self._lifetime, now)
            adopted += 1
        return adopted

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
        found = self._repository.get_order_and_session(task.merchant_order_id, task.session_token)
        if found is None:
            return CheckOutcome.ENDED
        order, session = found
        if session.status is not Status.PENDING:
            if order.check_session == session.session_token:
                self._repository.clear_check(order.merchant_order_id, session.session_token)
            return CheckOutcome.ENDED
        logger.append_keys(merchant_order_id=order.merchant_order_id)
        try:
            records = self._etpay_client().check_payment_status(session_token=session.session_token)
        except EtpayRateLimited as error:
            wait = min(error.retry_after or ETPAY_BACKOFF_SECONDS, ETPAY_MAX_BACKOFF_SECONDS)
            until = now + timedelta(seconds=wait)
            logger.warning("ETpay asked to slow down", extra={"etpay_status": error.status, "wait_seconds": wait})
            _count(obs.ETPAY_RATE_LIMITED)
            self._repository.extend_etpay_backoff(until)
            self._backoff = (until, now)
            self._defer(task, until)
            return CheckOutcome.DEFERRED
        except EtpayError as error:
            # Its next check is already scheduled (the sweep leased it with the one after).
            _count(obs.RECONCILE_ERRORS)
            logger.warning("ETpay status check failed", extra={"problem": str(error)})
            return CheckOutcome.ERROR
        return self._apply_check(order, session, self._status_result(session, records))

    def _apply_check(self, order: Order, session: PaymentSession, result: Notification | None) -> CheckOutcome:
        for _ in range(MAX_DECISION_ATTEMPTS):
            now = self._clock()
            decision = decide_status_check(order, session, result, now)
            if decision.action is CheckAction.ENDED:
                return CheckOutcome.ENDED
            if decision.action is CheckAction.WAIT:
                return CheckOutcome.WAITING
            if decision.action is CheckAction.APPLY and result is not None:
                action = self._apply_verified(order, session, result).action
                return OUTCOME_OF_ACTION[action]
            try:
                self._repository.expire(order, session, now, decision.expire_order)
            except ConcurrentUpdate:
                logger.info("expiry lost a race; deciding again")
                found = self._repository.get_order_and_session(order.merchant_order_id, session.session_token)
                if found is None:
                    return CheckOutcome.ENDED
                order, session = found
                continue
            _count(obs.SESSION_EXPIRED)
            logger.info(
                "payment session expired",
                extra={"order_status": (Status.EXPIRED if decision.expire_order else order.status).value},
            )
            return CheckOutcome.EXPIRED
        raise StorageUnavailable("the order is busy; check it again")

    def _etpay_backoff_until(self, now: datetime) -> datetime | None:
        """The shared "slow down" of ETpay, read at most every BACKOFF_CACHE_SECONDS."""
        if self._backoff is None or now - self._backoff[1] >= timedelta(seconds=BACKOFF_CACHE_SECONDS):
            self._backoff = (self._repository.etpay_backoff_until(), now)
        return self._backoff[0]

    def _defer(self, task: CheckTask, until: datetime) -> None:
        # Spread over a few seconds, so the held-back checks do not all ask again at once.
        at = until + timedelta(seconds=random.uniform(0, BACKOFF_CACHE_SECONDS))  # noqa: S311 - jitter, not a secret
        self._repository.reschedule_check(task.merchant_order_id, task.session_token, at)

    @staticmethod
    def _status_result(session: PaymentSession, records: list[dict]) -> Notification | None:
        """The decisive record of ETpay's answer for this session: paid beats failed beats unknown."""
        results = []
        for record in records:
            try:
                result = payment_from_record(record, session_token=session.session_token)
            except InvalidNotification:
                continue
            if result.session_token == session.session_token:
                results.append(result)
        for outcome in (PaymentOutcome.PAID, PaymentOutcome.FAILED, PaymentOutcome.UNKNOWN):
            for result in results:
                if result.outcome is outcome:
                    return result
        return None

    def _apply(self, decision, order: Order, session: PaymentSession, notification) -> None:
        action = decision.action
        now = self._clock()
        if action is NotificationAction.MARK_PAID:
            self._repository.mark_paid(order, session, notification.payment_token, now)
            _count(obs.ORDER_PAID)
            logger.info("order paid", extra={"order_status": Status.PAID.value})
        elif action is NotificationAction.RECORD_DOUBLE_PAYMENT:
            self._repository.record_double_payment(
                order, session, notification.payment_token, decision.reasons - order.review_reasons, now
            )
            if decision.reasons - order.review_reasons:
                _count(obs.ORDER_FLAGGED_FOR_REVIEW)
            for reason in decision.reasons:
                _count(REVIEW_METRICS[reason])
            logger.error(
                "session paid for an order already paid through another session",
                extra={"review_reasons": sorted(reason.value for reason in decision.reasons), "order_status": "PAID"},
            )
        elif action is NotificationAction.MARK_FAILED:
            self._repository.mark_failed(order, session, notification.payment_token, now, decision.fail_order)
            _count(obs.SESSION_FAILED)
            # order_status is, in every log line, the order's status after the change.
            order_status = Status.FAILED if decision.fail_order else order.status
            logger.info(
                "payment session failed",
                extra={"order_failed": decision.fail_order, "order_status": order_status.value},
            )
        elif action is NotificationAction.RECORD_UNKNOWN:
            self._repository.record_unknown_status(session, describe_payment_status(notification.payment_status), now)
            _count(obs.NOTIFICATION_UNKNOWN_STATUS)
            logger.warning(
                "notification with an unknown payment_status kept for checking",
                extra={"payment_status": describe_payment_status(notification.payment_status)},
            )
        elif action is NotificationAction.FLAG_FOR_REVIEW:
            new_reasons = decision.reasons - order.review_reasons
            if new_reasons:
                self._repository.flag_for_review(order, session, new_reasons, now)
                _count(obs.ORDER_FLAGGED_FOR_REVIEW)
            for reason in decision.reasons:
                _count(REVIEW_METRICS[reason])
            logger.error(
                "order flagged for review",
                extra={
                    "review_reasons": sorted(reason.value for reason in decision.reasons),
                    "order_status": order.status.value,
                    "session_status": session.status.value,
                },
            )
        elif action is NotificationAction.ALREADY_APPLIED:
            _count(obs.NOTIFICATION_DUPLICATE)
            logger.info("notification already applied")

    @staticmethod
    def _rejected(reason: str) -> NotificationRejected:
        _count(obs.NOTIFICATION_REJECTED)
        logger.warning("notification rejected", extra={"reason": reason})
        return NotificationRejected(reason)

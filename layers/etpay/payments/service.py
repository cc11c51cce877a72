"""The payments use cases: open (or reuse) an ETpay session for an order, read an order, and apply
ETpay's notifications. Knows nothing of API Gateway; speaks to ETpay and DynamoDB only through
`etpay` and `payments.repository`."""

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from aws_lambda_powertools.metrics import MetricUnit

from etpay import (
    EtpayClient,
    EtpayError,
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
from payments.clock import Clock, iso_utc, utc_now
from payments.errors import (
    ConcurrentUpdate,
    EtpayFailed,
    EtpayTimedOut,
    NotificationRejected,
    OrderNotFound,
    StorageUnavailable,
)
from payments.model import (
    ClaimNext,
    NotificationAction,
    Order,
    PaymentSession,
    Refuse,
    Reuse,
    ReviewReason,
    Status,
    StoredOrder,
    decide_notification,
    decide_session_request,
    opened_session,
    request_in_progress,
)
from payments.notification_keys import NotificationKeys, with_key
from payments.repository import OrderRepository
from payments.settings import (
    MAX_DECISION_ATTEMPTS,
    MAX_SESSIONS_PER_ORDER,
    SESSION_STORE_RESERVE_SECONDS,
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


@dataclass
class ReconcileReport:
    checked: int = 0
    paid: int = 0
    failed: int = 0
    still_pending: int = 0
    flagged: int = 0
    errors: int = 0
    deferred: int = 0

    def record(self, action: NotificationAction | None) -> None:
        """`None`: ETpay has no result for the session yet."""
        if action is None or action is NotificationAction.RECORD_UNKNOWN:
            self.still_pending += 1
        elif action is NotificationAction.MARK_PAID:
            self.paid += 1
        elif action is NotificationAction.MARK_FAILED:
            self.failed += 1
        elif action is NotificationAction.FLAG_FOR_REVIEW:
            self.flagged += 1


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
            now=iso_utc(self._clock()),
        )
        try:
            self._repository.open_session(
                new_order, session, claim_id, replaces=previous.session_token if previous else None
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
            decision = decide_session_request(stored, amount, now, MAX_SESSIONS_PER_ORDER)
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
        match decide_session_request(stored, request.order_amount, self._clock(), MAX_SESSIONS_PER_ORDER):
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

    # -- scheduled reconciliation ------------------------------------------------------------------
    def reconcile(self, older_than_seconds: int, limit: int, has_time: Callable[[], bool]) -> "ReconcileReport":
        """Ask ETpay about sessions still PENDING after `older_than_seconds` (at most `limit` per
        run) and apply its answers through the same conditional transitions as notifications."""
        cutoff = self._clock() - timedelta(seconds=older_than_seconds)
        report = ReconcileReport()
        order_ids = self._repository.pending_orders(cutoff, limit)
        if not order_ids:
            return report
        client = self._etpay_client()
        for merchant_order_id in order_ids:
            if not has_time():
                report.deferred += 1
                continue
            found = self._repository.get_order_and_session(merchant_order_id)
            if found is None or found[1].status is not Status.PENDING:
                continue  # settled since the index was read
            order, session = found
            report.checked += 1
            try:
                records = client.check_payment_status(session_token=session.session_token)
            except EtpayError as error:
                report.errors += 1
                logger.warning("ETpay status check failed", extra={"problem": str(error)})
                if isinstance(error, EtpayTimeout):
                    break  # ETpay is slow: leave the rest for the next run
                continue
            result = self._status_result(session, records)
            action = self._apply_verified(order, session, result).action if result is not None else None
            report.record(action)
            if action not in (NotificationAction.MARK_PAID, NotificationAction.MARK_FAILED):
                # Still PENDING: to the back of the queue, so sessions a payer abandoned (ETpay
                # publishes no expiry) cannot fill every batch and starve newer ones.
                self._repository.requeue_pending(session, self._clock())
        return report

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

"""Carrying out what a trusted payment result means for an order: a notification verified with its
session's key, or ETpay's own status API answer. `decide_notification` decides; this writes the
decision as one conditional write, and decides again on fresh state when a race was lost, so a
result delivered twice, or by a notification and a status check at once, settles once.
"""

from collections.abc import Callable
from dataclasses import dataclass

from etpay.records import Notification, describe_payment_status
from payments.app import telemetry
from payments.app.ports import OrderStore
from payments.app.telemetry import logger
from payments.domain.clock import Clock, iso_utc, utc_now
from payments.domain.errors import ConcurrentUpdate, OrderBusy, PaymentsError
from payments.domain.notifications import NotificationAction, NotificationDecision, decide_notification
from payments.domain.orders import Order, PaymentSession, ReviewReason, Status
from payments.domain.policy import MAX_DECISION_ATTEMPTS
from payments.domain.reviews import raise_review

REVIEW_METRICS = {
    ReviewReason.NOTIFICATION_MISMATCH: telemetry.NOTIFICATION_MISMATCH,
    ReviewReason.PAID_AFTER_FAILED: telemetry.PAID_AFTER_FAILED,
    ReviewReason.POSSIBLE_DOUBLE_PAYMENT: telemetry.POSSIBLE_DOUBLE_PAYMENT,
    ReviewReason.FAILED_AFTER_PAID: telemetry.FAILED_AFTER_PAID,
}


@dataclass(frozen=True)
class SettlementResult:
    """What applying a notification did to its order."""

    merchant_order_id: str
    action: NotificationAction


class Settlement:
    def __init__(self, orders: OrderStore, gone: Callable[[], PaymentsError], clock: Clock = utc_now):
        self._orders = orders
        # What to answer when the order vanished between a lost race and its re-read.
        self._gone = gone
        self._clock = clock

    def apply(self, order: Order, session: PaymentSession, result: Notification) -> SettlementResult:
        """Apply a trusted payment result to order and session as read together."""
        for _ in range(MAX_DECISION_ATTEMPTS):
            decision = decide_notification(order, session, result)
            try:
                self._carry_out(decision, order, session, result)
            except ConcurrentUpdate:
                # Lost a race: decide again on what won.
                logger.info("payment result lost a race; deciding again")
                found = self._orders.get_order_and_session(order.merchant_order_id, session.session_token)
                if found is None:
                    raise self._gone() from None
                order, session = found
                continue
            return SettlementResult(order.merchant_order_id, decision.action)
        # Still contended after several fresh decisions: let the sender try again later.
        raise OrderBusy("the order is busy; deliver the notification again")

    def _carry_out(
        self, decision: NotificationDecision, order: Order, session: PaymentSession, result: Notification
    ) -> None:
        action = decision.action
        now = self._clock()
        # Reasons the order is not flagged for yet: only these change its review.
        new_reasons = decision.reasons - order.review_reasons
        review = raise_review(order, new_reasons, iso_utc(now)) if new_reasons else None
        if action is NotificationAction.MARK_PAID:
            self._orders.mark_paid(order, session, result.payment_token, now)
            telemetry.count(telemetry.ORDER_PAID)
            logger.info("order paid", extra={"order_status": Status.PAID.value})
        elif action is NotificationAction.RECORD_DOUBLE_PAYMENT:
            self._orders.record_double_payment(order, session, result.payment_token, review, now)
            self._count_review(decision, flagged=review is not None)
            logger.error(
                "session paid for an order already paid through another session",
                extra={"review_reasons": _names(decision.reasons), "order_status": Status.PAID.value},
            )
        elif action is NotificationAction.MARK_FAILED:
            self._orders.mark_failed(order, session, result.payment_token, now, decision.fail_order)
            telemetry.count(telemetry.SESSION_FAILED)
            # order_status is, in every log line, the order's status after the change.
            order_status = Status.FAILED if decision.fail_order else order.status
            logger.info(
                "payment session failed",
                extra={"order_failed": decision.fail_order, "order_status": order_status.value},
            )
        elif action is NotificationAction.RECORD_UNKNOWN:
            reported = describe_payment_status(result.payment_status)
            self._orders.record_unknown_status(session, reported, now)
            telemetry.count(telemetry.NOTIFICATION_UNKNOWN_STATUS)
            logger.warning(
                "notification with an unknown payment_status kept for checking", extra={"payment_status": reported}
            )
        elif action is NotificationAction.FLAG_FOR_REVIEW:
            if review is not None:
                self._orders.flag_for_review(order, session, review, now)
            self._count_review(decision, flagged=review is not None)
            logger.error(
                "order flagged for review",
                extra={
                    "review_reasons": _names(decision.reasons),
                    "order_status": order.status.value,
                    "session_status": session.status.value,
                },
            )
        elif action is NotificationAction.ALREADY_APPLIED:
            telemetry.count(telemetry.NOTIFICATION_DUPLICATE)
            logger.info("notification already applied")

    @staticmethod
    def _count_review(decision: NotificationDecision, flagged: bool) -> None:
        if flagged:
            telemetry.count(telemetry.ORDER_FLAGGED_FOR_REVIEW)
        for reason in decision.reasons:
            telemetry.count(REVIEW_METRICS[reason])


def _names(reasons: frozenset[ReviewReason]) -> list[str]:
    return sorted(reason.value for reason in reasons)

"""What a trusted payment result does to an order: `decide_notification`, every rule as one pure
function from (stored order and session, verified claims) to an action, which the use case then
carries out as one conditional write. A result is trusted when it is a notification JWT verified
with its session's key, or ETpay's own status API answer. Pure: no I/O.
"""

import enum
from dataclasses import dataclass

from etpay.records import Notification, PaymentOutcome
from payments.domain.orders import Order, PaymentSession, ReviewReason, Status


class NotificationAction(enum.Enum):
    # The session, and the order with it (the order's current session becomes this one).
    MARK_PAID = "mark_paid"
    # The session is paid, but the order already was, through another session: the order keeps
    # that payment and is flagged possible_double_payment (one of them is to be refunded).
    RECORD_DOUBLE_PAYMENT = "record_double_payment"
    MARK_FAILED = "mark_failed"  # the session, and the order if this is its current session
    RECORD_UNKNOWN = "record_unknown"  # no transition; kept for a status-API check
    ALREADY_APPLIED = "already_applied"  # a re-delivery: answer as the first time
    FLAG_FOR_REVIEW = "flag_for_review"  # keep the recorded state, tell a person
    IGNORE = "ignore"  # nothing to do (an unknown status for a session already final)


@dataclass(frozen=True)
class NotificationDecision:
    """What a verified notification does to its order and session."""

    action: NotificationAction
    reasons: frozenset[ReviewReason] = frozenset()
    # For MARK_FAILED: whether the order follows its session to FAILED.
    fail_order: bool = False


def matches_session(notification: Notification, session: PaymentSession) -> bool:
    """The verified claims must describe exactly the order this session was opened for."""
    return (
        notification.session_token == session.session_token
        and notification.merchant_order_id == session.merchant_order_id
        and notification.merchant_amount == session.order_amount
        and notification.merchant_currency in (None, session.currency)
    )


def decide_notification(order: Order, session: PaymentSession, notification: Notification) -> NotificationDecision:
    if not matches_session(notification, session):
        return NotificationDecision(NotificationAction.FLAG_FOR_REVIEW, frozenset({ReviewReason.NOTIFICATION_MISMATCH}))
    is_current = order.session_token == session.session_token
    outcome = notification.outcome

    if outcome is PaymentOutcome.UNKNOWN:
        if session.status.is_final:
            return NotificationDecision(NotificationAction.IGNORE)
        return NotificationDecision(NotificationAction.RECORD_UNKNOWN)

    if outcome is PaymentOutcome.PAID:
        if session.status is Status.PAID:
            return NotificationDecision(NotificationAction.ALREADY_APPLIED)
        if session.status is Status.FAILED:
            # ETpay contradicts its own earlier word: money may have moved against our record.
            # Keep the record; a person decides.
            reasons = {ReviewReason.PAID_AFTER_FAILED}
            if order.status is Status.PAID:
                reasons.add(ReviewReason.POSSIBLE_DOUBLE_PAYMENT)
            return NotificationDecision(NotificationAction.FLAG_FOR_REVIEW, frozenset(reasons))
        # PENDING, or EXPIRED (our decision, not ETpay's): the money is real.
        if order.status is Status.PAID:
            return NotificationDecision(
                NotificationAction.RECORD_DOUBLE_PAYMENT, frozenset({ReviewReason.POSSIBLE_DOUBLE_PAYMENT})
            )
        return NotificationDecision(NotificationAction.MARK_PAID)

    # PaymentOutcome.FAILED
    if session.status in (Status.FAILED, Status.EXPIRED):
        # Already ended unpaid: ETpay confirms what the order already shows.
        return NotificationDecision(NotificationAction.ALREADY_APPLIED)
    if session.status is Status.PAID:
        return NotificationDecision(NotificationAction.FLAG_FOR_REVIEW, frozenset({ReviewReason.FAILED_AFTER_PAID}))
    return NotificationDecision(
        NotificationAction.MARK_FAILED,
        fail_order=is_current and order.status is Status.PENDING,
    )

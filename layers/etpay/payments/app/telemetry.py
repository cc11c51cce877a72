"""The use cases' logger and metrics. Metric names are the alarms' and the dashboard's contract:
keep them stable.

Log lines carry ids, states and reasons, never a secret, a token or payer data: each use case says
what it logs, and the tests read every line.
"""

import threading

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(child=True)
metrics = Metrics()
# Powertools' metric set is not guarded for threads, and webhooks of a batch (and the sweep's
# shards) are handled from threads.
_metrics_lock = threading.Lock()


def count(name: str, value: int = 1) -> None:
    """Add `value` to the count metric `name` of this invocation."""
    with _metrics_lock:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


SESSION_CREATED = "SessionCreated"
SESSION_REUSED = "SessionReused"
ORDER_PAID = "OrderPaid"
SESSION_FAILED = "SessionFailed"
NOTIFICATION_REJECTED = "NotificationRejected"
NOTIFICATION_DUPLICATE = "NotificationDuplicate"
NOTIFICATION_UNKNOWN_STATUS = "NotificationUnknownStatus"
NOTIFICATION_MISMATCH = "NotificationMismatch"
PAID_AFTER_FAILED = "PaidAfterFailed"
POSSIBLE_DOUBLE_PAYMENT = "PossibleDoublePayment"
FAILED_AFTER_PAID = "FailedAfterPaid"
ORDER_FLAGGED_FOR_REVIEW = "OrderFlaggedForReview"
REVIEW_RESOLVED = "ReviewResolved"
# Open reviews older than REVIEW_OVERDUE_SECONDS, counted by every sweep: the OverdueReviewsAlarm.
OVERDUE_REVIEWS = "OverdueReviews"
ETPAY_ERROR = "EtpayError"
ETPAY_TIMEOUT = "EtpayTimeout"
STUCK_PENDING_SESSIONS = "StuckPendingSessions"
SESSION_EXPIRED = "SessionExpired"
ETPAY_RATE_LIMITED = "EtpayRateLimited"
CHECKS_HANDED_OUT = "StatusChecksHandedOut"
RECONCILE_ERRORS = "ReconcileErrors"
# Events and webhooks to the merchant.
EVENT_PUBLISHED = "EventPublished"
WEBHOOK_DELIVERED = "WebhookDelivered"
WEBHOOK_ATTEMPT_FAILED = "WebhookAttemptFailed"
WEBHOOK_DEAD_LETTERED = "WebhookDeadLettered"

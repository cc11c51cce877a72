"""Logger and metrics shared by the domain. Metric names are the alarms' contract: keep them stable."""

from aws_lambda_powertools import Logger, Metrics

logger = Logger(child=True)
metrics = Metrics()

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

"""The domain's failures. Each has a stable machine-readable `code`; HTTP status is mapped once,
in `payments.api.http`. Messages are safe to show a caller: no secrets, tokens or payer data."""

from typing import Any


class PaymentsError(Exception):
    code = "internal_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ValidationFailed(PaymentsError):
    code = "validation_error"

    def __init__(self, fields: dict[str, str], message: str = "the request is invalid"):
        super().__init__(message)
        self.fields = fields


class OrderAmountMismatch(PaymentsError):
    code = "order_amount_mismatch"


class OrderCurrencyMismatch(PaymentsError):
    """The order was created in another currency than the stack's (it was redeployed for the other
    ETpay market): an MXN order and a CLP order never mix."""

    code = "order_currency_mismatch"


class OrderAlreadyPaid(PaymentsError):
    code = "order_already_paid"


class RequestInProgress(PaymentsError):
    code = "request_in_progress"


class SessionLimitReached(PaymentsError):
    code = "session_limit_reached"


class NoOpenReview(PaymentsError):
    """POST /orders/{id}/review for an order with nothing to resolve (never flagged, or already
    resolved: of two resolutions at once, exactly one is recorded)."""

    code = "no_open_review"


class OrderNotFound(PaymentsError):
    code = "not_found"


class NotificationRejected(PaymentsError):
    """Every untrustworthy notification gets this one error, whatever the reason, so an attacker
    learns nothing from the reply. The reason goes to the log only."""

    code = "invalid_notification"

    def __init__(self, reason: str):
        super().__init__("the notification could not be verified")
        self.reason = reason


class EtpayFailed(PaymentsError):
    code = "etpay_error"


class EtpayTimedOut(PaymentsError):
    code = "etpay_timeout"


class ConfigurationUnavailable(PaymentsError):
    code = "configuration_unavailable"


class StorageUnavailable(PaymentsError):
    """DynamoDB throttled or failed past its retries, or AWS was so slow that ETpay was not asked:
    nothing was half-written and the same call can be retried."""

    code = "storage_unavailable"


class OrderBusy(PaymentsError):
    """Other requests kept changing the order while this one decided (every fresh decision lost its
    conditional write): nothing was written and the same call can be retried in a moment."""

    code = "order_busy"


class ConcurrentUpdate(Exception):
    """A conditional write lost a race. Internal: the use case re-reads and decides again.
    `item` is the stored item as the refused write found it, when DynamoDB returned it."""

    def __init__(self, item: dict[str, Any] | None = None):
        super().__init__("a conditional write was refused")
        self.item = item or {}


class EventNotFound(PaymentsError):
    code = "not_found"


class RedeliveryTooSoon(PaymentsError):
    """POST /events/{id}/redeliver again within the cooldown of the last accepted request."""

    code = "redelivery_too_soon"

    def __init__(self, message: str, retry_after_seconds: int):
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class WebhooksDisabled(PaymentsError):
    """The stack was deployed without MerchantWebhookUrl: there is nothing to deliver to."""

    code = "webhooks_disabled"


class PublishFailed(StorageUnavailable):
    """EventBridge or SQS refused or failed a call: nothing was marked as sent, so a retry sends it."""

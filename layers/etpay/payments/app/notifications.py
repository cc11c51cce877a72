"""POST /notifications: ETpay's payment notifications. The URL's key is checked before anything is
read; the JWT is verified with the key of the session it names, read from our own store; the
verified result is settled (payments.app.settlement). Every refusal looks the same to the sender:
what went wrong goes to the log only.
"""

from etpay.errors import InvalidNotification
from etpay.notification import read_notification, verify_notification
from payments.app import telemetry
from payments.app.ports import NotificationKeys, OrderStore
from payments.app.settlement import Settlement, SettlementResult
from payments.app.telemetry import logger
from payments.domain.clock import Clock, utc_now
from payments.domain.errors import NotificationRejected


def rejected(reason: str) -> NotificationRejected:
    telemetry.count(telemetry.NOTIFICATION_REJECTED)
    logger.warning("notification rejected", extra={"reason": reason})
    return NotificationRejected(reason)


class ReceiveNotification:
    def __init__(self, orders: OrderStore, notification_keys: NotificationKeys, clock: Clock = utc_now):
        self._orders = orders
        self._notification_keys = notification_keys
        self._settlement = Settlement(orders, gone=lambda: rejected("session without order"), clock=clock)

    def authenticate(self, presented_key: str | None) -> None:
        """The notification URL's key, checked before anything is read: a wrong or missing key gets
        the same refusal as a bad signature."""
        if not self._notification_keys.accepts(presented_key):
            raise rejected("wrong or missing notification key")

    def apply(self, token: str) -> SettlementResult:
        try:
            received = read_notification(token)
        except InvalidNotification as error:
            raise rejected(error.reason) from None
        found = self._orders.get_order_and_session(received.merchant_order_id, received.session_token, signature=True)
        if found is None:
            raise rejected("unknown session")
        order, session = found
        if session.signature_token is None:  # no key stored for it: nothing can verify it
            raise rejected("unknown session")
        try:
            notification = verify_notification(received, session.signature_token)
        except InvalidNotification as error:
            raise rejected(error.reason) from None

        logger.append_keys(merchant_order_id=session.merchant_order_id)
        return self._settlement.apply(order, session, notification)

"""Builds the service once per Lambda execution environment, so warm invocations reuse the
DynamoDB client, the ETpay connection pool and the cached secret."""

import functools
from collections.abc import Callable

from etpay import EtpayClient
from payments import check_queue, secret_store
from payments.clock import Clock, utc_now
from payments.notification_keys import NotificationKeys
from payments.repository import OrderRepository
from payments.service import PaymentsService
from payments.settings import get_settings


@functools.cache
def payments_service() -> PaymentsService:
    return build_payments_service()


def build_payments_service(
    clock: Clock = utc_now, etpay_client: Callable[[], EtpayClient] | None = None
) -> PaymentsService:
    """A service wired from the environment as the functions' is, with clients of its own: a
    second status-check worker, or one on another clock (tests)."""
    settings = get_settings()
    return PaymentsService(
        repository=OrderRepository(settings.table_name),
        settings=settings,
        etpay_client=etpay_client or (lambda: EtpayClient(secret_store.load_credentials(settings.etpay_secret_id))),
        notification_keys=NotificationKeys(settings.notification_key_secret_id, secret_store.store),
        clock=clock,
    )


def reset() -> None:
    """Forget everything built from the environment, cached secret included (tests change the
    environment between cases; a new Lambda execution environment starts like this)."""
    payments_service.cache_clear()
    get_settings.cache_clear()
    secret_store.secrets_client.cache_clear()
    check_queue.sqs_client.cache_clear()
    secret_store.store.forget()

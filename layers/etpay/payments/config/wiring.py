"""Each function's parts, built once per Lambda execution environment from the settings: warm
invocations reuse the AWS clients, the ETpay connection pool and the cached secrets. A function asks
for its own use case only, so it builds (and imports) nothing else.

The `make_*` builders take a clock and an ETpay client of their own: a second status-check worker,
or one on another clock (tests and benchmarks).
"""

import functools
from collections.abc import Callable
from datetime import timedelta

from etpay.client import TOTAL_TIMEOUT_SECONDS as ETPAY_TOTAL_TIMEOUT_SECONDS
from etpay.client import EtpayClient
from payments.adapters import secrets
from payments.adapters.aws import DYNAMODB_ATTEMPT_SECONDS
from payments.adapters.check_index import CheckIndex
from payments.adapters.event_bus import EventBus
from payments.adapters.event_store import EventStore
from payments.adapters.notification_keys import NotificationKeys
from payments.adapters.order_codec import order_snapshot
from payments.adapters.order_store import OrderStore
from payments.adapters.queues import CheckQueue, WebhookQueue
from payments.adapters.review_index import ReviewIndex
from payments.adapters.session_claims import SessionClaims
from payments.adapters.webhook_http import WebhookSender
from payments.adapters.webhook_keys import load_signing_keys
from payments.app.delivery import WebhookDelivery
from payments.app.event_queries import EventQueries
from payments.app.notifications import ReceiveNotification
from payments.app.ports import Etpay
from payments.app.publishing import EventPublisher
from payments.app.reconciliation import CheckSession, Sweep
from payments.app.reviews import Reviews
from payments.app.sessions import OpenSession, SessionTerms
from payments.config.settings import Settings, get_settings
from payments.domain.clock import Clock, utc_now


def etpay_client(settings: Settings) -> Callable[[], Etpay]:
    """ETpay's client on the credentials as Secrets Manager holds them now (cached by the store)."""
    return lambda: EtpayClient(secrets.load_credentials(settings.etpay_secret_id))


@functools.cache
def orders() -> OrderStore:
    return OrderStore(get_settings().require("table_name"))


@functools.cache
def notification_keys() -> NotificationKeys:
    return NotificationKeys(get_settings().notification_key_secret_id, secrets.store)


# -- POST /sessions, GET /orders/{id}, the review queue -------------------------------------------------
def make_open_session(clock: Clock = utc_now, etpay: Callable[[], Etpay] | None = None) -> OpenSession:
    settings = get_settings()
    terms = SessionTerms(
        currency=settings.currency,
        lifetime=timedelta(seconds=settings.session_lifetime_seconds),
        first_check_after=timedelta(seconds=settings.reconcile_after_seconds),
        default_success_url=settings.default_success_url,
        default_cancellation_url=settings.default_cancellation_url,
        time_needed_seconds=ETPAY_TOTAL_TIMEOUT_SECONDS + DYNAMODB_ATTEMPT_SECONDS,
    )
    claims = SessionClaims(settings.require("table_name"))
    return OpenSession(orders(), claims, terms, etpay or etpay_client(settings), notification_keys(), clock)


@functools.cache
def open_session() -> OpenSession:
    return make_open_session()


def make_reviews(clock: Clock = utc_now) -> Reviews:
    return Reviews(orders(), ReviewIndex(get_settings().require("table_name")), clock)


@functools.cache
def reviews() -> Reviews:
    return make_reviews()


# -- POST /notifications ---------------------------------------------------------------------------
@functools.cache
def receive_notification() -> ReceiveNotification:
    return ReceiveNotification(orders(), notification_keys())


# -- reconciliation --------------------------------------------------------------------------------
def make_sweep(clock: Clock = utc_now) -> Sweep:
    settings = get_settings()
    return Sweep(CheckIndex(settings.require("table_name")), timedelta(seconds=settings.reconcile_after_seconds), clock)


@functools.cache
def sweep() -> Sweep:
    return make_sweep()


@functools.cache
def check_queue() -> CheckQueue:
    return CheckQueue(get_settings().reconcile_queue_url)


def make_check_session(clock: Clock = utc_now, etpay: Callable[[], Etpay] | None = None) -> CheckSession:
    """A status-check worker with clients of its own."""
    settings = get_settings()
    table = settings.require("table_name")
    return CheckSession(OrderStore(table), CheckIndex(table), etpay or etpay_client(settings), clock)


@functools.cache
def check_session() -> CheckSession:
    return make_check_session()


# -- events and webhooks ---------------------------------------------------------------------------
def _webhook_queue(settings: Settings) -> WebhookQueue | None:
    """The webhook queue, or None when the stack has none (no MerchantWebhookUrl)."""
    return WebhookQueue(settings.webhook_queue_url) if settings.webhook_queue_url else None


@functools.cache
def event_publisher() -> EventPublisher:
    settings = get_settings()
    return EventPublisher(
        store=EventStore(settings.require("events_table")),
        bus=EventBus(settings.require("bus_name")),
        queue=_webhook_queue(settings),
        read_image=order_snapshot,
    )


@functools.cache
def webhook_delivery() -> WebhookDelivery:
    settings = get_settings()
    events_table = settings.require("events_table")
    url, queue_url, secret_id = (
        settings.require(name) for name in ("webhook_url", "webhook_queue_url", "webhook_secret_id")
    )
    return WebhookDelivery(
        store=EventStore(events_table),
        url=url,
        keys=lambda: load_signing_keys(secret_id),
        sender=WebhookSender(),
        queue=WebhookQueue(queue_url),
    )


@functools.cache
def event_queries() -> EventQueries:
    settings = get_settings()
    return EventQueries(
        store=EventStore(settings.require("events_table")),
        orders=orders(),
        queue=_webhook_queue(settings),
    )


def reset() -> None:
    """Forget everything built from the environment, cached secrets included (tests change the
    environment between cases; a new Lambda execution environment starts like this)."""
    for built in (
        orders,
        notification_keys,
        open_session,
        reviews,
        receive_notification,
        sweep,
        check_queue,
        check_session,
        event_publisher,
        webhook_delivery,
        event_queries,
        get_settings,
        secrets.secrets_client,
    ):
        built.cache_clear()
    secrets.store.forget()

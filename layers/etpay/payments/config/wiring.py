"""Each function's parts, built once per Lambda execution environment from the settings: warm
invocations reuse the AWS clients, the ETpay connection pool and the cached secrets.

A function asks for its own use case only, and each builder imports what that use case needs
inside it: a function loads none of the others' code (the notifications function no events, the
event functions no ETpay). A function builds its parts while Lambda initialises it (`prepare`, at
import), where the work costs the first request nothing; a setting it lacks is answered at the
request instead (ConfigurationUnavailable, a 503 or a retried batch), never a failed start.

The `make_*` builders take a clock and an ETpay client of their own: a second status-check worker,
or one on another clock (tests and benchmarks).
"""

import functools
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from payments.adapters import aws, secrets
from payments.config import collector
from payments.config.settings import Settings, get_settings
from payments.domain.clock import Clock, utc_now
from payments.domain.errors import PaymentsError

if TYPE_CHECKING:
    from payments.adapters.event_store import EventStore
    from payments.adapters.notification_keys import NotificationKeys
    from payments.adapters.order_store import OrderStore
    from payments.adapters.queues import CheckQueue, WebhookQueue
    from payments.app.delivery import WebhookDelivery
    from payments.app.event_queries import EventQueries
    from payments.app.notifications import ReceiveNotification
    from payments.app.ports import Etpay
    from payments.app.publishing import EventPublisher
    from payments.app.reconciliation import CheckSession, Sweep
    from payments.app.reviews import Reviews
    from payments.app.sessions import OpenSession


@dataclass(frozen=True)
class Startup:
    """What a function does before its first request: build its parts and, in Lambda, read its
    secrets ahead (one short attempt each: the request reads again what failed).

    With SnapStart, Lambda initialises the function once, snapshots its memory, and starts every
    execution environment from that snapshot. What is worth snapshotting is the imports and the
    parts built (botocore's service models loaded); what must never come from it is a secret, an
    open connection, AWS credentials or the state of a random generator, which every environment
    restored from the same snapshot would share. So before the snapshot the secrets are dropped and
    the parts built again without connections or secrets; after each restore they are dropped
    again, the clients built with fresh credentials, the secrets read, and `random` seeded anew."""

    builders: tuple[Callable[[], Any], ...]
    secrets_ahead: Callable[[Settings], None] | None = None

    def run(self, read_secrets: bool = True) -> None:
        try:
            for build in self.builders:
                build()
            if read_secrets and self.secrets_ahead is not None and in_lambda():
                self.secrets_ahead(get_settings())
        except PaymentsError:
            pass  # a setting missing or wrong: the first request answers it, with its own error

    def before_snapshot(self) -> None:
        forget_process_state()
        self.run(read_secrets=False)

    def after_restore(self) -> None:
        # Seeded from the operating system: no two restored environments draw the same jitter.
        random.seed()
        forget_process_state()
        self.run()


def prepare(*builders: Callable[[], Any], secrets_ahead: Callable[[Settings], None] | None = None) -> Startup:
    """Build a function's parts now, while Lambda initialises it (see Startup), register the
    SnapStart hooks where the runtime has them, and end initialisation (collector.resume)."""
    startup = Startup(builders, secrets_ahead)
    try:
        startup.run()
        try:
            from snapshot_restore_py import register_after_restore, register_before_snapshot
        except ImportError:  # a runtime without SnapStart's hooks: nothing is ever snapshotted
            return startup
        register_before_snapshot(startup.before_snapshot)
        register_after_restore(startup.after_restore)
        return startup
    finally:
        collector.resume()


def forget_process_state() -> None:
    """Everything a process keeps between requests: the parts built, the cached secrets, the AWS
    clients with their connections and credentials, ETpay's pooled connections."""
    from etpay.client import forget_connections

    reset()
    aws.forget_clients(credentials=True)
    forget_connections()


def in_lambda() -> bool:
    """In a Lambda execution environment (or the local stack's, which is set up as one)."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def etpay_client(settings: Settings) -> "Callable[[], Etpay]":
    """ETpay's client on the credentials as Secrets Manager holds them now (cached by the store)."""
    from etpay.client import EtpayClient

    return lambda: EtpayClient(secrets.load_credentials(settings.etpay_secret_id))


@functools.cache
def orders() -> "OrderStore":
    from payments.adapters.order_store import OrderStore

    return OrderStore(get_settings().require("table_name"))


@functools.cache
def notification_keys() -> "NotificationKeys":
    from payments.adapters.notification_keys import NotificationKeys

    return NotificationKeys(get_settings().notification_key_secret_id, secrets.store)


def etpay_secrets_ahead(settings: Settings) -> None:
    secrets.store.read_ahead(settings.etpay_secret_id, secrets.ETPAY_CREDENTIALS)


def notification_key_ahead(settings: Settings) -> None:
    secrets.read_ahead_together(
        (settings.notification_key_secret_id, secrets.NOTIFICATION_KEY, secrets.CURRENT),
        (settings.notification_key_secret_id, secrets.NOTIFICATION_KEY, secrets.PREVIOUS),
    )


# -- POST /sessions, GET /orders/{id}, the review queue -------------------------------------------------
def make_open_session(clock: Clock = utc_now, etpay: "Callable[[], Etpay] | None" = None) -> "OpenSession":
    from etpay.client import TOTAL_TIMEOUT_SECONDS as ETPAY_TOTAL_TIMEOUT_SECONDS
    from payments.adapters.session_claims import SessionClaims
    from payments.app.sessions import OpenSession, SessionTerms

    settings = get_settings()
    terms = SessionTerms(
        currency=settings.currency,
        lifetime=timedelta(seconds=settings.session_lifetime_seconds),
        first_check_after=timedelta(seconds=settings.reconcile_after_seconds),
        default_success_url=settings.default_success_url,
        default_cancellation_url=settings.default_cancellation_url,
        time_needed_seconds=ETPAY_TOTAL_TIMEOUT_SECONDS + aws.DYNAMODB_ATTEMPT_SECONDS,
    )
    claims = SessionClaims(settings.require("table_name"))
    return OpenSession(orders(), claims, terms, etpay or etpay_client(settings), notification_keys(), clock)


@functools.cache
def open_session() -> "OpenSession":
    return make_open_session()


def payments_secrets_ahead(settings: Settings) -> None:
    """ETpay's credentials and the notification key's current version, which the notification URL
    carries (the previous version only ever verifies, in the notifications function)."""
    secrets.read_ahead_together(
        (settings.etpay_secret_id, secrets.ETPAY_CREDENTIALS, secrets.CURRENT),
        (settings.notification_key_secret_id, secrets.NOTIFICATION_KEY, secrets.CURRENT),
    )


def make_reviews(clock: Clock = utc_now) -> "Reviews":
    from payments.adapters.review_index import ReviewIndex
    from payments.app.reviews import Reviews

    return Reviews(orders(), ReviewIndex(get_settings().require("table_name")), clock)


@functools.cache
def reviews() -> "Reviews":
    return make_reviews()


# -- POST /notifications ---------------------------------------------------------------------------
@functools.cache
def receive_notification() -> "ReceiveNotification":
    from payments.app.notifications import ReceiveNotification

    return ReceiveNotification(orders(), notification_keys())


# -- reconciliation --------------------------------------------------------------------------------
def make_sweep(clock: Clock = utc_now) -> "Sweep":
    from payments.adapters.check_index import CheckIndex
    from payments.app.reconciliation import Sweep

    settings = get_settings()
    return Sweep(CheckIndex(settings.require("table_name")), timedelta(seconds=settings.reconcile_after_seconds), clock)


@functools.cache
def sweep() -> "Sweep":
    return make_sweep()


@functools.cache
def check_queue() -> "CheckQueue":
    from payments.adapters.queues import CheckQueue

    return CheckQueue(get_settings().reconcile_queue_url)


def make_check_session(clock: Clock = utc_now, etpay: "Callable[[], Etpay] | None" = None) -> "CheckSession":
    """A status-check worker with stores of its own."""
    from payments.adapters.check_index import CheckIndex
    from payments.adapters.order_store import OrderStore
    from payments.app.reconciliation import CheckSession

    settings = get_settings()
    table = settings.require("table_name")
    return CheckSession(OrderStore(table), CheckIndex(table), etpay or etpay_client(settings), clock)


@functools.cache
def check_session() -> "CheckSession":
    return make_check_session()


# -- events and webhooks ---------------------------------------------------------------------------
def _webhook_queue(settings: Settings) -> "WebhookQueue | None":
    """The webhook queue, or None when the stack has none (no MerchantWebhookUrl)."""
    from payments.adapters.queues import WebhookQueue

    return WebhookQueue(settings.webhook_queue_url) if settings.webhook_queue_url else None


@functools.cache
def event_publisher() -> "EventPublisher":
    from payments.adapters.event_bus import EventBus
    from payments.adapters.order_history import order_snapshot
    from payments.app.publishing import EventPublisher

    settings = get_settings()
    return EventPublisher(
        store=event_store(settings),
        bus=EventBus(settings.require("bus_name")),
        queue=_webhook_queue(settings),
        read_image=order_snapshot,
        stack=settings.stack_id,
    )


@functools.cache
def webhook_delivery() -> "WebhookDelivery":
    from payments.adapters.queues import WebhookQueue
    from payments.adapters.webhook_http import WebhookSender
    from payments.adapters.webhook_keys import load_signing_keys
    from payments.app.delivery import WebhookDelivery

    settings = get_settings()
    store = event_store(settings)
    url, queue_url, secret_id = (
        settings.require(name) for name in ("webhook_url", "webhook_queue_url", "webhook_secret_id")
    )
    return WebhookDelivery(
        store=store,
        url=url,
        keys=lambda: load_signing_keys(secret_id),
        sender=WebhookSender(),
        queue=WebhookQueue(queue_url),
    )


def webhook_keys_ahead(settings: Settings) -> None:
    from payments.adapters.webhook_keys import read_signing_keys_ahead

    read_signing_keys_ahead(settings.webhook_secret_id)


@functools.cache
def event_queries() -> "EventQueries":
    from payments.adapters.order_history import OrderHistory
    from payments.app.event_queries import EventQueries

    settings = get_settings()
    return EventQueries(
        store=event_store(settings),
        orders=OrderHistory(settings.require("table_name")),
        queue=_webhook_queue(settings),
        stack=settings.stack_id,
    )


def event_store(settings: Settings) -> "EventStore":
    from payments.adapters.event_store import EventStore

    return EventStore(settings.require("events_table"), retention=timedelta(days=settings.event_retention_days))


def reset() -> None:
    """Forget everything built from the environment, cached secrets included (tests change the
    environment between cases; a new Lambda execution environment starts like this). The AWS
    clients are kept: they do not depend on the settings."""
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
    ):
        built.cache_clear()
    secrets.store.forget()

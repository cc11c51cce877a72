"""Builds the events' services once per Lambda execution environment, so warm invocations reuse
their AWS clients, the webhook connection pool and the cached signing keys."""

import functools
import time

from payments.delivery import WebhookDelivery, WebhookSender
from payments.errors import ConfigurationUnavailable
from payments.event_channels import EventBus, WebhookQueue
from payments.event_service import EventsService
from payments.event_settings import get_event_settings
from payments.event_store import EventStore
from payments.events import iso_utc_from_unix
from payments.publishing import EventPublisher
from payments.repository import OrderRepository
from payments.webhook_secret import forget_cached_keys, load_signing_keys, secrets_client


def utc_now() -> str:
    return iso_utc_from_unix(time.time())


@functools.cache
def event_publisher() -> EventPublisher:
    settings = get_event_settings()
    if not settings.bus_name:
        raise ConfigurationUnavailable("the service is not configured (EVENT_BUS_NAME)")
    return EventPublisher(
        store=EventStore(settings.events_table),
        bus=EventBus(settings.bus_name),
        queue=WebhookQueue(settings.webhook_queue_url) if settings.webhooks_enabled else None,
        clock=utc_now,
    )


@functools.cache
def webhook_delivery() -> WebhookDelivery:
    settings = get_event_settings()
    if not (settings.webhook_url and settings.webhook_queue_url and settings.webhook_secret_id):
        raise ConfigurationUnavailable(
            "the service is not configured (WEBHOOK_URL, WEBHOOK_QUEUE_URL, WEBHOOK_SECRET_ID)"
        )
    secret_id = settings.webhook_secret_id
    return WebhookDelivery(
        store=EventStore(settings.events_table),
        url=settings.webhook_url,
        keys=lambda: load_signing_keys(secret_id),
        sender=WebhookSender(),
        queue=WebhookQueue(settings.webhook_queue_url),
    )


@functools.cache
def events_service() -> EventsService:
    settings = get_event_settings()
    if not settings.orders_table:
        raise ConfigurationUnavailable("the service is not configured (TABLE_NAME)")
    return EventsService(
        store=EventStore(settings.events_table),
        orders=OrderRepository(settings.orders_table),
        queue=WebhookQueue(settings.webhook_queue_url) if settings.webhooks_enabled else None,
        clock=utc_now,
    )


def reset() -> None:
    """Forget everything built from the environment, cached keys included."""
    event_publisher.cache_clear()
    webhook_delivery.cache_clear()
    events_service.cache_clear()
    get_event_settings.cache_clear()
    secrets_client.cache_clear()
    forget_cached_keys()

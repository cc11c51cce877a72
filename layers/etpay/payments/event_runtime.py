"""Builds the events' services once per Lambda execution environment, so warm invocations reuse
their AWS clients, the webhook connection pool and the cached signing keys."""

import functools

from payments import secret_store
from payments.clock import utc_now
from payments.delivery import WebhookDelivery, WebhookSender
from payments.errors import ConfigurationUnavailable
from payments.event_channels import EventBus, WebhookQueue
from payments.event_service import EventsService
from payments.event_settings import EventSettings, get_event_settings
from payments.event_store import EventStore
from payments.publishing import EventPublisher
from payments.repository import OrderRepository
from payments.webhook_secret import load_signing_keys


@functools.cache
def event_publisher() -> EventPublisher:
    settings = get_event_settings()
    if not settings.bus_name:
        raise ConfigurationUnavailable("the service is not configured (EVENT_BUS_NAME)")
    return EventPublisher(
        store=EventStore(settings.events_table),
        bus=EventBus(settings.bus_name),
        queue=_webhook_queue(settings),
        clock=utc_now,
    )


@functools.cache
def webhook_delivery() -> WebhookDelivery:
    settings = get_event_settings()
    queue = _webhook_queue(settings)
    if not (settings.webhook_url and queue and settings.webhook_secret_id):
        raise ConfigurationUnavailable(
            "the service is not configured (WEBHOOK_URL, WEBHOOK_QUEUE_URL, WEBHOOK_SECRET_ID)"
        )
    secret_id = settings.webhook_secret_id
    return WebhookDelivery(
        store=EventStore(settings.events_table),
        url=settings.webhook_url,
        keys=lambda: load_signing_keys(secret_id),
        sender=WebhookSender(),
        queue=queue,
    )


@functools.cache
def events_service() -> EventsService:
    settings = get_event_settings()
    if not settings.orders_table:
        raise ConfigurationUnavailable("the service is not configured (TABLE_NAME)")
    return EventsService(
        store=EventStore(settings.events_table),
        orders=OrderRepository(settings.orders_table),
        queue=_webhook_queue(settings),
        clock=utc_now,
    )


def _webhook_queue(settings: EventSettings) -> WebhookQueue | None:
    """The webhook queue, or None when the stack has none (no MerchantWebhookUrl)."""
    return WebhookQueue(settings.webhook_queue_url) if settings.webhook_queue_url else None


def reset() -> None:
    """Forget everything built from the environment, cached keys included."""
    event_publisher.cache_clear()
    webhook_delivery.cache_clear()
    events_service.cache_clear()
    get_event_settings.cache_clear()
    secret_store.secrets_client.cache_clear()
    secret_store.store.forget()

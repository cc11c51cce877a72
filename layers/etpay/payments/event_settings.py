"""The events' deployment settings, parsed once per process from the environment the template
gives each function (the stream function, the webhook delivery function, the events API)."""

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass

from etpay.credentials import is_allowed_url
from payments.errors import ConfigurationUnavailable


@dataclass(frozen=True)
class EventSettings:
    events_table: str
    # The orders table (the events API reads whether an order exists).
    orders_table: str | None = None
    # The stack's EventBridge bus (the stream function publishes there).
    bus_name: str | None = None
    # The webhook queue; None when the stack has no MerchantWebhookUrl (webhooks off).
    webhook_queue_url: str | None = None
    # Where webhooks go, and the secret that signs them (the delivery function).
    webhook_url: str | None = None
    webhook_secret_id: str | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "EventSettings":
        events_table = _optional(environ, "EVENTS_TABLE_NAME")
        if not events_table:
            raise ConfigurationUnavailable("the service is not configured (EVENTS_TABLE_NAME)")
        webhook_url = _optional(environ, "WEBHOOK_URL")
        if webhook_url is not None and not is_allowed_url(webhook_url):
            raise ConfigurationUnavailable("the service is not configured (WEBHOOK_URL must be https)")
        return cls(
            events_table=events_table,
            orders_table=_optional(environ, "TABLE_NAME"),
            bus_name=_optional(environ, "EVENT_BUS_NAME"),
            webhook_queue_url=_optional(environ, "WEBHOOK_QUEUE_URL"),
            webhook_url=webhook_url,
            webhook_secret_id=_optional(environ, "WEBHOOK_SECRET_ID"),
        )


@functools.cache
def get_event_settings() -> EventSettings:
    return EventSettings.from_environment(os.environ)


def _optional(environ: Mapping[str, str], name: str) -> str | None:
    return environ.get(name, "").strip() or None

"""Moved to `local.demo.webhooks`; this name stays for bench/, scripts/ and tests/ until they import that."""

from local.demo.webhooks import (
    ReceivedWebhook,
    WebhookReceiver,
)

__all__ = ["ReceivedWebhook", "WebhookReceiver"]

"""Deployment settings: the environment template.yaml gives each function, parsed once per process
into one typed value. A value that is present but wrong refuses the process (ConfigurationUnavailable:
a 503, or a retried batch) rather than let it take a payment it cannot handle; a value a function
needs and lacks is refused when that function asks for it (`Settings.require`).
"""

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from etpay.credentials import is_allowed_url
from payments.domain.errors import ConfigurationUnavailable
from payments.domain.markets import Market, market_for

# The stack's currency when CURRENCY is unset; it picks the market (payments/domain/markets.py),
# whose default_max_order_amount applies when MAX_ORDER_AMOUNT is unset or 0 (ETpay publishes no
# limits).
DEFAULT_CURRENCY = "CLP"
# How long a session lives. ETpay publishes no session expiry; a reseller that routes Chilean
# payments through ETpay documents a 30-minute payment lifetime (docs/ETPAY.md). At its end, a
# last status check: no result means we end the session EXPIRED.
DEFAULT_SESSION_LIFETIME_SECONDS = 30 * 60
# ETpay publishes no notification retry schedule either: a session still PENDING this long after
# it opened is asked about with the status API, then at doubling intervals, the last at expiry.
DEFAULT_RECONCILE_AFTER_SECONDS = 15 * 60
# How long the events table keeps an event (DynamoDB's TTL removes it after).
DEFAULT_EVENT_RETENTION_DAYS = 30

# The environment variable behind each optional setting.
VARIABLES = {
    "table_name": "TABLE_NAME",
    "events_table": "EVENTS_TABLE_NAME",
    "etpay_secret_id": "ETPAY_SECRET_ID",
    "notification_key_secret_id": "NOTIFICATION_KEY_SECRET_ID",
    "default_success_url": "DEFAULT_SUCCESS_URL",
    "default_cancellation_url": "DEFAULT_CANCELLATION_URL",
    "notification_url": "NOTIFICATION_URL",
    "reconcile_queue_url": "RECONCILE_QUEUE_URL",
    "bus_name": "EVENT_BUS_NAME",
    "webhook_queue_url": "WEBHOOK_QUEUE_URL",
    "webhook_url": "WEBHOOK_URL",
    "webhook_secret_id": "WEBHOOK_SECRET_ID",
    "stack_id": "STACK_ID",
}


@dataclass(frozen=True)
class Settings:
    """The deployment's settings, as the template sets them in the environment."""

    stage: str = "sandbox"
    currency: str = DEFAULT_CURRENCY
    max_order_amount: int = 0
    session_lifetime_seconds: int = DEFAULT_SESSION_LIFETIME_SECONDS
    reconcile_after_seconds: int = DEFAULT_RECONCILE_AFTER_SECONDS
    # The orders table, and the events table.
    table_name: str | None = None
    events_table: str | None = None
    # Secrets Manager: ETpay's credentials, and the key ETpay's notification URL carries.
    etpay_secret_id: str | None = None
    notification_key_secret_id: str | None = None
    # Where ETpay sends the payer back and its notifications (None: the merchant's own / ours).
    default_success_url: str | None = None
    default_cancellation_url: str | None = None
    notification_url: str | None = None
    # The queue between the reconcile sweep and its workers.
    reconcile_queue_url: str | None = None
    # The stack's EventBridge bus; the webhook queue, the merchant's webhook URL and the secret that
    # signs webhooks (all None when the stack has no MerchantWebhookUrl: webhooks off).
    bus_name: str | None = None
    webhook_queue_url: str | None = None
    webhook_url: str | None = None
    webhook_secret_id: str | None = None
    # The stack's own id (CloudFormation's AWS::StackId): part of every event id, so no two stacks
    # ever send the same one. "" outside a stack.
    stack_id: str = ""
    event_retention_days: int = DEFAULT_EVENT_RETENTION_DAYS

    @property
    def market(self) -> Market:
        market = market_for(self.currency)
        if market is None:
            raise ConfigurationUnavailable(f"the service is not configured (CURRENCY {self.currency[:8]!r})")
        return market

    def require(self, name: str) -> str:
        """A setting this function cannot work without."""
        value = getattr(self, name)
        if not value:
            raise ConfigurationUnavailable(f"the service is not configured ({VARIABLES[name]})")
        assert isinstance(value, str)
        return value

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "Settings":
        currency = environ.get("CURRENCY", "").strip() or DEFAULT_CURRENCY
        # ETpay serves Chile and Mexico only: any other currency is a stack that cannot take a payment.
        market = market_for(currency)
        if market is None:
            raise ConfigurationUnavailable("the service is not configured (CURRENCY: CLP or MXN)")
        optional: dict[str, Any] = {name: _optional(environ, variable) for name, variable in VARIABLES.items()}
        optional["stack_id"] = optional["stack_id"] or ""
        webhook_url = optional["webhook_url"]
        if webhook_url is not None and not is_allowed_url(webhook_url):
            raise ConfigurationUnavailable("the service is not configured (WEBHOOK_URL must be https)")
        return cls(
            stage=environ.get("STAGE", "").strip() or "sandbox",
            currency=currency,
            max_order_amount=_whole_number(environ, "MAX_ORDER_AMOUNT") or market.default_max_order_amount,
            session_lifetime_seconds=_positive_int(
                environ, "SESSION_LIFETIME_SECONDS", DEFAULT_SESSION_LIFETIME_SECONDS
            ),
            reconcile_after_seconds=_positive_int(environ, "RECONCILE_AFTER_SECONDS", DEFAULT_RECONCILE_AFTER_SECONDS),
            event_retention_days=_positive_int(environ, "EVENT_RETENTION_DAYS", DEFAULT_EVENT_RETENTION_DAYS),
            **optional,
        )


@functools.cache
def get_settings() -> Settings:
    return Settings.from_environment(os.environ)


def _optional(environ: Mapping[str, str], name: str) -> str | None:
    return environ.get(name, "").strip() or None


def _whole_number(environ: Mapping[str, str], name: str) -> int:
    """A setting that is 0 or a positive integer; unset is 0."""
    raw = environ.get(name, "").strip() or "0"
    if not raw.isascii() or not raw.isdigit():
        raise ConfigurationUnavailable(f"the service is not configured ({name})")
    return int(raw)


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip() or str(default)
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise ConfigurationUnavailable(f"the service is not configured ({name})")
    return int(raw)

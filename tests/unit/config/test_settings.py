"""The deployment settings the events' functions read: a function deployed without what it needs
refuses to start (ConfigurationUnavailable, a 503 on the events API, a retried batch on the event
sources) instead of publishing, signing or sending somewhere it should not."""

import pytest

from payments.config.settings import Settings
from payments.domain.errors import ConfigurationUnavailable

COMPLETE = {
    "EVENTS_TABLE_NAME": "events",
    "TABLE_NAME": "orders",
    "EVENT_BUS_NAME": "bus",
    "WEBHOOK_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/webhooks",
    "WEBHOOK_URL": "https://merchant.example/webhooks",
    "WEBHOOK_SECRET_ID": "etpay/webhook-secret",
}


def test_every_setting_is_read():
    settings = Settings.from_environment(COMPLETE)

    assert settings == Settings(
        max_order_amount=7_000_000,  # the market's own limit (CLP, the default currency)
        events_table="events",
        table_name="orders",
        bus_name="bus",
        webhook_queue_url=COMPLETE["WEBHOOK_QUEUE_URL"],
        webhook_url=COMPLETE["WEBHOOK_URL"],
        webhook_secret_id="etpay/webhook-secret",
    )


@pytest.mark.parametrize("events_table", [None, "", "   "])
def test_no_events_table_is_a_configuration_error(events_table):
    environ = {name: value for name, value in COMPLETE.items() if name != "EVENTS_TABLE_NAME"}
    if events_table is not None:
        environ["EVENTS_TABLE_NAME"] = events_table

    with pytest.raises(ConfigurationUnavailable) as refused:
        Settings.from_environment(environ).require("events_table")

    assert "EVENTS_TABLE_NAME" in refused.value.message


@pytest.mark.parametrize("url", ["http://merchant.example/webhooks", "merchant.example/webhooks", "ftp://x.example/"])
def test_a_webhook_url_that_is_not_https_is_refused(url):
    # Signed payment events in clear text would tell anyone on the path who paid what.
    with pytest.raises(ConfigurationUnavailable) as refused:
        Settings.from_environment({**COMPLETE, "WEBHOOK_URL": url})

    assert "https" in refused.value.message


def test_no_webhook_url_is_webhooks_off_not_an_error():
    settings = Settings.from_environment({"EVENTS_TABLE_NAME": "events"})

    assert (settings.webhook_url, settings.webhook_queue_url, settings.bus_name) == (None, None, None)

"""Webhooks to the merchant: each queue message names an event; its stored body is POSTed to
MerchantWebhookUrl, signed (payments.domain.webhooks), and the attempt is written to its delivery
record. A 2xx within WEBHOOK_TIMEOUT_SECONDS is delivered; anything else is tried again on the
schedule of payments.domain.webhooks, by hiding the message for the wait (ChangeMessageVisibility) before
reporting it failed. After WEBHOOK_MAX_RECEIVES receives SQS moves it to the dead-letter queue.

At least once: the merchant dedupes on `webhook-id`. Log lines carry the event id and type, the
order id, the attempt and its status code or error kind; never the body, the headers or a key.
"""

import random
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from payments.app import telemetry
from payments.app.ports import EventLog, WebhookPoster, WebhookQueue
from payments.app.telemetry import logger
from payments.domain.clock import Clock, epoch_seconds, iso_utc, utc_now
from payments.domain.events import DeliveryState
from payments.domain.webhooks import (
    WEBHOOK_BATCH_SIZE,
    QueuedWebhook,
    is_last_receive,
    retry_delay,
    webhook_headers,
)


class WebhookDelivery:
    def __init__(
        self,
        store: EventLog,
        url: str,
        keys: Callable[[], Sequence[bytes]],
        sender: WebhookPoster,
        queue: WebhookQueue,
        clock: Clock = utc_now,
        draw: Callable[[], float] = random.random,
    ):
        self._store = store
        self._url = url
        self._keys = keys
        self._sender = sender
        self._queue = queue
        self._clock = clock
        # Jitter: uniform in [0, 1). Not a secret, so the plain generator is right.
        self._draw = draw

    def deliver_batch(self, webhooks: Sequence[QueuedWebhook]) -> list[str]:
        """Attempt every webhook of a batch at once; the message ids to retry."""
        if not webhooks:
            return []
        with ThreadPoolExecutor(max_workers=min(len(webhooks), WEBHOOK_BATCH_SIZE)) as pool:
            done = list(pool.map(self._deliver_or_retry, webhooks))
        return [webhook.message_id for webhook, ok in zip(webhooks, done, strict=True) if not ok]

    def _deliver_or_retry(self, webhook: QueuedWebhook) -> bool:
        try:
            return self.deliver(webhook)
        except Exception as error:  # noqa: BLE001 - one message's failure is that message's retry, never the batch's
            logger.error(
                "webhook not attempted; retried",
                extra={
                    "event_id": webhook.event_id,
                    "attempt": webhook.receive_count,
                    "error_type": type(error).__name__,
                },
            )
            return False

    def deliver(self, webhook: QueuedWebhook) -> bool:
        """One attempt. True: the message is done (delete it); False: retry it, already hidden for
        the wait before its next attempt."""
        if webhook.event_id is None:
            logger.error("queue message names no event; dropped", extra={"message_id": webhook.message_id})
            return True
        event = self._store.get(webhook.event_id)
        if event is None:
            logger.error("webhook for an unknown event; dropped", extra={"event_id": webhook.event_id})
            return True
        context: dict[str, Any] = {
            "event_id": event.id,
            "event_type": event.type.value,
            "merchant_order_id": event.merchant_order_id,
            "attempt": webhook.receive_count,
        }
        if event.delivery.state is DeliveryState.DELIVERED and not webhook.redelivery:
            # A second message for the same event (a publisher retry): it went out already.
            logger.debug("webhook already delivered", extra=context)
            return True

        keys = self._keys()
        now = self._clock()
        headers = webhook_headers(event.id, epoch_seconds(now), event.body, keys)
        outcome = self._sender.post(self._url, event.body, headers)
        context.update(status_code=outcome.status_code, error_kind=outcome.error)
        if outcome.delivered:
            self._store.record_attempt(event.id, DeliveryState.DELIVERED, iso_utc(now), outcome.status_code, None, None)
            telemetry.count(telemetry.WEBHOOK_DELIVERED)
            # The delivery record (GET /events/{id}) and WebhookDelivered keep it: at INFO the logs
            # carry what went wrong only (docs/BENCHMARKS.md, the events' cost).
            logger.debug("webhook delivered", extra=context)
            return True

        last = is_last_receive(webhook.receive_count)
        wait = 0 if last else retry_delay(webhook.receive_count, self._draw())
        telemetry.count(telemetry.WEBHOOK_ATTEMPT_FAILED)
        try:
            self._store.record_attempt(
                event.id,
                DeliveryState.FAILED if last else DeliveryState.RETRYING,
                iso_utc(now),
                outcome.status_code,
                outcome.error,
                None if last else iso_utc(now + timedelta(seconds=wait)),
            )
        finally:
            # Hidden for the wait even if the record could not be written: the schedule holds.
            self._queue.retry_after(webhook.receipt_handle, wait)
        if last:
            telemetry.count(telemetry.WEBHOOK_DEAD_LETTERED)
            logger.error("webhook not delivered after every retry; it goes to the dead-letter queue", extra=context)
        else:
            logger.warning("webhook attempt failed; retried", extra={**context, "retry_in_seconds": wait})
        return False

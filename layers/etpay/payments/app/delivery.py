"""Webhooks to the merchant: each queue message names an event; its stored body is POSTed to
MerchantWebhookUrl, signed (payments.webhooks), and the attempt is written to the event's delivery
record. A 2xx within WEBHOOK_TIMEOUT_SECONDS is delivered; anything else is tried again on the
schedule of payments.webhooks, by hiding the message for the wait (ChangeMessageVisibility) before
reporting it failed. After WEBHOOK_MAX_RECEIVES receives SQS moves it to the dead-letter queue.

At least once: the merchant dedupes on `webhook-id`. Log lines carry the event id and type, the
order id, the attempt and its status code or error kind; never the body, the headers or a key.
"""

import json
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import urllib3
from aws_lambda_powertools.metrics import MetricUnit

from payments import observability as obs
from payments.clock import Clock, epoch_seconds, iso_utc, utc_now
from payments.event_channels import WebhookQueue
from payments.event_store import EventStore
from payments.events import DeliveryState
from payments.settings import WEBHOOK_BATCH_SIZE, WEBHOOK_MAX_RESPONSE_BYTES, WEBHOOK_TIMEOUT_SECONDS
from payments.webhooks import is_last_receive, retry_delay, webhook_headers

logger = obs.logger

# Webhooks of a batch are sent from threads; Powertools' metric set is not guarded for that.
_metrics_lock = threading.Lock()

TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"
TLS_ERROR = "tls_error"


def _count(name: str) -> None:
    with _metrics_lock:
        obs.metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


@dataclass(frozen=True)
class QueuedWebhook:
    """One message of a Lambda SQS event."""

    message_id: str
    receipt_handle: str
    # None: the message names no event (nothing to deliver).
    event_id: str | None
    # SQS's count of receives, this one included: the attempt number.
    receive_count: int
    # Asked for through POST /events/{id}/redeliver: sent even if delivered before.
    redelivery: bool = False


def webhooks_from_sqs_event(event: Mapping[str, Any]) -> list[QueuedWebhook]:
    webhooks = []
    for record in event.get("Records") or []:
        try:
            body = json.loads(record.get("body") or "")
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        event_id = body.get("event_id")
        try:
            receive_count = int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1))
        except (TypeError, ValueError):
            receive_count = 1
        webhooks.append(
            QueuedWebhook(
                message_id=record.get("messageId", ""),
                receipt_handle=record.get("receiptHandle", ""),
                event_id=event_id if isinstance(event_id, str) and event_id else None,
                receive_count=receive_count,
                redelivery=body.get("redelivery") is True,
            )
        )
    return webhooks


@dataclass(frozen=True)
class AttemptOutcome:
    delivered: bool
    status_code: int | None = None
    # When there was no HTTP answer: timeout, connection_error or tls_error.
    error: str | None = None


class WebhookSender:
    """POSTs one webhook; never retries, never follows a redirect (a 3xx is not delivered)."""

    def __init__(self, timeout_seconds: float = WEBHOOK_TIMEOUT_SECONDS, pool: urllib3.PoolManager | None = None):
        self._timeout = urllib3.Timeout(connect=timeout_seconds, read=timeout_seconds, total=timeout_seconds)
        self._pool = pool or urllib3.PoolManager(num_pools=2, maxsize=WEBHOOK_BATCH_SIZE, retries=False)

    def post(self, url: str, body: str, headers: Mapping[str, str]) -> AttemptOutcome:
        try:
            response = self._pool.request(
                "POST",
                url,
                body=body.encode(),
                headers=dict(headers),
                timeout=self._timeout,
                retries=False,
                redirect=False,
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as error:
            return AttemptOutcome(False, error=_error_kind(error))
        status = response.status
        try:
            # The answer itself means nothing to us; a little is read so the connection can be reused.
            complete = len(response.read(WEBHOOK_MAX_RESPONSE_BYTES + 1)) <= WEBHOOK_MAX_RESPONSE_BYTES
        except urllib3.exceptions.HTTPError:
            complete = False
        if complete:
            response.release_conn()
        else:
            response.close()
        return AttemptOutcome(200 <= status < 300, status_code=status)


def _error_kind(error: Exception) -> str:
    """What kept an attempt from getting an HTTP answer."""
    reason = getattr(error, "reason", None) if isinstance(error, urllib3.exceptions.MaxRetryError) else error
    if isinstance(reason, urllib3.exceptions.SSLError):
        return TLS_ERROR
    # urllib3 makes a refused or unresolvable connection a kind of connect timeout: not for us.
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        return CONNECTION_ERROR
    if isinstance(reason, urllib3.exceptions.TimeoutError):
        return TIMEOUT
    return CONNECTION_ERROR


class WebhookDelivery:
    def __init__(
        self,
        store: EventStore,
        url: str,
        keys: Callable[[], Sequence[bytes]],
        sender: WebhookSender,
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
            logger.info("webhook already delivered", extra=context)
            return True

        keys = self._keys()
        now = self._clock()
        headers = webhook_headers(event.id, epoch_seconds(now), event.body, keys)
        outcome = self._sender.post(self._url, event.body, headers)
        context.update(status_code=outcome.status_code, error_kind=outcome.error)
        if outcome.delivered:
            self._store.record_attempt(event.id, DeliveryState.DELIVERED, iso_utc(now), outcome.status_code, None, None)
            _count(obs.WEBHOOK_DELIVERED)
            logger.info("webhook delivered", extra=context)
            return True

        last = is_last_receive(webhook.receive_count)
        wait = 0 if last else retry_delay(webhook.receive_count, self._draw())
        _count(obs.WEBHOOK_ATTEMPT_FAILED)
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
            _count(obs.WEBHOOK_DEAD_LETTERED)
            logger.error("webhook not delivered after every retry; it goes to the dead-letter queue", extra=context)
        else:
            logger.warning("webhook attempt failed; retried", extra={**context, "retry_in_seconds": wait})
        return False

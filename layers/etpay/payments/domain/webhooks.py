"""Webhooks to the merchant as Standard Webhooks (standardwebhooks.com) defines them, and when a
failed one is tried again, and what one attempt got. Pure: no I/O here.

A webhook carries `webhook-id` (the event id, which the merchant dedupes on), `webhook-timestamp`
(unix seconds, when it was sent) and `webhook-signature`: `v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">` for each signing key, space-separated. The key is the secret's value
decoded from base64 (its canonical form is `whsec_<base64>`; the prefix is optional), so the
merchant verifies with any `standardwebhooks` library given the secret.
"""

import base64
import binascii
import hashlib
import hmac
import math
from collections.abc import Sequence
from dataclasses import dataclass

from payments.domain.errors import ConfigurationUnavailable

# The retry schedule, in one place (template.yaml's WebhookQueue repeats two of these numbers and
# a repository check holds them together). After the n-th receive of a webhook's queue message
# fails, the message stays invisible for min(BASE * 2**(n-1), CAP) seconds, shortened by a random
# fraction of up to JITTER so that retries after an outage spread out. CAP stays under SQS's
# 12-hour visibility limit.
WEBHOOK_RETRY_BASE_SECONDS = 30
WEBHOOK_RETRY_CAP_SECONDS = 6 * 3600
WEBHOOK_RETRY_JITTER = 0.2
# A webhook is retried for at least this long, even when every wait draws the shortest jitter ...
WEBHOOK_MIN_RETRY_SECONDS = 3 * 24 * 3600
# ... and this many receives were lost without an attempt (a throttled or crashed invocation still
# counts a receive; SQS then shows the message again after the queue's visibility timeout).
WEBHOOK_SPARE_RECEIVES = 3
# The queue's redrive maxReceiveCount: the smallest count meeting the two lines above
# (receives_needed below). The message then moves to the dead-letter queue.
WEBHOOK_MAX_RECEIVES = 28
# SQS keeps a message at most 14 days (the queue's retention; also where a dead-lettered message's
# clock starts): the schedule's longest run must end well inside it.
WEBHOOK_QUEUE_RETENTION_SECONDS = 14 * 24 * 3600
# The delivery function's timeout (template.yaml) and how long SQS hides a message it is working on
# (six times the timeout, as AWS advises for SQS event sources).
WEBHOOK_FUNCTION_TIMEOUT_SECONDS = 30
WEBHOOK_QUEUE_VISIBILITY_SECONDS = 6 * WEBHOOK_FUNCTION_TIMEOUT_SECONDS
# Messages one delivery invocation takes (the event source's BatchSize); they are sent in parallel.
WEBHOOK_BATCH_SIZE = 10
# Standard Webhooks recommends keys of 24 to 64 bytes; a shorter one is refused, not used.
WEBHOOK_MIN_KEY_BYTES = 24

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SIGNATURE_VERSION = "v1"
CONTENT_TYPE = "application/json"
USER_AGENT = "etpay-payments-webhooks/1"


# -- signing ---------------------------------------------------------------------------------------
def signing_key(secret: str) -> bytes:
    """The HMAC key of a webhook secret: `whsec_<base64>` or the bare base64, decoded. The message
    never contains the secret: callers log it."""
    text = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationUnavailable("the webhook secret is not base64") from None
    if len(key) < WEBHOOK_MIN_KEY_BYTES:
        raise ConfigurationUnavailable(f"the webhook secret is shorter than {WEBHOOK_MIN_KEY_BYTES} bytes")
    return key


def signature(key: bytes, message_id: str, timestamp: int, body: str) -> str:
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def webhook_headers(message_id: str, timestamp: int, body: str, keys: Sequence[bytes]) -> dict[str, str]:
    """The request headers of one webhook, signed with every key given (during a rotation, the new
    secret and the previous one: a merchant verifying with either accepts it)."""
    if not keys:
        raise ConfigurationUnavailable("no webhook signing key")
    return {
        "content-type": CONTENT_TYPE,
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(key, message_id, timestamp, body) for key in keys),
    }


# -- the retry schedule ------------------------------------------------------------------------------
def retry_base_seconds(receive_count: int) -> int:
    """The wait after the `receive_count`-th receive of a webhook's message failed, before jitter."""
    exponent = min(max(receive_count, 1) - 1, 32)  # bounded: 2**32 * base is far past the cap
    return min(WEBHOOK_RETRY_CAP_SECONDS, WEBHOOK_RETRY_BASE_SECONDS << exponent)


def retry_delay(receive_count: int, draw: float) -> int:
    """The wait, in whole seconds, with jitter: `draw` is uniform in [0, 1), and shortens the wait
    by up to WEBHOOK_RETRY_JITTER of it."""
    draw = min(max(draw, 0.0), 1.0)
    return math.floor(retry_base_seconds(receive_count) * (1 - WEBHOOK_RETRY_JITTER * draw))


def shortest_retry_delay(receive_count: int) -> int:
    """The wait with the worst jitter (the shortest any draw gives)."""
    return math.floor(retry_base_seconds(receive_count) * (1 - WEBHOOK_RETRY_JITTER))


def shortest_retry_window(max_receives: int, lost_receives: int = WEBHOOK_SPARE_RECEIVES) -> int:
    """The least time between a message's first receive and its last (the `max_receives`-th) when
    every wait draws the worst jitter and `lost_receives` receives were lost without an attempt
    (each then waits only the queue's visibility timeout, counted here as nothing, and the lost
    ones are taken to be the longest waits)."""
    waits = sorted(shortest_retry_delay(count) for count in range(1, max_receives))
    return sum(waits[: max(0, len(waits) - lost_receives)])


def longest_retry_window(max_receives: int, per_receive_seconds: int) -> int:
    """The most time a message can spend in the queue before it is dead-lettered: every wait at
    its longest, plus `per_receive_seconds` of handling (or of a lost receive) for each receive."""
    return sum(retry_base_seconds(count) for count in range(1, max_receives)) + max_receives * per_receive_seconds


def receives_needed(minimum_seconds: int = WEBHOOK_MIN_RETRY_SECONDS) -> int:
    """The smallest maxReceiveCount whose shortest retry window lasts `minimum_seconds`."""
    count = 1
    while shortest_retry_window(count) < minimum_seconds:
        count += 1
    return count


def is_last_receive(receive_count: int) -> bool:
    """After this receive fails, SQS moves the message to the dead-letter queue."""
    return receive_count >= WEBHOOK_MAX_RECEIVES


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


# -- one attempt ------------------------------------------------------------------------------------
# What kept an attempt from getting an HTTP answer.
TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"
TLS_ERROR = "tls_error"


@dataclass(frozen=True)
class AttemptOutcome:
    """What one POST of a webhook got: delivered is a 2xx."""

    delivered: bool
    status_code: int | None = None
    # When there was no HTTP answer: TIMEOUT, CONNECTION_ERROR or TLS_ERROR.
    error: str | None = None

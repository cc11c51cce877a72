"""Deployment settings, parsed once per process from the environment, and the service's tunables.

Every tunable lives here, so it can be found and changed in one place.
"""

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass

from payments.errors import ConfigurationUnavailable
from payments.markets import Market, market_for

# Secrets Manager is read at most once per this many seconds per warm Lambda: a rotated secret
# is picked up within five minutes, with no Secrets Manager call per request.
SECRET_MAX_AGE_SECONDS = 300
# Secrets Manager down must mean a fast 503, not a request held until API Gateway gives up.
SECRETS_CONNECT_TIMEOUT_SECONDS = 1
SECRETS_READ_TIMEOUT_SECONDS = 2
# Attempts in all, the first included (botocore's total_max_attempts; its `max_attempts` counts retries).
SECRETS_MAX_ATTEMPTS = 2
# A POST /sessions claims the order for this long while it talks to ETpay. It must outlast the
# slowest ETpay call plus our own writes (the function times out at 25 s), so a live claim is
# never taken over; a claim left by a crashed invocation frees itself after this.
SESSION_CLAIM_SECONDS = 60
# A new order's claim item, left by an invocation that crashed and was never retried, is removed by
# DynamoDB's TTL after this long (TTL deletes lazily; a retry within it simply takes the claim over).
CLAIM_ITEM_TTL_SECONDS = 24 * 3600
# An order and all its sessions are one DynamoDB item (at most 400 KB). A new session is only opened
# after the last one FAILED; an order that failed this often is refused further sessions.
MAX_SESSIONS_PER_ORDER = 20
# DynamoDB client: fail fast, let the caller retry rather than hold API Gateway's 29 s.
DYNAMODB_CONNECT_TIMEOUT_SECONDS = 1
DYNAMODB_READ_TIMEOUT_SECONDS = 2
DYNAMODB_MAX_ATTEMPTS = 3  # in all, the first included, as SECRETS_MAX_ATTEMPTS
# After ETpay answers, its session must still be stored: at least one whole DynamoDB attempt.
# ETpay is not asked when less than its own cap plus this is left of the invocation.
SESSION_STORE_RESERVE_SECONDS = DYNAMODB_CONNECT_TIMEOUT_SECONDS + DYNAMODB_READ_TIMEOUT_SECONDS
# A lost conditional write is re-decided from fresh state at most this many times.
MAX_DECISION_ATTEMPTS = 4
# Bodies bigger than these are not requests we make sense of.
MAX_SESSION_BODY_BYTES = 16 * 1024
MAX_NOTIFICATION_BODY_BYTES = 16 * 1024
# ETpay's notification URL carries the stack's notification key in this query parameter. Query
# strings reach neither API Gateway's access log (resource paths only) nor our logs.
NOTIFICATION_KEY_PARAMETER = "key"
# A key that matches neither cached version is checked against Secrets Manager again, in case it
# was just rotated (a payments function may already send the new one), but at most this often:
# wrong keys must not turn into a Secrets Manager call each.
NOTIFICATION_KEY_RECHECK_SECONDS = 30
# What a client is told to wait before retrying a transient failure.
RETRY_AFTER_SECONDS = 1
# The stack's currency when CURRENCY is unset; it picks the market (payments/markets.py), whose
# default_max_order_amount applies when MAX_ORDER_AMOUNT is unset or 0 (ETpay publishes no limits).
DEFAULT_CURRENCY = "CLP"
# How long a session lives. ETpay publishes no session expiry; a reseller that routes Chilean
# payments through ETpay documents a 30-minute payment lifetime (docs/ETPAY.md). At its end, a
# last status check: no result means we end the session EXPIRED.
DEFAULT_SESSION_LIFETIME_SECONDS = 30 * 60
# ETpay publishes no notification retry schedule either: a session still PENDING this long after
# it opened is asked about with the status API, then at doubling intervals, the last at expiry.
DEFAULT_RECONCILE_AFTER_SECONDS = 15 * 60
# The pending index's partition key takes this many values (from a hash of the order id): an index
# partition takes about 1,000 writes a second, and with one key value every session opened and
# settled would write to the same one. Changing it moves no stored order: keep it fixed.
PENDING_SHARDS = 32
# A check handed to a worker is not handed out again before this (its time to ask ETpay).
CHECK_LEASE_SECONDS = 5 * 60
# After the final check (at expiry) got no answer from ETpay: again after this, doubling, at most
# FINAL_CHECK_MAX_RETRY_SECONDS apart, until ETpay answers.
FINAL_CHECK_RETRY_SECONDS = 5 * 60
FINAL_CHECK_MAX_RETRY_SECONDS = 60 * 60
# A session this long past its expiry and still not ended counts as stuck (StuckPendingSessions).
STUCK_AFTER_EXPIRY_SECONDS = 10 * 60
# The sweep reads the index a page of this many due checks at a time, each shard in parallel.
SWEEP_PAGE_SIZE = 100
SWEEP_THREADS = 8
# ETpay said 429 (or sent Retry-After) without saying how long: wait this long. Whatever it says,
# never more than the maximum.
ETPAY_BACKOFF_SECONDS = 30
ETPAY_MAX_BACKOFF_SECONDS = 60 * 60
# Workers read the shared backoff at most this often.
BACKOFF_CACHE_SECONDS = 5
# Orders stored before sessions expired are moved to the check index, this many per sweep.
LEGACY_MIGRATION_BATCH = 100
# SQS (the check queue): fail fast, as DynamoDB.
SQS_CONNECT_TIMEOUT_SECONDS = 1
SQS_READ_TIMEOUT_SECONDS = 2
SQS_MAX_ATTEMPTS = 3
# A sweep stops handing out checks when less than this is left of its Lambda timeout.
RECONCILE_TIME_RESERVE_MS = 15_000

# -- the review queue (GET /reviews, POST /orders/{id}/review) -----------------------------------------
# The review index's partition key takes this many values (a hash of the order id), as the pending
# index's: flagging and resolving never write to one hot index partition. Changing it strands the
# orders already queued: keep it fixed.
REVIEW_SHARDS = 32
# GET /reviews: orders per page when the caller does not say, and at most.
DEFAULT_REVIEW_PAGE_SIZE = 25
MAX_REVIEW_PAGE_SIZE = 100
# The page cursor: base64url of at most one position per shard (a timestamp and an order id each).
MAX_REVIEW_CURSOR_CHARS = 8000
# The shards are read in parallel with this many threads (GET /reviews, the overdue count).
REVIEW_QUERY_THREADS = 8
# An open review older than this is overdue: the sweep counts them every run (OverdueReviews) and
# an alarm stays on while there is one.
REVIEW_OVERDUE_SECONDS = 24 * 3600
# The operator's note on a resolution, in characters; and the body that carries it.
MAX_REVIEW_NOTE_CHARS = 1000
MAX_REVIEW_BODY_BYTES = 16 * 1024

# -- events and webhooks to the merchant (payments/events.py, payments/webhooks.py) ----------------
# Event ids are "evt_" and this many hex digits of a SHA-256 of the transition: 128 bits.
EVENT_ID_HEX_DIGITS = 32
# The stream function stops starting new records when less than this is left of its timeout
# (60 s in template.yaml): one record with two events can take that long when every AWS call
# needs its retries. The rest of the batch is retried from the first record not published.
PUBLISH_TIME_RESERVE_MS = 15_000
# A webhook counts as delivered when the merchant answers 2xx within this, connecting included.
WEBHOOK_TIMEOUT_SECONDS = 10
# The merchant's answer is not used: at most this much of it is read.
WEBHOOK_MAX_RESPONSE_BYTES = 4096
# The retry schedule, in one place (template.yaml's WebhookQueue repeats two of these numbers and
# tests/unit/test_webhook_schedule.py holds them together). After the n-th receive of a webhook's
# queue message fails, the message stays invisible for min(BASE * 2**(n-1), CAP) seconds,
# shortened by a random fraction of up to JITTER so that retries after an outage spread out.
# CAP stays under SQS's 12-hour visibility limit.
WEBHOOK_RETRY_BASE_SECONDS = 30
WEBHOOK_RETRY_CAP_SECONDS = 6 * 3600
WEBHOOK_RETRY_JITTER = 0.2
# A webhook is retried for at least this long, even when every wait draws the shortest jitter ...
WEBHOOK_MIN_RETRY_SECONDS = 3 * 24 * 3600
# ... and this many receives were lost without an attempt (a throttled or crashed invocation still
# counts a receive; SQS then shows the message again after the queue's visibility timeout).
WEBHOOK_SPARE_RECEIVES = 3
# The queue's redrive maxReceiveCount: the smallest count meeting the two lines above
# (payments.webhooks.receives_needed). The message then moves to the dead-letter queue.
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


@dataclass(frozen=True)
class Settings:
    table_name: str
    stage: str
    currency: str
    max_order_amount: int
    etpay_secret_id: str | None
    default_success_url: str | None
    default_cancellation_url: str | None
    notification_url: str | None
    notification_key_secret_id: str | None = None
    reconcile_after_seconds: int = DEFAULT_RECONCILE_AFTER_SECONDS
    session_lifetime_seconds: int = DEFAULT_SESSION_LIFETIME_SECONDS
    reconcile_queue_url: str | None = None

    @property
    def market(self) -> Market:
        market = market_for(self.currency)
        if market is None:
            raise ConfigurationUnavailable(f"the service is not configured (CURRENCY {self.currency[:8]!r})")
        return market

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "Settings":
        table_name = environ.get("TABLE_NAME", "").strip()
        if not table_name:
            raise ConfigurationUnavailable("the service is not configured (TABLE_NAME)")
        currency = environ.get("CURRENCY", "").strip() or DEFAULT_CURRENCY
        # ETpay serves Chile and Mexico only: any other currency is a stack that cannot take a payment.
        market = market_for(currency)
        if market is None:
            raise ConfigurationUnavailable("the service is not configured (CURRENCY: CLP or MXN)")
        max_order_amount = _whole_number(environ, "MAX_ORDER_AMOUNT") or market.default_max_order_amount
        return cls(
            table_name=table_name,
            stage=environ.get("STAGE", "sandbox").strip() or "sandbox",
            currency=currency,
            max_order_amount=max_order_amount,
            etpay_secret_id=_optional(environ, "ETPAY_SECRET_ID"),
            default_success_url=_optional(environ, "DEFAULT_SUCCESS_URL"),
            default_cancellation_url=_optional(environ, "DEFAULT_CANCELLATION_URL"),
            notification_url=_optional(environ, "NOTIFICATION_URL"),
            notification_key_secret_id=_optional(environ, "NOTIFICATION_KEY_SECRET_ID"),
            reconcile_after_seconds=_positive_int(environ, "RECONCILE_AFTER_SECONDS", DEFAULT_RECONCILE_AFTER_SECONDS),
            session_lifetime_seconds=_positive_int(
                environ, "SESSION_LIFETIME_SECONDS", DEFAULT_SESSION_LIFETIME_SECONDS
            ),
            reconcile_queue_url=_optional(environ, "RECONCILE_QUEUE_URL"),
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
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationUnavailable(f"the service is not configured ({name})")
    return int(raw)

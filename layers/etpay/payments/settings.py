"""Deployment settings, parsed once per process from the environment, and the service's tunables.

Every tunable lives here, so it can be found and changed in one place.
"""

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass

from payments.errors import ConfigurationUnavailable

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
# ETpay publishes no limits; a reseller lists CLP 1 to 7,000,000.
DEFAULT_MAX_ORDER_AMOUNT = 7_000_000
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

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "Settings":
        table_name = environ.get("TABLE_NAME", "").strip()
        if not table_name:
            raise ConfigurationUnavailable("the service is not configured (TABLE_NAME)")
        return cls(
            table_name=table_name,
            stage=environ.get("STAGE", "sandbox").strip() or "sandbox",
            currency=environ.get("CURRENCY", "").strip() or DEFAULT_CURRENCY,
            max_order_amount=_positive_int(environ, "MAX_ORDER_AMOUNT", DEFAULT_MAX_ORDER_AMOUNT),
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


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip() or str(default)
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationUnavailable(f"the service is not configured ({name})")
    return int(raw)

"""The keys that sign webhooks, from the Secrets Manager secret named by WEBHOOK_SECRET_ID.

Rotation is Secrets Manager's own: `put-secret-value` makes the new value AWSCURRENT and moves the
old one to AWSPREVIOUS. Webhooks are signed with both while AWSPREVIOUS exists, so a merchant
still verifying with the old secret accepts them, and so does one already on the new secret.
(Signing with the old key gives nobody anything new: whoever holds it can sign for themselves;
what stops a leaked secret is the merchant no longer accepting it.)

Kept in memory for SECRET_MAX_AGE_SECONDS, like the ETpay credentials: no Secrets Manager call per
webhook, and a rotation is picked up within that age. Never logged, never returned.
"""

import functools
import threading
import time

import boto3
from aws_lambda_powertools import Logger
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from payments.errors import ConfigurationUnavailable
from payments.settings import (
    SECRET_MAX_AGE_SECONDS,
    SECRETS_CONNECT_TIMEOUT_SECONDS,
    SECRETS_MAX_ATTEMPTS,
    SECRETS_READ_TIMEOUT_SECONDS,
)
from payments.webhooks import signing_key

logger = Logger(child=True)

CURRENT = "AWSCURRENT"
PREVIOUS = "AWSPREVIOUS"
NO_SUCH_VERSION = "ResourceNotFoundException"

_cache: dict[str, tuple[tuple[bytes, ...], float]] = {}
_cache_lock = threading.Lock()


@functools.cache
def secrets_client():
    return boto3.client(
        "secretsmanager",
        config=Config(
            connect_timeout=SECRETS_CONNECT_TIMEOUT_SECONDS,
            read_timeout=SECRETS_READ_TIMEOUT_SECONDS,
            retries={"mode": "standard", "max_attempts": SECRETS_MAX_ATTEMPTS},
        ),
    )


def forget_cached_keys() -> None:
    """As if every cached copy had aged out."""
    with _cache_lock:
        _cache.clear()


def load_signing_keys(secret_id: str | None) -> tuple[bytes, ...]:
    """The current key first, then the previous one when the secret has one."""
    if not secret_id:
        raise ConfigurationUnavailable("the webhook secret is not configured")
    with _cache_lock:
        cached = _cache.get(secret_id)
    if cached and cached[1] > time.monotonic():
        return cached[0]
    keys = _read(secret_id)
    with _cache_lock:
        _cache[secret_id] = (keys, time.monotonic() + SECRET_MAX_AGE_SECONDS)
    return keys


def _read(secret_id: str) -> tuple[bytes, ...]:
    current = _version(secret_id, CURRENT)
    if current is None:
        raise ConfigurationUnavailable("the webhook secret has no current value")
    keys = [signing_key(current)]
    previous = _version(secret_id, PREVIOUS)
    if previous is not None:
        try:
            keys.append(signing_key(previous))
        except ConfigurationUnavailable as error:
            # The old value is no usable key (a mistyped rotation, say): sign with the current one.
            logger.warning("previous webhook secret ignored", extra={"problem": error.message})
    return tuple(keys)


def _version(secret_id: str, stage: str) -> str | None:
    try:
        answer = secrets_client().get_secret_value(SecretId=secret_id, VersionStage=stage)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code == NO_SUCH_VERSION and stage == PREVIOUS:
            return None  # never rotated
        logger.error("webhook secret unreadable", extra={"version_stage": stage, "error_code": code})
        raise ConfigurationUnavailable("the webhook secret is unavailable; retry later") from None
    except BotoCoreError as error:
        logger.error("webhook secret unreadable", extra={"version_stage": stage, "error_type": type(error).__name__})
        raise ConfigurationUnavailable("the webhook secret is unavailable; retry later") from None
    return answer.get("SecretString") or None

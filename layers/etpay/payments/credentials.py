"""ETpay credentials from the Secrets Manager secret named by ETPAY_SECRET_ID.

Kept in memory for SECRET_MAX_AGE_SECONDS, so a warm function makes no Secrets Manager call per
request and a rotated secret is picked up within that age. Only complete credentials are kept:
once the merchant fixes an incomplete secret, the next request sees it. The client has short
timeouts: a Secrets Manager outage is a fast 503, not a request held until API Gateway gives up.
(A dozen lines of our own rather than Powertools' parameters utility, whose package imports every
provider it has at cold start.)
"""

import functools
import json
import threading
import time

import boto3
from aws_lambda_powertools import Logger
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from etpay import Credentials, InvalidCredentials
from payments.errors import ConfigurationUnavailable
from payments.settings import (
    SECRET_MAX_AGE_SECONDS,
    SECRETS_CONNECT_TIMEOUT_SECONDS,
    SECRETS_MAX_ATTEMPTS,
    SECRETS_READ_TIMEOUT_SECONDS,
)

logger = Logger(child=True)

_cache: dict[str, tuple[Credentials, float]] = {}
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


def forget_cached_credentials() -> None:
    """As if every cached copy had aged out."""
    with _cache_lock:
        _cache.clear()


def load_credentials(secret_id: str | None) -> Credentials:
    if not secret_id:
        raise ConfigurationUnavailable("ETpay credentials are not configured")
    with _cache_lock:
        cached = _cache.get(secret_id)
    if cached and cached[1] > time.monotonic():
        return cached[0]
    credentials = _read(secret_id)
    with _cache_lock:
        _cache[secret_id] = (credentials, time.monotonic() + SECRET_MAX_AGE_SECONDS)
    return credentials


def _read(secret_id: str) -> Credentials:
    try:
        secret = secrets_client().get_secret_value(SecretId=secret_id)
    except (ClientError, BotoCoreError) as error:
        code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
        logger.error("ETpay secret unreadable", extra={"error_type": type(error).__name__, "error_code": code})
        raise ConfigurationUnavailable("ETpay credentials are unavailable; retry later") from None
    try:
        values = json.loads(secret.get("SecretString") or "")
    except ValueError:
        # Never log the text: it is the secret.
        logger.error("ETpay secret is not JSON")
        raise ConfigurationUnavailable("ETpay credentials are incomplete") from None
    if not isinstance(values, dict):
        raise ConfigurationUnavailable("ETpay credentials are incomplete")
    try:
        return Credentials.from_mapping(values)
    except InvalidCredentials as error:
        logger.error("ETpay secret incomplete", extra={"problem": str(error)})
        raise ConfigurationUnavailable("ETpay credentials are incomplete") from None

"""Secrets from Secrets Manager, kept in memory for SECRET_MAX_AGE_SECONDS.

A warm function makes no Secrets Manager call per request, and a rotated secret is picked up within
that age. Any secret goes through the same cache: a `SecretKind` says what it is called (for logs
and errors) and how its text becomes a value (a JSON object, a plain string, ETpay's credentials),
and each version stage (AWSCURRENT, AWSPREVIOUS during a rotation) is cached on its own. Only a
value that parsed is kept: once someone fixes an incomplete secret, the next request sees it. The
client has short timeouts: a Secrets Manager outage is a fast 503, not a request held until API
Gateway gives up. (A few lines of our own rather than Powertools' parameters utility, whose package
imports every provider it has at cold start.)

Neither a secret's text nor a parse problem that could quote it ever reaches a log line or an error.
"""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from etpay.credentials import Credentials
from etpay.errors import InvalidCredentials
from payments.adapters.aws import AWS_ERRORS, aws_client, error_code
from payments.domain.errors import ConfigurationUnavailable

logger = Logger(child=True)

# Secrets Manager is read at most once per this many seconds per warm Lambda: a rotated secret
# is picked up within five minutes, with no Secrets Manager call per request.
SECRET_MAX_AGE_SECONDS = 300

CURRENT = "AWSCURRENT"
PREVIOUS = "AWSPREVIOUS"


class UnusableSecret(Exception):
    """A secret's text is not what its kind needs. The message names the problem (a missing
    field, "not JSON"), never the text."""


@dataclass(frozen=True, eq=False)
class SecretKind[T]:
    """A kind of secret: how to parse it and how long to keep it. Each kind is one module-level
    constant, so it compares (and hashes, as part of the cache's keys) by identity."""

    name: str  # e.g. "ETpay credentials": for logs and error messages
    parse: Callable[[str], T]  # raises UnusableSecret
    # How long a read copy is used (None: the store's SECRET_MAX_AGE_SECONDS).
    max_age_seconds: float | None = None


def json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        # RecursionError: JSON nested deeper than the decoder goes.
        raise UnusableSecret("not JSON") from None
    if not isinstance(value, dict):
        raise UnusableSecret("not a JSON object")
    return value


def plain_text(text: str) -> str:
    if not text.strip():
        raise UnusableSecret("empty")
    return text


def _etpay_credentials(text: str) -> Credentials:
    try:
        return Credentials.from_mapping(json_object(text))
    except InvalidCredentials as error:
        raise UnusableSecret(str(error)) from None


ETPAY_CREDENTIALS = SecretKind("ETpay credentials", _etpay_credentials)
# A notification key revoked (its version dropped from the secret) is refused by every warm
# function within this: a leaked key stops working within a minute.
NOTIFICATION_KEY_MAX_AGE_SECONDS = 60
NOTIFICATION_KEY = SecretKind("notification key", plain_text, NOTIFICATION_KEY_MAX_AGE_SECONDS)
# Secrets Manager's answer for a version stage that no version carries (AWSPREVIOUS before the
# first rotation).
NO_SUCH_VERSION_CODES = frozenset({"ResourceNotFoundException"})


def secrets_client() -> Any:
    return aws_client("secretsmanager")


def ahead_client() -> Any:
    return aws_client("secretsmanager", ahead=True)


class SecretStore:
    def __init__(
        self,
        client: Callable[[], Any] = secrets_client,
        max_age_seconds: float = SECRET_MAX_AGE_SECONDS,
        ahead: Callable[[], Any] = ahead_client,
        # Cache ages are durations, not moments: the monotonic clock, which wall-clock jumps never move.
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._client = client
        self._ahead = ahead
        self._max_age_seconds = max_age_seconds
        self._monotonic = monotonic
        self._cache: dict[tuple[str, str, SecretKind[Any]], tuple[Any, float]] = {}
        self._lock = threading.Lock()

    def load[T](self, secret_id: str | None, kind: SecretKind[T], stage: str = CURRENT) -> T:
        value = self._load(secret_id, kind, stage, optional=False)
        assert value is not None  # only an optional stage may be missing
        return value

    def load_optional[T](self, secret_id: str | None, kind: SecretKind[T], stage: str) -> T | None:
        """None when no version of the secret carries `stage` (no AWSPREVIOUS before the first
        rotation); that answer is cached like a value."""
        return self._load(secret_id, kind, stage, optional=True)

    def _load[T](self, secret_id: str | None, kind: SecretKind[T], stage: str, optional: bool) -> T | None:
        if not secret_id:
            raise ConfigurationUnavailable(f"{kind.name} not configured")
        key = (secret_id, stage, kind)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[1] > self._monotonic():
            value: T | None = cached[0]
            return value
        value = self._read(secret_id, kind, stage, optional)
        with self._lock:
            self._cache[key] = (value, self._monotonic() + self._max_age(kind))
        return value

    def _max_age(self, kind: SecretKind[Any]) -> float:
        return kind.max_age_seconds if kind.max_age_seconds is not None else self._max_age_seconds

    def read_ahead(self, secret_id: str | None, kind: SecretKind[Any], stage: str = CURRENT) -> bool:
        """Read a secret ahead of need (while a function starts), with one short attempt. True when
        it is now cached; a failure is only noted, and the first request reads it again with its
        own retries."""
        if not secret_id:
            return False
        try:
            value = self._read(secret_id, kind, stage, optional=stage != CURRENT, client=self._ahead)
        except ConfigurationUnavailable:
            return False
        with self._lock:
            self._cache[(secret_id, stage, kind)] = (value, self._monotonic() + self._max_age(kind))
        return True

    def age_seconds(self, secret_id: str, kind: SecretKind[Any], stage: str = CURRENT) -> float:
        """How long ago the cached copy was read (infinite when there is none)."""
        with self._lock:
            cached = self._cache.get((secret_id, stage, kind))
        if cached is None:
            return float("inf")
        return self._monotonic() - (cached[1] - self._max_age(kind))

    def forget_secret(self, secret_id: str) -> None:
        """Forget every cached version of one secret: the next load reads it again."""
        with self._lock:
            for key in [key for key in self._cache if key[0] == secret_id]:
                del self._cache[key]

    def forget(self) -> None:
        """As if every cached copy had aged out."""
        with self._lock:
            self._cache.clear()

    def _read[T](
        self, secret_id: str, kind: SecretKind[T], stage: str, optional: bool, client: Callable[[], Any] | None = None
    ) -> T | None:
        try:
            secret = (client or self._client)().get_secret_value(SecretId=secret_id, VersionStage=stage)
        except AWS_ERRORS as error:
            code = error_code(error)
            if optional and code in NO_SUCH_VERSION_CODES:
                return None
            # Read ahead of need, a failure costs nothing yet: the request will read it again.
            log = logger.error if client is None else logger.warning
            log(
                "secret unreadable",
                extra={"secret": kind.name, "stage": stage, "error_type": type(error).__name__, "error_code": code},
            )
            raise ConfigurationUnavailable(f"{kind.name} unavailable; retry later") from None
        try:
            return kind.parse(secret.get("SecretString") or "")
        except UnusableSecret as problem:
            logger.error("secret incomplete", extra={"secret": kind.name, "stage": stage, "problem": str(problem)})
            raise ConfigurationUnavailable(f"{kind.name} incomplete") from None


store = SecretStore()

# One secret to read ahead: its id, its kind, its version stage.
AheadRead = tuple[str | None, "SecretKind[Any]", str]


def read_ahead_together(*reads: AheadRead) -> None:
    """Read several secrets ahead at once (SecretStore.read_ahead), each but the first in a thread
    of its own: their waits on Secrets Manager overlap, so a cold start waits for the slowest read
    rather than for their sum. Each read has its one short attempt; none outlasts it."""
    others = [threading.Thread(target=store.read_ahead, args=read, daemon=True) for read in reads[1:]]
    for thread in others:
        thread.start()
    if reads:
        store.read_ahead(*reads[0])
    for thread in others:
        thread.join()


def load_credentials(secret_id: str | None) -> Credentials:
    return store.load(secret_id, ETPAY_CREDENTIALS)

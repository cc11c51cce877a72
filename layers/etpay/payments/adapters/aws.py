"""How the adapters build their AWS clients: short timeouts and a bounded number of attempts, so an
AWS outage is a fast answer to retry (a 503, a failed batch item) rather than a request held until
API Gateway or Lambda gives up. Every client's timeouts are here.

Attempts are counted in all, the first included (botocore's `total_max_attempts`; its
`max_attempts` counts the retries only).

The clients are botocore's, from one botocore session per process: boto3 adds nothing the adapters
use, and importing it imports s3transfer and multiprocessing too, tens of milliseconds of every
cold start.
"""

import threading
from typing import Any, Literal

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# DynamoDB: fail fast, let the caller retry rather than hold API Gateway's 29 s.
DYNAMODB_CONNECT_TIMEOUT_SECONDS = 1
DYNAMODB_READ_TIMEOUT_SECONDS = 2
DYNAMODB_MAX_ATTEMPTS = 3
# Secrets Manager down must mean a fast 503, not a request held until API Gateway gives up.
SECRETS_CONNECT_TIMEOUT_SECONDS = 1
SECRETS_READ_TIMEOUT_SECONDS = 2
SECRETS_MAX_ATTEMPTS = 2
# SQS and EventBridge: as DynamoDB; the event source retries the record or message.
SQS_CONNECT_TIMEOUT_SECONDS = 1
SQS_READ_TIMEOUT_SECONDS = 2
SQS_MAX_ATTEMPTS = 3
EVENTS_CONNECT_TIMEOUT_SECONDS = 1
EVENTS_READ_TIMEOUT_SECONDS = 3
EVENTS_MAX_ATTEMPTS = 3
# The longest one whole DynamoDB attempt can take: what must be left to store a session ETpay opened.
DYNAMODB_ATTEMPT_SECONDS = DYNAMODB_CONNECT_TIMEOUT_SECONDS + DYNAMODB_READ_TIMEOUT_SECONDS
# Work done ahead of need (a secret read while a function starts) gets one short attempt: the
# first request does it again if it failed, and Lambda's init phase has 10 s in all.
AHEAD_CONNECT_TIMEOUT_SECONDS = 0.5
AHEAD_READ_TIMEOUT_SECONDS = 1
AHEAD_MAX_ATTEMPTS = 1

# The services the adapters call.
Service = Literal["dynamodb", "events", "secretsmanager", "sqs"]
TIMEOUTS: dict[Service, tuple[float, float, int]] = {
    "dynamodb": (DYNAMODB_CONNECT_TIMEOUT_SECONDS, DYNAMODB_READ_TIMEOUT_SECONDS, DYNAMODB_MAX_ATTEMPTS),
    "secretsmanager": (SECRETS_CONNECT_TIMEOUT_SECONDS, SECRETS_READ_TIMEOUT_SECONDS, SECRETS_MAX_ATTEMPTS),
    "sqs": (SQS_CONNECT_TIMEOUT_SECONDS, SQS_READ_TIMEOUT_SECONDS, SQS_MAX_ATTEMPTS),
    "events": (EVENTS_CONNECT_TIMEOUT_SECONDS, EVENTS_READ_TIMEOUT_SECONDS, EVENTS_MAX_ATTEMPTS),
}


# One client per service and settings in a process: building one loads botocore's service model
# (tens of milliseconds), and clients are safe to share between threads.
_clients: dict[tuple[Service, bool, tuple[tuple[str, Any], ...]], Any] = {}
_clients_lock = threading.Lock()
_session: botocore.session.Session | None = None


def aws_client(service: Service, ahead: bool = False, **options: Any) -> Any:
    """The process's client of `service`, with its timeouts and attempts (`ahead`: the one short
    attempt of work done ahead of need); `options` are further botocore Config settings."""
    key = (service, ahead, tuple(sorted(options.items())))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            connect_timeout, read_timeout, attempts = TIMEOUTS[service]
            if ahead:
                connect_timeout, read_timeout, attempts = (
                    AHEAD_CONNECT_TIMEOUT_SECONDS,
                    AHEAD_READ_TIMEOUT_SECONDS,
                    AHEAD_MAX_ATTEMPTS,
                )
            config = Config(
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"mode": "standard", "total_max_attempts": attempts},
                **options,
            )
            client = _clients[key] = _locked_session().create_client(service, config=config)
        return client


def forget_clients(credentials: bool = False) -> None:
    """Drop every client (their pooled connections with them): the next call builds them again.
    `credentials`: drop the default session too, and the credentials it resolved (after a
    SnapStart restore, credentials and connections of the snapshot are not to be used)."""
    global _session
    with _clients_lock:
        _clients.clear()
        if credentials:
            _session = None


def session() -> botocore.session.Session:
    """The process's botocore session, which every client comes from (tests register event
    handlers on it)."""
    with _clients_lock:
        return _locked_session()


def use_session(chosen: botocore.session.Session) -> None:
    """Build every client from now on from `chosen` (tests: a session whose handlers stand in for
    AWS)."""
    global _session
    with _clients_lock:
        if _session is not chosen:
            _clients.clear()
            _session = chosen


def _locked_session() -> botocore.session.Session:
    global _session
    if _session is None:
        _session = botocore.session.get_session()
    return _session


def error_code(error: Exception) -> str | None:
    """AWS's error code of a failed call (None for a failure with no answer: a timeout, say)."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code")
        return code if isinstance(code, str) else None
    return None


# What a failed AWS call raises: an answer with an error code, or no answer at all.
AWS_ERRORS = (ClientError, BotoCoreError)

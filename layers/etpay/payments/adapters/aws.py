"""How the adapters build their AWS clients: short timeouts and a bounded number of attempts, so an
AWS outage is a fast answer to retry (a 503, a failed batch item) rather than a request held until
API Gateway or Lambda gives up. Every client's timeouts are here.

Attempts are counted in all, the first included (botocore's `total_max_attempts`; its
`max_attempts` counts the retries only).
"""

from typing import Any, Literal

import boto3
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

# The services the adapters call.
Service = Literal["dynamodb", "events", "secretsmanager", "sqs"]
TIMEOUTS: dict[Service, tuple[float, float, int]] = {
    "dynamodb": (DYNAMODB_CONNECT_TIMEOUT_SECONDS, DYNAMODB_READ_TIMEOUT_SECONDS, DYNAMODB_MAX_ATTEMPTS),
    "secretsmanager": (SECRETS_CONNECT_TIMEOUT_SECONDS, SECRETS_READ_TIMEOUT_SECONDS, SECRETS_MAX_ATTEMPTS),
    "sqs": (SQS_CONNECT_TIMEOUT_SECONDS, SQS_READ_TIMEOUT_SECONDS, SQS_MAX_ATTEMPTS),
    "events": (EVENTS_CONNECT_TIMEOUT_SECONDS, EVENTS_READ_TIMEOUT_SECONDS, EVENTS_MAX_ATTEMPTS),
}


def aws_client(service: Service, **options: Any) -> Any:
    """A client of `service` with its timeouts and attempts; `options` are further botocore
    Config settings."""
    connect_timeout, read_timeout, attempts = TIMEOUTS[service]
    return boto3.client(
        service,
        config=Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"mode": "standard", "total_max_attempts": attempts},
            **options,
        ),
    )


def error_code(error: Exception) -> str | None:
    """AWS's error code of a failed call (None for a failure with no answer: a timeout, say)."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code")
        return code if isinstance(code, str) else None
    return None


# What a failed AWS call raises: an answer with an error code, or no answer at all.
AWS_ERRORS = (ClientError, BotoCoreError)

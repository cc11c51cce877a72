"""ETpay credentials from the Secrets Manager secret named by ETPAY_SECRET_ID.

Powertools' SecretsProvider keeps the value in memory for SECRET_MAX_AGE_SECONDS, so a warm
function makes no Secrets Manager call per request and a rotated secret is picked up within
that age. Its client is ours, with short timeouts: if Secrets Manager is down the caller gets a
fast 503, not a hung request.
"""

import functools

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError
from botocore.config import Config

from etpay import Credentials, InvalidCredentials
from payments.errors import ConfigurationUnavailable
from payments.settings import (
    SECRET_MAX_AGE_SECONDS,
    SECRETS_CONNECT_TIMEOUT_SECONDS,
    SECRETS_MAX_ATTEMPTS,
    SECRETS_READ_TIMEOUT_SECONDS,
)

logger = Logger(child=True)


@functools.cache
def secrets_provider() -> SecretsProvider:
    client = boto3.client(
        "secretsmanager",
        config=Config(
            connect_timeout=SECRETS_CONNECT_TIMEOUT_SECONDS,
            read_timeout=SECRETS_READ_TIMEOUT_SECONDS,
            retries={"mode": "standard", "max_attempts": SECRETS_MAX_ATTEMPTS},
        ),
    )
    return SecretsProvider(boto3_client=client)


def load_credentials(secret_id: str | None) -> Credentials:
    if not secret_id:
        raise ConfigurationUnavailable("ETpay credentials are not configured")
    try:
        values = secrets_provider().get(secret_id, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
    except (GetParameterError, TransformParameterError) as error:
        # The exception text can quote the secret's content on a JSON error: log its type only.
        logger.error("ETpay secret unreadable", extra={"error_type": type(error).__name__})
        raise ConfigurationUnavailable("ETpay credentials are unavailable; retry later") from None
    if not isinstance(values, dict):
        raise ConfigurationUnavailable("ETpay credentials are incomplete")
    try:
        return Credentials.from_mapping(values)
    except InvalidCredentials as error:
        logger.error("ETpay secret incomplete", extra={"problem": str(error)})
        raise ConfigurationUnavailable("ETpay credentials are incomplete") from None

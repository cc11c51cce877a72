"""ETpay credentials from the Secrets Manager secret named by ETPAY_SECRET_ID.

Powertools' parameters utility keeps the value in memory for SECRET_MAX_AGE_SECONDS, so a warm
function makes no Secrets Manager call per request and a rotated secret is picked up within
that age.
"""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities import parameters

from etpay import Credentials, InvalidCredentials
from payments.errors import ConfigurationUnavailable
from payments.settings import SECRET_MAX_AGE_SECONDS

logger = Logger(child=True)


def load_credentials(secret_id: str | None) -> Credentials:
    if not secret_id:
        raise ConfigurationUnavailable("ETpay credentials are not configured")
    try:
        values = parameters.get_secret(secret_id, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
    except (parameters.exceptions.GetParameterError, parameters.exceptions.TransformParameterError) as error:
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

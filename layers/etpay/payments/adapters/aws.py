"""How the service builds its AWS clients: short timeouts and a bounded number of attempts, so an
AWS outage is a fast answer to retry (a 503, a failed batch item) rather than a request held until
API Gateway or Lambda gives up."""

from typing import Any, Literal

import boto3
from botocore.config import Config

# The services the layer calls.
Service = Literal["dynamodb", "events", "secretsmanager", "sqs"]


def aws_client(service: Service, connect_timeout: float, read_timeout: float, attempts: int, **options: Any) -> Any:
    """`attempts` in all, the first included: botocore's total_max_attempts (its `max_attempts`
    counts the retries only). `options` are further botocore Config settings."""
    return boto3.client(
        service,
        config=Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"mode": "standard", "total_max_attempts": attempts},
            **options,
        ),
    )

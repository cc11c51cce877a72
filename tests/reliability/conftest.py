"""The reliability tier's fixtures: AWS's DynamoDB Local and moto's server, and the stack on them."""

from tests.reliability.reliability_stack import dynamodb_local, moto_server, real_stack, run_together  # noqa: F401 - fixtures of this tier

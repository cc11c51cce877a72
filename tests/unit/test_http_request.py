"""The HTTP edge's view of an invocation's remaining time, which POST /sessions checks before it
asks ETpay."""

import math

from payments.http import Request


class LambdaContext:
    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 14_250


class BareContext:
    aws_request_id = "no-deadline"


def test_the_remaining_time_comes_from_lambdas_context():
    assert Request({}, LambdaContext()).remaining_seconds() == 14.25


def test_without_a_lambda_deadline_the_time_is_unbounded():
    assert Request({}).remaining_seconds() == math.inf
    assert Request({}, BareContext()).remaining_seconds() == math.inf

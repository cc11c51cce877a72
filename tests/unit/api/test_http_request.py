"""The HTTP edge: an invocation's remaining time (POST /sessions checks it before it asks ETpay), the
body, unexpected failures, and the deployment's settings it is given."""

import json
import math

import pytest

from payments.api.http import Request, Router, notification_url
from payments.config.settings import Settings
from payments.domain.errors import ConfigurationUnavailable, ValidationFailed


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


def test_a_body_that_claims_base64_but_is_not_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        Request({"body": "not base64!", "isBase64Encoded": True}).body(1024)

    assert refused.value.fields == {"body": "invalid base64 encoding"}


def test_an_unexpected_error_is_a_bare_500_that_tells_nothing():
    router = Router()

    @router.route("GET", "/boom")
    def boom(request):
        raise RuntimeError("secret detail: merchant_api_token=abc")

    response = router.resolve({"httpMethod": "GET", "resource": "/boom"})

    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == {"error": "internal_error", "message": "internal error"}


def test_without_a_domain_there_is_no_notification_url_to_give_etpay():
    settings = Settings.from_environment({"TABLE_NAME": "orders"})

    assert notification_url(Request({}), settings.notification_url) is None


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"TABLE_NAME": " "},
        {"TABLE_NAME": "t", "MAX_ORDER_AMOUNT": "-1"},
        {"TABLE_NAME": "t", "MAX_ORDER_AMOUNT": "1.5"},
        {"TABLE_NAME": "t", "CURRENCY": "USD"},
        {"TABLE_NAME": "t", "CURRENCY": "mxn"},
        {"TABLE_NAME": "t", "SESSION_LIFETIME_SECONDS": "x"},
        {"TABLE_NAME": "t", "RECONCILE_AFTER_SECONDS": "0"},
    ],
)
def test_a_deployment_missing_or_garbling_a_setting_is_not_configured(environ):
    # The payments functions need the orders table; a garbled value refuses every function.
    with pytest.raises(ConfigurationUnavailable):
        Settings.from_environment(environ).require("table_name")

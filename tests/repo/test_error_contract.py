"""Every error code exists in the places that must agree: the domain's errors
(payments/domain/errors.py), the one map from code to HTTP status (payments/api/http.py) and the
contract (openapi.yaml's error enum). Every review reason likewise: payments.domain.orders.ReviewReason
and the contract's enum of `review.reasons`. docs/API.md's tables of both are held to the same
(tests/repo/test_api_doc.py)."""


import yaml

from local.emulator.template import ROOT
from payments.api.http import STATUS_BY_CODE
from payments.app.settlement import REVIEW_METRICS
from payments.domain import errors
from payments.domain.orders import ReviewReason


def domain_codes() -> set[str]:
    return {
        value.code
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.PaymentsError)
    }


def contract_codes() -> set[str]:
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    return set(spec["components"]["schemas"]["Error"]["properties"]["error"]["enum"])


def test_every_error_code_has_one_http_status_and_is_in_the_contract():
    assert domain_codes() == set(STATUS_BY_CODE)
    assert contract_codes() == set(STATUS_BY_CODE)


def test_storage_outages_and_busy_orders_have_their_own_retryable_codes():
    assert errors.StorageUnavailable("x").code == "storage_unavailable"
    assert errors.OrderBusy("x").code == "order_busy"
    assert STATUS_BY_CODE["storage_unavailable"] == STATUS_BY_CODE["order_busy"] == 503
    assert STATUS_BY_CODE["internal_error"] == 500


def contract_review_reasons() -> set[str]:
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    reasons = spec["components"]["schemas"]["Order"]["properties"]["review"]["properties"]["reasons"]["items"]
    assert reasons == {"$ref": "#/components/schemas/ReviewReason"}
    return set(spec["components"]["schemas"]["ReviewReason"]["enum"])


def test_every_review_reason_is_in_the_contract_and_has_its_metric():
    # given the reasons the domain can flag an order for, each counted by a metric of its own
    reasons = {reason.value for reason in ReviewReason}

    # then GET /orders' contract can return each, and each has its metric
    assert contract_review_reasons() == reasons
    assert {reason.value for reason in REVIEW_METRICS} == reasons

"""Every error code exists in four places that must agree: the domain's errors
(payments/domain/errors.py), the one map from code to HTTP status (payments/api/http.py), the
contract (openapi.yaml's error enum) and the README's error table. Every review reason likewise:
payments.domain.orders.ReviewReason, the
contract's enum of `review.reasons`, and the README's table of reasons with their metrics."""

import re

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


def readme_statuses() -> dict[str, int]:
    """The README's error table: `| `code` | status | meaning |`."""
    rows = re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", (ROOT / "README.md").read_text(), flags=re.MULTILINE)
    return {code: int(status) for code, status in rows}


def test_every_error_code_has_one_http_status_and_is_in_the_contract_and_the_readme():
    assert domain_codes() == set(STATUS_BY_CODE)
    assert contract_codes() == set(STATUS_BY_CODE)
    assert readme_statuses() == STATUS_BY_CODE


def test_storage_outages_and_busy_orders_have_their_own_retryable_codes():
    assert errors.StorageUnavailable("x").code == "storage_unavailable"
    assert errors.OrderBusy("x").code == "order_busy"
    assert STATUS_BY_CODE["storage_unavailable"] == STATUS_BY_CODE["order_busy"] == 503
    assert STATUS_BY_CODE["internal_error"] == 500


def readme_review_reasons() -> dict[str, str]:
    """The README's review-reason table: `| `reason` | what happened | `Metric` |`."""
    rows = re.findall(r"^\| `([a-z_]+)` \| [^|]+ \| `([A-Za-z]+)` \|$", (ROOT / "README.md").read_text(), re.MULTILINE)
    return dict(rows)


def contract_review_reasons() -> set[str]:
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    reasons = spec["components"]["schemas"]["Order"]["properties"]["review"]["properties"]["reasons"]["items"]
    assert reasons == {"$ref": "#/components/schemas/ReviewReason"}
    return set(spec["components"]["schemas"]["ReviewReason"]["enum"])


def test_every_review_reason_is_in_the_contract_and_the_readme_with_its_metric():
    # given the reasons the domain can flag an order for, each counted by a metric of its own
    reasons = {reason.value for reason in ReviewReason}
    metrics = {reason.value: metric for reason, metric in REVIEW_METRICS.items()}

    # then GET /orders' contract can return each, and the README explains each with its metric
    assert contract_review_reasons() == reasons
    assert readme_review_reasons() == metrics

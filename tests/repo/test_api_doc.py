"""docs/API.md says what openapi.yaml and the code say: the same routes and methods, each with the
contract's authorization and the function template.yaml routes it to; under each route, every
status and error code the contract gives it; the error table is the code's own map of codes to
statuses (payments.api.http), with the codes that carry Retry-After; the review reasons are the
domain's, each with its metric."""

import re

import pytest
import yaml

from local.emulator.template import ROOT, routes
from payments.api.http import RETRYABLE_CODES, STATUS_BY_CODE
from payments.app.settlement import REVIEW_METRICS
from tests.support.markdown import section

API = ROOT / "docs" / "API.md"
CONTRACT = yaml.safe_load((ROOT / "openapi.yaml").read_text())
# The authorization column, as the contract's security requirements.
AUTHORIZATION: dict[str, list[dict[str, list[str]]]] = {
    "SigV4 or API key": [{"sigv4": []}, {"api_key": []}],
    "SigV4 only": [{"sigv4": []}],
    "none": [],
}
# Every route may answer it; the error table says so once.
ANY_ROUTE = {"500": "internal_error"}


def text() -> str:
    return API.read_text(encoding="utf-8")


def contract_routes() -> dict[tuple[str, str], dict]:
    return {
        (method.upper(), path): operation
        for path, item in CONTRACT["paths"].items()
        for method, operation in item.items()
    }


def route_table() -> dict[tuple[str, str], tuple[str, str]]:
    """(method, path) -> (authorization, function), from the table of routes."""
    rows = re.findall(
        r"^\| `([A-Z]+) (/[^`]*)` \| [^|]+ \| ([^|]+?) \| `(\w+)` \|$",
        section(text(), "## Routes and who calls them"),
        re.MULTILINE,
    )
    return {(method, path): (authorization, function) for method, path, authorization, function in rows}


def route_sections() -> dict[tuple[str, str], str]:
    body = section(text(), "## Routes")
    found = {}
    for match in re.finditer(r"^### `([A-Z]+) (/\S*)`$", body, re.MULTILINE):
        found[(match.group(1), match.group(2))] = section(body, match.group(0))
    return found


def test_the_table_of_routes_is_the_contracts_with_its_authorization_and_the_templates_function():
    table = route_table()
    assert set(table) == set(contract_routes())
    functions = {(route.method, route.path): route.function for route in routes()}
    for route, (authorization, function) in table.items():
        kind = next((name for name in AUTHORIZATION if authorization.startswith(name)), None)
        assert kind is not None, f"{route}: say {sorted(AUTHORIZATION)} first, not {authorization!r}"
        assert contract_routes()[route]["security"] == AUTHORIZATION[kind], route
        assert functions[route] == function, route


def test_every_route_of_the_contract_has_its_section():
    assert set(route_sections()) == set(contract_routes())


@pytest.mark.parametrize("route", sorted(contract_routes()), ids=" ".join)
def test_each_routes_section_gives_every_status_and_error_code_the_contract_gives_it(route):
    described = route_sections()[route]
    responses = contract_routes()[route]["responses"]
    statuses = set(responses) - set(ANY_ROUTE)
    codes = set()
    for status, response in responses.items():
        if "$ref" in response:
            response = CONTRACT["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        if status not in ANY_ROUTE:
            codes |= {code for code in STATUS_BY_CODE if re.search(rf"\b{code}\b", response["description"])}
    missing_statuses = sorted(status for status in statuses if not re.search(rf"\*\*{status}\*\*", described))
    missing_codes = sorted(code for code in codes if f"`{code}`" not in described)
    assert (missing_statuses, missing_codes) == ([], [])


def test_the_error_table_is_the_codes_map_of_codes_to_statuses_and_retries():
    rows = re.findall(
        r"^\| `([a-z_]+)` \| (\d{3}) \| (retry|no) \| [^|]+ \|$", section(text(), "## Errors"), re.MULTILINE
    )
    assert {code: int(status) for code, status, _ in rows} == STATUS_BY_CODE
    assert {code for code, _, retry in rows if retry == "retry"} == {
        code for code, status in STATUS_BY_CODE.items() if code in RETRYABLE_CODES or status == 503
    }


def test_every_review_reason_is_explained_with_its_metric():
    rows = re.findall(
        r"^\| `([a-z_]+)` \| [^|]+ \| `([A-Za-z]+)` \|$", section(text(), "### Flagged for review"), re.MULTILINE
    )
    assert dict(rows) == {reason.value: metric for reason, metric in REVIEW_METRICS.items()}

"""The whole HTTP contract fuzzed from `openapi.yaml` with Schemathesis against the local stack.

Every operation gets the contract's examples, its boundary cases and generated requests, both
conforming (positive) and invalid (negative) ones. For each request: never a 5xx (ETpay's sandbox
and storage are healthy throughout, so no 5xx is legitimate), every answer is one the contract
documents, every error body is `{"error": <a documented code>, "message": ...}`, and a rejected
request (4xx) stored nothing and never reached ETpay."""

import copy
import json
from pathlib import Path
from typing import Any

import schemathesis
import yaml
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CONTRACT_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"
# Fixed, so CI sends the same requests every run; bounded, so the file runs in about a minute.
FUZZ_SEED = 20_240_604
MAX_EXAMPLES_PER_OPERATION = 60
# A bound on waiting for one answer, not a performance assertion.
HTTP_TIMEOUT_SECONDS = 30.0
# Schemathesis' response checks, plus its judgement of what must be accepted (positive data never
# refused with 400) or rejected (negative data never accepted). Not max_response_time: no timings.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    positive_data_acceptance,
    negative_data_rejection,
]


# Parameters that only this API can make: an opaque page cursor is valid when GET /reviews returned
# it, which no schema can say. A generated value that fits the contract's pattern is therefore
# refused (400 naming the parameter and nothing else) rather than accepted; every other parameter
# of the operation is still held to positive_data_acceptance by the check below.
OPAQUE_PARAMETERS = {"GET /reviews": "cursor"}


def local_contract(contract: dict[str, Any], currency: str = "CLP") -> dict[str, Any]:
    """The contract as the local stack serves it: at the root, without the stage prefix, and with
    the request body of its currency's POST /sessions (the contract's SessionRequest is anyOf the
    CLP and the MXN one; a stack takes one of them)."""
    local = copy.deepcopy(contract)
    local["servers"] = [{"url": "/"}]
    schemas = local["components"]["schemas"]
    (request,) = [schema for schema in schemas.values() if schema.get("x-currency") == currency]
    schemas["SessionRequest"] = copy.deepcopy(request)
    return local


CONTRACT = yaml.safe_load(CONTRACT_PATH.read_text(encoding="utf-8"))
ERROR_CODES = frozenset(CONTRACT["components"]["schemas"]["Error"]["properties"]["error"]["enum"])


def fuzz_config() -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": FUZZ_SEED,
            # Hypothesis' only timing judgement; a busy CI machine must not fail the run.
            "suppress-health-check": ["too_slow"],
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES_PER_OPERATION,
                "deterministic": True,
                "database": "none",
                # Locally every route is open (AWS_IAM / API keys are deployed-only): made-up
                # credentials would be ignored, not tested.
                "with-security-parameters": False,
            },
            "phases": {
                "examples": {"enabled": True},
                # Methods the contract does not declare are answered by API Gateway, not by us.
                "coverage": {"enabled": True, "unexpected-methods": []},
                "fuzzing": {"enabled": True},
            },
        }
    )


schema = schemathesis.openapi.from_dict(local_contract(CONTRACT), config=fuzz_config())
# An MXN stack differs in what POST /sessions takes (Mexico's fields, mx_ banks, its amount limit):
# that operation is fuzzed against one as well.
mx_schema = schemathesis.openapi.from_dict(local_contract(CONTRACT, "MXN"), config=fuzz_config()).include(
    path="/sessions"
)


@schema.parametrize()
def test_api_fuzz(case, fuzzed_stack, stack_probe, example_tally):
    check_case(case, fuzzed_stack, stack_probe, example_tally)


@mx_schema.parametrize()
def test_mxn_sessions_fuzz(case, mx_fuzzed_stack, mx_stack_probe, example_tally):
    check_case(case, mx_fuzzed_stack, mx_stack_probe, example_tally, label="MXN ")


def check_case(case, fuzzed_stack, stack_probe, example_tally, label: str = "") -> None:
    # given what the stack stores and what ETpay received so far
    before = stack_probe.state()
    if case.meta is not None:
        example_tally.count(label + case.operation.label, case.meta.generation.mode.value, case.meta.phase.name.value)

    # when the generated request is sent
    response = case.call(base_url=fuzzed_stack.api_url, timeout=HTTP_TIMEOUT_SECONDS)

    # then the answer is one the contract allows ...
    opaque = OPAQUE_PARAMETERS.get(case.operation.label)
    checks = [check for check in CHECKS if check is not positive_data_acceptance] if opaque else CHECKS
    case.validate_response(response, checks=checks)
    if opaque and case.meta is not None and case.meta.generation.mode.is_positive:
        body = json_or_none(response.text) if response.status_code == 400 else None
        refused_for = set(body.get("fields", {})) if isinstance(body, dict) else set()
        assert response.status_code < 400 or refused_for == {opaque}, (
            f"valid data refused ({response.status_code}) for more than {opaque}: {response.text[:200]!r}\n"
            f"{case.as_curl_command()}"
        )
        assert response.status_code != 400 or (case.query or {}).get(opaque) is not None
    if response.status_code < 400:
        return
    # ... an error is always our error body ...
    body = json_or_none(response.text)
    assert isinstance(body, dict) and body.get("error") in ERROR_CODES and isinstance(body.get("message"), str), (
        f"{response.status_code} is not our error body: {response.text[:200]!r}\n{case.as_curl_command()}"
    )
    # ... and a rejected request changed nothing, here or at ETpay
    if response.status_code < 500:
        change = stack_probe.state().changes_since(before, transitions_after=before.taken_at)
        assert not change, f"{response.status_code} {body['error']} changed {change}\n{case.as_curl_command()}"


def json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None

"""The operator CLI's own rules (ops/): what it refuses before sending is what the contract
refuses, where it finds the API and the region it signs for, and what it prints."""

import io
import json
from datetime import UTC, datetime

import botocore.session
import pytest
import yaml
from botocore.stub import Stubber

from local.emulator.template import ROOT
from ops import render, rules, target
from ops.cli import main

SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text())
SCHEMAS = SPEC["components"]["schemas"]
EXECUTE_API = "https://abc123.execute-api.sa-east-1.amazonaws.com/production"
POLICY_ARN = "arn:aws:iam::123456789012:policy/payments-OperatorApiPolicy-1A2B3C"


def test_the_local_rules_are_the_contracts_own():
    reviews = {parameter["name"]: parameter["schema"] for parameter in SPEC["paths"]["/reviews"]["get"]["parameters"]}
    note = SCHEMAS["ReviewResolution"]["properties"]["note"]

    assert list(rules.RESOLUTIONS) == SCHEMAS["Resolution"]["enum"]
    assert (note["minLength"], note["maxLength"]) == (1, rules.MAX_NOTE_CHARS)
    assert f"^{rules.ORDER_ID_PATTERN.pattern}$" == SCHEMAS["MerchantOrderId"]["pattern"]
    assert f"^{rules.EVENT_ID_PATTERN.pattern}$" == SCHEMAS["EventId"]["pattern"]
    assert f"^{rules.CURSOR_PATTERN.pattern}$" == reviews["cursor"]["pattern"]
    assert reviews["cursor"]["maxLength"] == rules.MAX_CURSOR_CHARS
    assert reviews["limit"]["maximum"] == rules.MAX_PAGE_SIZE


RESOLVE = ["resolve", "OC-1", "--resolution", "refunded", "--note"]


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        ([*RESOLVE, ""], "note"),
        ([*RESOLVE, "x" * 1001], "note"),
        ([*RESOLVE, "a byte that was not UTF-8: \udcff"], "note"),
        (["resolve", "OC/1", "--resolution", "refunded", "--note", "checked"], "merchant_order_id"),
        (["resolve", "OC-1", "--resolution", "refund", "--note", "checked"], "--resolution"),
        (["order", "../reviews"], "merchant_order_id"),
        (["redeliver", "evt_123"], "event_id"),
        (["reviews", "--cursor", "not/a/cursor"], "cursor"),
        (["reviews", "--limit", "0"], "--limit"),
    ],
)
def test_what_the_api_would_refuse_is_refused_in_one_line_before_anything_is_sent(argv, named, monkeypatch):
    monkeypatch.delenv(target.ENVIRONMENT_VARIABLE, raising=False)
    out, err = io.StringIO(), io.StringIO()

    # no API named anywhere: had the input been accepted, the API would be looked for (status 1)
    status = main(argv, out=out, err=err)

    assert status == 2
    assert out.getvalue() == ""
    [line] = err.getvalue().splitlines()
    assert line.startswith("ops: ") and named in line and target.ENVIRONMENT_VARIABLE not in line


def test_the_api_url_and_the_region_its_requests_are_signed_for():
    found = target.find_target(EXECUTE_API + "/", None, {}, None, None)
    assert (found.base_url, found.region) == (EXECUTE_API, "sa-east-1")
    # a custom domain says no region: the configured one (AWS_DEFAULT_REGION here), or --region
    custom = target.find_target(None, None, {target.ENVIRONMENT_VARIABLE: "https://pay.example.com"}, None, None)
    assert (custom.base_url, custom.region) == ("https://pay.example.com", "us-east-1")
    assert target.find_target(EXECUTE_API, None, {}, None, "eu-west-1").region == "eu-west-1"


@pytest.mark.parametrize(
    "url",
    [
        "http://pay.example.com/sandbox",
        "https://ana:hunter2@pay.example.com",
        "https://pay.example.com/?stage=x",
        "ftp://x",
    ],
)
def test_an_api_url_that_would_expose_a_signature_or_mislead_is_refused_without_repeating_it(url):
    with pytest.raises(target.TargetError) as refused:
        target.base_url(url)

    assert url not in str(refused.value) and "hunter2" not in str(refused.value)


def test_the_api_is_named_once():
    with pytest.raises(target.TargetError, match="not both"):
        target.find_target(EXECUTE_API, "payments", {}, None, None)
    with pytest.raises(target.TargetError, match=target.ENVIRONMENT_VARIABLE):
        target.find_target(None, None, {}, None, None)


def test_stack_reads_the_api_url_and_the_operators_policy_from_the_stacks_outputs(monkeypatch):
    client = botocore.session.Session().create_client("cloudformation", region_name="us-east-1")
    outputs = [
        {"OutputKey": "ApiBaseUrl", "OutputValue": EXECUTE_API},
        {"OutputKey": "OperatorApiPolicyArn", "OutputValue": POLICY_ARN},
    ]
    created = datetime(2026, 1, 5, tzinfo=UTC)
    stack = {"StackName": "payments", "CreationTime": created, "StackStatus": "UPDATE_COMPLETE"}
    stubbed = Stubber(client)
    stubbed.add_response("describe_stacks", {"Stacks": [{**stack, "Outputs": outputs}]}, {"StackName": "payments"})
    stubbed.add_client_error("describe_stacks", "ValidationError", "Stack with id gone does not exist")
    monkeypatch.setattr(target, "cloudformation_client", lambda session, region: client)

    with stubbed:
        found = target.find_target(None, "payments", {}, None, None)
        with pytest.raises(target.TargetError, match="ValidationError: Stack with id gone does not exist"):
            target.find_target(None, "gone", {}, None, None)

    assert (found.base_url, found.region, found.policy_arn) == (EXECUTE_API, "sa-east-1", POLICY_ARN)
    stubbed.assert_no_pending_responses()


def test_only_the_fields_named_are_printed_and_a_note_only_when_asked_for():
    order = {
        "merchant_order_id": "OC-1",
        "status": "PAID",
        "session_token": "session-token-x",
        "payment_url": "https://pmt.example/session/session-token-x",
        "payment_token": "payment-token-y",
        "a_field_added_later": "z",
        "reviews": [{"number": 1, "state": "resolved", "resolution": "refunded", "note": "refunded in ETpay"}],
    }

    hidden = json.dumps(render.public_order(order, notes=False))
    shown = render.public_order(order, notes=True)

    assert not any(text in hidden for text in ("session-token-x", "payment-token-y", "refunded in ETpay", "later"))
    assert shown["reviews"][0]["note"] == "refunded in ETpay" and "session-token-x" not in json.dumps(shown)


def test_text_from_the_api_cannot_drive_the_terminal_and_columns_have_fixed_widths():
    assert render.clean("a\x1b[2Jb\nc\u202ed") == "a\\x1b[2Jb\\nc\\u202ed"
    assert render.table(("order", "status"), [["OC-1", "PAID"], ["OC-700104", "FAIL\nED"]]).splitlines() == [
        "ORDER      STATUS",
        "OC-1       PAID",
        "OC-700104  FAIL\\nED",
    ]

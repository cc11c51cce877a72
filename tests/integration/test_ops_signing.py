"""The operator CLI's requests as API Gateway receives them: signed with SigV4 from the operator's
AWS identity (checked on the server's side of the wire, by recomputing the signature), and each
refusal API Gateway itself can answer (a 403, a 5xx that is not the API's JSON) said in one line.
The answers here are queued by the test; tests/e2e/test_ops_cli.py runs the CLI on the local stack."""

import io
from dataclasses import replace
from datetime import UTC, datetime

import botocore.session
import pytest
from botocore.credentials import ReadOnlyCredentials
from botocore.stub import Stubber

from ops import target
from ops.cli import POLICY, main
from tests.support.signed_requests import RecordingServer, secrets_of, sign_as, signature_problems

EVENT_ID = "evt_" + "0123456789abcdef" * 2
QUEUED = {
    "merchant_order_id": "OC-1",
    "order_amount": 50_000,
    "currency": "CLP",
    "status": "PAID",
    "review": {"number": 1, "state": "open", "opened_at": "2026-01-05T10:00:00.000Z", "reasons": []},
}
RESOLVED = {**QUEUED, "review": {"required": False, "reasons": []}, "reviews": [{"number": 1, "state": "resolved"}]}
REDELIVERED = {"id": EVENT_ID, "type": "payment.succeeded", "data": {"order": QUEUED}, "delivery": {"state": "pending"}}
MISMATCH = "the signature does not match the request as received"
IAM_REFUSAL = (
    "User: arn:aws:sts::123456789012:assumed-role/Support/ana is not authorized to perform: execute-api:Invoke on "
    "resource: arn:aws:execute-api:us-east-1:123456789012:abc123/sandbox/GET/reviews"
)


@pytest.fixture
def server():
    with RecordingServer() as running:
        yield running


def ops(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out=out, err=err, answers=io.StringIO())
    return status, out.getvalue(), err.getvalue()


def test_every_request_carries_a_sigv4_signature_of_what_arrives(server, monkeypatch):
    operator = sign_as(monkeypatch)
    server.answer_next(200, {"reviews": [QUEUED], "next_cursor": "c2Vjb25kLXBhZ2U"})
    server.answer_next(200, {"reviews": []})
    server.answer_next(200, RESOLVED)
    server.answer_next(202, REDELIVERED)
    api = ["--api", server.url + "/sandbox"]

    printed = [
        ops(*api, "reviews"),
        ops(*api, "resolve", "OC-1", "--resolution", "refunded", "--note", "refunded in ETpay", "--yes"),
        ops(*api, "redeliver", EVENT_ID),
    ]

    assert [status for status, _, _ in printed] == [0, 0, 0]
    assert [(request.method, request.target) for request in server.received] == [
        ("GET", "/sandbox/reviews?limit=100"),
        ("GET", "/sandbox/reviews?limit=100&cursor=c2Vjb25kLXBhZ2U"),
        ("POST", "/sandbox/orders/OC-1/review"),
        ("POST", f"/sandbox/events/{EVENT_ID}/redeliver"),
    ]
    assert [signature_problems(request, operator, "us-east-1") for request in server.received] == [[]] * 4
    assert not any(secret in out + err for _, out, err in printed for secret in secrets_of(operator))


def test_the_signature_check_fails_a_request_changed_after_signing(server, monkeypatch):
    operator = sign_as(monkeypatch)
    server.answer_next(200, RESOLVED)
    ops("--api", server.url, "resolve", "OC-1", "--resolution", "refunded", "--note", "checked", "--yes")
    [sent] = server.received

    other_body = replace(sent, body=sent.body.replace(b"refunded", b"no_action_needed"))
    other_order = replace(sent, target=sent.target.replace("OC-1", "OC-2"))
    other_key = ReadOnlyCredentials(operator.access_key, "another-secret", operator.token)

    assert signature_problems(sent, operator, "us-east-1") == []
    assert signature_problems(other_body, operator, "us-east-1") == [MISMATCH]
    assert signature_problems(other_order, operator, "us-east-1") != []
    assert signature_problems(sent, other_key, "us-east-1") != []
    assert signature_problems(sent, operator, "eu-west-1") != []


def test_a_403_says_which_policy_the_operators_identity_needs(server, monkeypatch):
    # given a stack whose outputs name the API (here, this server) and the operators' policy
    operator = sign_as(monkeypatch)
    policy_arn = "arn:aws:iam::123456789012:policy/payments-OperatorApiPolicy-1A2B3C"
    client = botocore.session.Session().create_client("cloudformation", region_name="us-east-1")
    outputs = [
        {"OutputKey": "ApiBaseUrl", "OutputValue": server.url + "/sandbox"},
        {"OutputKey": "OperatorApiPolicyArn", "OutputValue": policy_arn},
    ]
    created = datetime(2026, 1, 5, tzinfo=UTC)
    stack = {"StackName": "payments", "CreationTime": created, "StackStatus": "UPDATE_COMPLETE", "Outputs": outputs}
    stubbed = Stubber(client)
    stubbed.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "payments"})
    monkeypatch.setattr(target, "cloudformation_client", lambda session, region: client)
    # and API Gateway refusing the operator's identity
    server.answer_next(403, {"Message": IAM_REFUSAL}, {"x-amzn-ErrorType": "AccessDeniedException:http://internal"})

    with stubbed:
        status, out, err = ops("--stack", "payments", "reviews")

    assert (status, out) == (1, "")
    [line] = err.splitlines()
    assert line.startswith("ops: GET /sandbox/reviews -> 403 AccessDeniedException: User: arn:aws:sts::")
    assert f"needs {POLICY}: {policy_arn} attached" in line
    assert signature_problems(server.received[0], operator, "us-east-1") == []


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (504, {"message": "Endpoint request timed out"}, "504 http_504: Endpoint request timed out"),
        (502, b"<html>Bad Gateway</html>", "502 http_502: the answer is not the API's JSON"),
        (200, b"[]", "200 http_200: the answer is not the API's JSON"),
    ],
)
def test_an_answer_that_is_not_the_apis_is_one_line(server, monkeypatch, status, body, said):
    sign_as(monkeypatch)
    server.answer_next(status, body)

    code, out, err = ops("--api", server.url, "order", "OC-1")

    assert (code, out) == (1, "")
    assert err.splitlines() == [f"ops: GET /orders/OC-1 -> {said}"]


def test_without_aws_credentials_only_the_local_stack_is_called(server, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    server.answer_next(200, {"reviews": []})

    remote = ops("--api", "https://abc123.execute-api.us-east-1.amazonaws.com/sandbox", "reviews")
    local = ops("--api", server.url, "reviews")

    assert remote[0] == 1 and remote[2].startswith("ops: no AWS credentials found")
    # the local stack ignores auth: its requests are signed all the same, with a stand-in pair
    assert local[:2] == (0, "No order has an open review.\n")
    stand_in = ReadOnlyCredentials(target.LOCAL_ACCESS_KEY, target.LOCAL_SECRET_KEY, None)
    assert [signature_problems(request, stand_in, "us-east-1") for request in server.received] == [[]]


def test_with_an_api_key_the_merchants_routes_carry_it_and_the_review_routes_never(server, monkeypatch):
    sign_as(monkeypatch)
    key = "k" * 40
    monkeypatch.setenv("ETPAY_OPS_API_KEY", key)
    server.answer_next(200, {"reviews": []})
    server.answer_next(200, QUEUED)
    server.answer_next(200, {"events": []})
    server.answer_next(202, REDELIVERED)
    api = ["--api", server.url + "/sandbox"]

    printed = [ops(*api, "reviews"), ops(*api, "order", "OC-1"), ops(*api, "redeliver", EVENT_ID)]

    assert [status for status, _, _ in printed] == [0, 0, 0]
    keys = {request.target.split("?")[0]: request.headers.get("x-api-key") for request in server.received}
    assert keys == {
        "/sandbox/reviews": None,
        "/sandbox/orders/OC-1": key,
        "/sandbox/orders/OC-1/events": key,
        f"/sandbox/events/{EVENT_ID}/redeliver": key,
    }
    assert not any(key in out + err for _, out, err in printed)


def test_a_403_on_a_merchants_route_says_an_api_key_stack_needs_its_key(server, monkeypatch):
    sign_as(monkeypatch)
    monkeypatch.delenv("ETPAY_OPS_API_KEY", raising=False)
    server.answer_next(403, {"message": "Forbidden"}, headers={"x-amzn-ErrorType": "ForbiddenException"})

    status, _, err = ops("--api", server.url + "/sandbox", "order", "OC-1")

    assert status == 1
    assert "ETPAY_OPS_API_KEY" in err

"""The operator CLI (python -m ops) against the local stack over HTTP: a flagged order in the
review queue, shown, resolved and gone from the queue; a webhook redelivered; the API's refusals in
one line. Every request goes through a recording server on 127.0.0.1, which checks its SigV4
signature as it arrives, and nothing the CLI prints holds a credential, a signature or a session's
tokens."""

import io
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field

import pytest

from ops import commands
from ops.cli import main
from tests.e2e.test_local_cli import REPO_ROOT
from tests.support.signed_requests import RecordingServer, secrets_of, sign_as, signature_problems

REGION = "us-east-1"
NOTE = "Refunded the first session's payment in ETpay, ticket OPS-17"
WAIT = 15.0
NOT_FOUND = "ops: GET /orders/E2E-NO-SUCH-ORDER -> 404 not_found: no order E2E-NO-SUCH-ORDER"


@dataclass
class Ops:
    """Runs the CLI in this process against the recording server; keeps all it printed."""

    server: RecordingServer
    printed: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)  # the sessions' tokens: never to be printed

    def __call__(self, *argv: str, answers: str = "", base: str = "") -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        status = main(["--api", self.server.url + base, *argv], out=out, err=err, answers=io.StringIO(answers))
        self.printed += [out.getvalue(), err.getvalue()]
        return status, out.getvalue(), err.getvalue()

    def json(self, *argv: str) -> dict:
        status, out, err = self(*argv, "--json")
        assert status == 0, err
        return json.loads(out)

    def wait_for_event(self, order_id: str, kind: str, state: str) -> dict:
        """The order's event of this type once its webhook delivery is in `state` (events are
        published from the table's stream, a moment after the transition)."""
        deadline = time.monotonic() + WAIT
        while True:
            events = self.json("order", order_id)["events"]
            found = [event for event in events if event["type"] == kind and event["delivery"]["state"] == state]
            if found or time.monotonic() > deadline:
                assert found, events
                return found[0]
            time.sleep(0.2)


@pytest.fixture
def ops(local_stack, monkeypatch):
    operator = sign_as(monkeypatch)
    with RecordingServer(upstream=local_stack.api_url) as server:
        runner = Ops(server)
        yield runner
    # every request the CLI made carried a good SigV4 signature, checked as it arrived
    assert [signature_problems(request, operator, REGION) for request in server.received] == [[]] * len(server.received)
    printed = "\n".join(runner.printed)
    assert not [secret for secret in [*secrets_of(operator), *runner.tokens] if secret in printed]
    assert "authorization" not in printed.lower() and "x-amz-security-token" not in printed.lower()


def flag_double_payment(http_api, etpay, ops: Ops, order_id: str) -> None:
    """The double-payment scenario's steps: a first session fails, a second pays the order, then
    ETpay reports the first paid after all. The order stays PAID and is flagged for review."""
    first = http_api.open_session(order_id)["session_token"]
    assert etpay.complete(first, "failed")["delivery_status"] == 200
    second = http_api.create_session(order_id)
    assert second.status == 201, second.body
    assert etpay.complete(second.body["session_token"], "paid")["delivery_status"] == 200
    status, _ = etpay.deliver(etpay.notification_jwt(first, "paid"), etpay.session(first).webhook_url)
    order = http_api.get_order(order_id).body
    assert status == 200 and "possible_double_payment" in order["review"]["reasons"], order
    ops.tokens += [first, second.body["session_token"], order["payment_token"]]


def test_a_flagged_order_is_listed_shown_resolved_and_leaves_the_queue(ops, http_api, etpay, order_id, monkeypatch):
    # given two flagged orders, and pages of one order each, so that listing follows the cursor
    flag_double_payment(http_api, etpay, ops, order_id)
    flag_double_payment(http_api, etpay, ops, order_id + "-2")
    monkeypatch.setattr(commands, "PAGE_SIZE", 1)

    # the queue lists both, page after page
    status, listed, _ = ops("reviews")
    assert status == 0 and order_id in listed and order_id + "-2" in listed and "possible_double_payment" in listed
    assert sum("cursor=" in request.target for request in ops.server.received) >= 1
    [queued] = [entry for entry in ops.json("reviews")["reviews"] if entry["merchant_order_id"] == order_id]
    assert {raised["reason"] for raised in queued["review"]["reasons"]} >= {"possible_double_payment"}

    # the order, its open review and its events with their webhook delivery
    ops.wait_for_event(order_id, "order.review_required", "delivered")
    status, shown, _ = ops("order", order_id)
    assert status == 0 and "open review: " in shown and "possible_double_payment" in shown
    assert "order.review_required" in shown and "delivered" in shown

    # resolving asks first: no answer (or no) sends nothing
    sent = len(ops.server.received)
    status, _, err = ops("resolve", order_id, "--resolution", "refunded", "--note", NOTE, answers="\n")
    assert status == 1 and err.splitlines()[-1].startswith("ops: not resolved: not confirmed")
    assert [request.method for request in ops.server.received[sent:]] == ["GET"]

    # yes records it; the note is not repeated
    status, out, err = ops("resolve", order_id, "--resolution", "refunded", "--note", NOTE, answers="y\n")
    assert status == 0, err
    assert "possible_double_payment" in err and "Record its resolution as refunded? [y/N]" in err
    assert out.startswith(f"Resolved review #1 of order {order_id} as refunded (by unauthenticated at ")
    assert NOTE not in out + err

    # it is gone from the queue; the order shows the resolved review with its note
    assert order_id not in [entry["merchant_order_id"] for entry in ops.json("reviews")["reviews"]]
    status, shown, _ = ops("order", order_id)
    assert status == 0 and "open review: none" in shown and "refunded" in shown and f"note #1: {NOTE}" in shown

    # a second resolution: the API's 409, in one line
    status, out, err = ops("resolve", order_id, "--resolution", "refunded", "--note", NOTE, "--yes")
    assert (status, out) == (1, "")
    conflict = f"ops: POST /orders/{order_id}/review -> 409 no_open_review: order {order_id} has no open review"
    assert err.splitlines() == [conflict]

    # the other order, without a question, as JSON (which has no note either); the queue is left
    # as it was found
    other = ["resolve", order_id + "-2", "--resolution", "no_action_needed", "--note", NOTE, "--yes", "--json"]
    status, out, _ = ops(*other)
    assert status == 0 and json.loads(out)["order"]["reviews"][-1]["resolution"] == "no_action_needed"
    assert NOTE not in out


def test_redeliver_queues_the_webhook_again(ops, http_api, etpay, local_stack, order_id):
    session = http_api.open_session(order_id)
    assert etpay.complete(session["session_token"], "paid")["delivery_status"] == 200
    ops.tokens += [session["session_token"], etpay.session(session["session_token"]).payment_token]
    event = ops.wait_for_event(order_id, "payment.succeeded", "delivered")
    webhooks = local_stack.webhooks
    seen = len(webhooks.received)

    status, out, err = ops("redeliver", event["id"])

    assert status == 0, err
    assert out.startswith(f"Queued the webhook of {event['id']} (payment.succeeded, order {order_id}) again. ")
    again = webhooks.wait_for(lambda hook: hook.id == event["id"] and webhooks.received.index(hook) >= seen, WAIT)
    assert again is not None and again.verified


@pytest.mark.parametrize(
    ("resolution", "note", "field_name"),
    [
        ("refunded", "", "note"),
        ("refunded", "x" * 1001, "note"),
        ("refunded", "bad \udcff", "note"),
        ("refund", "ok", "resolution"),
    ],
)
def test_what_the_api_refuses_is_refused_before_sending(ops, http_api, order_id, resolution, note, field_name):
    http_api.open_session(order_id)

    status, _, err = ops("resolve", order_id, "--resolution", resolution, "--note", note, "--yes")
    body = json.dumps({"resolution": resolution, "note": note})
    answer = http_api.request("POST", f"/orders/{order_id}/review", body)

    assert status == 2 and len(err.splitlines()) == 1 and field_name in err
    assert ops.server.received == []
    assert (answer.status, answer.error, list(answer.body["fields"])) == (400, "validation_error", [field_name])


def test_the_apis_refusals_are_one_line_and_a_non_zero_exit(ops):
    status, out, err = ops("order", "E2E-NO-SUCH-ORDER")
    assert (status, out) == (1, "")
    assert err.splitlines() == [NOT_FOUND]

    # API Gateway's 403 for a path it lacks (here: a stage in the URL, which the local API has not)
    status, out, err = ops("reviews", base="/sandbox")
    assert (status, out) == (1, "")
    [line] = err.splitlines()
    assert line.startswith("ops: GET /sandbox/reviews -> 403 MissingAuthenticationTokenException: ")
    assert "stack's ApiBaseUrl" in line and "needs the stack's OperatorApiPolicy" in line


def test_python_m_ops_exits_non_zero_with_one_line_and_no_traceback(ops):
    run = subprocess.run(
        [sys.executable, "-m", "ops", "order", "E2E-NO-SUCH-ORDER", "--api", ops.server.url],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    ops.printed += [run.stdout, run.stderr]
    assert (run.returncode, run.stdout) == (1, "")
    assert run.stderr.splitlines() == [NOT_FOUND]
    assert [request.target for request in ops.server.received] == ["/orders/E2E-NO-SUCH-ORDER"]

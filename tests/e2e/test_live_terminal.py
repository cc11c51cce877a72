"""The live terminal of `make local` (local/terminal.py): a line per request the local API answers
and per scheduled reconciliation, for every order, without tokens, query strings, bodies or payer
data."""

import time

import pytest
import urllib3

from local.demo.terminal import LiveTerminal, describe_counts, notification_claims
from local.stack import LocalStack

RECONCILE = "ReconcileFunction"
# How long a test waits for a reconciliation to settle an order (each run takes milliseconds).
SETTLE_TIMEOUT_SECONDS = 30


@pytest.fixture
def lines(local_stack):
    """What the terminal printed while the test ran against the shared stack."""
    printed: list[str] = []
    terminal = LiveTerminal(printed.append, local_stack.call, local_stack.invoke)
    local_stack.api.observer = terminal.observe
    yield printed
    local_stack.api.observer = None


def _lines_about(printed: list[str], text: str) -> list[str]:
    return [line for line in printed if text in line]


def test_every_order_gets_a_line_per_request_with_its_state(lines, http_api, etpay, order_id):
    session = http_api.open_session(order_id)
    etpay.complete(session["session_token"], "paid")
    http_api.get_order(order_id)

    about = [line.split("] ", 1)[1] for line in _lines_about(lines, order_id)]
    assert about == [
        f"POST /sessions -> 201  order {order_id} PENDING",
        f"POST /notifications -> 200  order {order_id} PAID",
        f"GET /orders/{order_id} -> 200  order {order_id} PAID",
    ]


def test_a_failed_payment_and_errors_are_shown_with_their_code(lines, http_api, etpay, order_id):
    session = http_api.open_session(order_id)
    etpay.complete(session["session_token"], "failed")
    http_api.create_session(order_id, order_amount=1)
    http_api.get_order(f"{order_id}-missing")
    http_api.request("POST", "/sessions", "{not json", {"Content-Type": "application/json"})

    assert _lines_about(lines, "POST /notifications -> 200")[-1].endswith(f"order {order_id} FAILED")
    assert _lines_about(lines, "-> 409")[-1].endswith(f"order_amount_mismatch (order {order_id})")
    assert _lines_about(lines, "-> 404")[-1].endswith(f"not_found (order {order_id}-missing)")
    assert _lines_about(lines, "-> 400")[-1].endswith("validation_error")


def test_a_notification_that_does_not_verify_names_no_order(lines, http_api, etpay, order_id):
    session = http_api.open_session(order_id)
    forged = etpay.notification_jwt(session["session_token"], "paid", merchant_amount=1)
    tampered = forged[:-4] + ("AAAA" if not forged.endswith("AAAA") else "BBBB")

    assert http_api.notify(tampered).status == 401
    assert lines[-1].endswith("POST /notifications -> 401  invalid_notification")


def test_a_page_polling_an_unchanged_order_is_printed_once(lines, http_api, etpay, order_id):
    session = http_api.open_session(order_id)
    for _ in range(3):
        http_api.get_order(order_id)
    etpay.complete(session["session_token"], "paid")
    for _ in range(2):
        http_api.get_order(order_id)

    gets = [line.split("] ", 1)[1] for line in _lines_about(lines, f"GET /orders/{order_id}")]
    assert gets == [
        f"GET /orders/{order_id} -> 200  order {order_id} PENDING",
        f"GET /orders/{order_id} -> 200  order {order_id} PAID",
    ]


def test_no_token_query_string_or_body_is_printed(lines, http_api, etpay, order_id):
    session = http_api.open_session(order_id, customer_email="payer@example.com", user_rut="111111111")
    result = etpay.complete(session["session_token"], "paid")
    http_api.request("GET", f"/orders/{order_id}?token={session['session_token']}")
    http_api.request("GET", "/elsewhere?secret=do-not-print")

    printed = "\n".join(lines)
    signature_token = etpay.sessions[session["session_token"]].signature_token
    for secret in (session["session_token"], signature_token, result["jwt"], "do-not-print", "payer@example.com"):
        assert secret not in printed
    assert "GET /elsewhere -> 403  no such route here (a typo, or a route template.yaml lacks" in printed


def test_the_scheduled_reconciliation_prints_its_counts(lines, local_stack):
    terminal = LiveTerminal(lines.append, local_stack.call, local_stack.invoke)

    terminal.scheduled(RECONCILE)

    assert lines[-1].split("] ", 1)[1].startswith(f"{RECONCILE} (scheduled) -> handed out ")


def test_an_order_the_reconciliation_settles_gets_its_own_line(tmp_path):
    # ReconcileAfterSeconds 1 (the template's minimum is 60): a session is checked a second after it opened.
    printed: list[str] = []
    with LocalStack(
        api_port=0,
        sandbox_port=0,
        aws_port=0,
        merchant_port=0,
        log_dir=tmp_path,
        parameters={"ReconcileAfterSeconds": "1"},
    ) as stack:
        assert stack.api is not None and stack.sandbox is not None  # started
        terminal = LiveTerminal(printed.append, stack.call, stack.invoke)
        stack.api.observer = terminal.observe
        stack.on_invocation = terminal.invoked
        created = urllib3.request(
            "POST", f"{stack.api_url}/sessions", json={"merchant_order_id": "RECON-1", "order_amount": 1000}
        )
        stack.sandbox.complete(created.json()["session_token"], "paid", deliver=False)  # no notification comes

        deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
        while not _lines_about(printed, "order RECON-1 PAID") and time.monotonic() < deadline:
            terminal.scheduled(RECONCILE)
            time.sleep(0.2)

    # the sweep hands the session to a status-check worker (through the queue), which settles it;
    # the order's line comes once, after whichever of the two the terminal heard from first
    assert _lines_about(printed, f"{RECONCILE} (scheduled) -> handed out 1")
    assert len(_lines_about(printed, "-> order RECON-1 PAID")) == 1


@pytest.mark.parametrize(
    "body",
    [
        b'{"payment": "%s"}',
        b"payment=%s",
        b"%s",
    ],
    ids=["json", "form", "bare"],
)
def test_the_notification_order_is_read_from_every_accepted_body_shape(body):
    token = "eyJhbGciOiJIUzI1NiJ9.eyJtZXJjaGFudF9vcmRlcl9pZCI6Ik9DLTcwMDEwNCJ9.c2ln"

    assert notification_claims(body % token.encode()) == {"merchant_order_id": "OC-700104"}


def test_counts_name_the_first_and_every_count_that_is_not_zero():
    assert describe_counts({"checked": 0, "paid": 0}) == "checked 0"
    assert describe_counts({"checked": 2, "paid": 1, "failed": 0, "still_pending": 1}) == (
        "checked 2: paid 1, still pending 1"
    )
    assert describe_counts(None) == "done"


def test_a_flagged_order_is_shown_with_the_command_that_resolves_it(local_stack, http_api, etpay, order_id):
    printed: list[str] = []
    terminal = LiveTerminal(printed.append, local_stack.call, local_stack.invoke, api_url=lambda: local_stack.api_url)
    local_stack.api.observer = terminal.observe
    try:
        # given an order flagged by a signed notification whose amount differs
        session = http_api.open_session(order_id)
        assert (
            http_api.notify(etpay.notification_jwt(session["session_token"], "paid", merchant_amount=1)).status == 200
        )
        http_api.get_order(order_id)  # polling the flagged order says nothing new

        # then the terminal says so once, with a command that resolves it ...
        flagged = [index for index, line in enumerate(printed) if f"order {order_id} flagged for review" in line]
        assert len(flagged) == 1
        assert printed[flagged[0]].endswith(f"order {order_id} flagged for review: notification_mismatch")
        command = printed[flagged[0] + 1].strip()
        assert command.startswith(f"resolve: curl -s -XPOST {local_stack.api_url}/orders/{order_id}/review -d ")

        # ... which does: the resolution's line follows, and the order is no longer flagged
        body = command.split(" -d ", 1)[1].strip("'")
        reply = http_api.request("POST", f"/orders/{order_id}/review", body, {"Content-Type": "application/json"})
        assert reply.status == 200
        assert printed[-1].endswith(f"POST /orders/{order_id}/review -> 200  order {order_id} PENDING")
        assert http_api.get_order(order_id).body["review"]["required"] is False
    finally:
        local_stack.api.observer = None

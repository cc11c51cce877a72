"""What the local stack prints: never a secret at any log level, a terminal that survives any body,
and failures that say what to do (the wrong Python, a second stack, an unknown route)."""

import json
import re
import signal
import subprocess
import sys

import pytest
import urllib3

from local.demo.terminal import LiveTerminal, notification_claims
from local.emulator.api import Answer, Exchange
from local.emulator.aws import client
from local.emulator.template import Route
from local.examples import EXAMPLE_NOTIFICATION_KEY
from local.stack import SANDBOX_MERCHANT_API_TOKEN, LocalStack
from tests.e2e.test_local_cli import (
    FREE_PORTS,
    READY_TIMEOUT_SECONDS,
    REPO_ROOT,
    STOP_TIMEOUT_SECONDS,
    _occupy,
    first_group,
)

JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")
RUT = "123456785"


def test_debug_logging_prints_no_secret(running):
    process, output = running("--log-level", "DEBUG", "--schedule-every", "1")
    assert output.wait_for("Serving.", READY_TIMEOUT_SECONDS), output.text
    api = first_group(r"API +(http://\S+)", output.text)
    sandbox = first_group(r"ETpay sandbox +(http://\S+)", output.text)
    aws = first_group(r"AWS \(moto\) +(http://\S+)", output.text)
    session = urllib3.request(
        "POST", f"{api}/sessions", json={"merchant_order_id": "SECRET-1", "order_amount": 990, "user_rut": RUT}
    ).json()
    paid = urllib3.request("POST", f"{sandbox}/_control/sessions/{session['session_token']}/complete", json={})
    assert paid.json()["delivery_status"] == 200
    assert output.wait_for("ReconcileFunction (scheduled)", READY_TIMEOUT_SECONDS), output.text
    sessions = urllib3.request("GET", f"{sandbox}/_control/sessions").json()
    secrets_manager = client(aws, "secretsmanager")
    webhook_secret = next(
        secrets_manager.get_secret_value(SecretId=entry["Name"])["SecretString"]
        for entry in secrets_manager.list_secrets()["SecretList"]
        if entry["Name"].endswith("/WebhookSecret")
    )
    process.send_signal(signal.SIGINT)
    assert process.wait(STOP_TIMEOUT_SECONDS) == 0
    output.wait_for("never printed", 1)

    text = output.text
    assert " DEBUG " in text  # the level was on: the check below means something
    secrets = [SANDBOX_MERCHANT_API_TOKEN, EXAMPLE_NOTIFICATION_KEY, webhook_secret, RUT, "111111111"]
    secrets += [entry["signature_token"] for entry in sessions] + [entry["payment_token"] for entry in sessions]
    assert len(sessions) >= 3
    assert [secret for secret in secrets if secret and secret in text] == []
    assert JWT.findall(text) == [] and "whsec_" not in text.replace("whsec_<secret>", "")


@pytest.fixture
def running(tmp_path):
    from tests.e2e.test_local_cli import _cli

    started = []

    def start(*args):
        from tests.e2e.test_local_cli import Output

        process = _cli(*args, log_dir=tmp_path)
        started.append(process)
        return process, Output(process)

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


NASTY_BODIES = {
    "deeply nested": b"[" * 200_000 + b"]" * 200_000,
    "nested objects": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "not UTF-8": b"\xff\xfe\x00\x80 not text \xc3\x28",
    "huge": b'{"merchant_order_id": "OC-1", "pad": "' + b"x" * (20 * 1024 * 1024) + b'"}',
    "not JSON": b"payment=eyJhbGciOiJIUzI1NiJ9.e30.sig&x=<html>",
    "a nested JWT payload": b'{"payment": "eyJhbGciOiJIUzI1NiJ9.' + b"W" * 4000 + b'.c2ln"}',
}
ROUTE = Route("PaymentsFunction", "GET", "/orders/{merchant_order_id}", "functions/payments/", "app.lambda_handler")


@pytest.mark.parametrize("name", list(NASTY_BODIES))
@pytest.mark.parametrize(
    ("method", "path", "status", "route"),
    [("POST", "/notifications", 200, ROUTE), ("POST", "/sessions", 400, ROUTE), ("GET", "/x\x00\xff", 403, None)],
)
def test_the_terminal_survives_any_body(name, method, path, status, route):
    body = NASTY_BODIES[name]
    printed: list[str] = []
    terminal = LiveTerminal(printed.append, lambda *_: Answer(200, [], body), lambda *_: body)

    terminal.observe(Exchange(method, path, status, route, {"merchant_order_id": "OC-1"}, body, body))

    assert len(printed) == 1 and printed[0].startswith("[")
    assert notification_claims(body) == {} or name == "not JSON"


def test_a_local_403_and_an_answer_without_a_state_are_explained():
    printed: list[str] = []
    order = json.dumps({"merchant_order_id": "OC-2", "status": "PAID"}).encode()
    terminal = LiveTerminal(printed.append, lambda *_: Answer(200, [], order), lambda *_: None)
    events = json.dumps({"merchant_order_id": "OC-2", "events": []}).encode()
    events_route = Route("EventsApiFunction", "GET", "/orders/{merchant_order_id}/events", "", "")

    terminal.observe(Exchange("GET", "/events", 403, None, {}, b"", b'{"message": "Missing Authentication Token"}'))
    terminal.observe(
        Exchange("GET", "/orders/OC-2/events", 200, events_route, {"merchant_order_id": "OC-2"}, b"", events)
    )

    assert "GET /events -> 403  no such route here (a typo, or a route template.yaml lacks" in printed[0]
    assert printed[1].endswith("GET /orders/OC-2/events -> 200  order OC-2 PAID")


def test_another_python_gets_a_one_line_hint():
    # -S: no site-packages, as a Python without the project's venv
    run = subprocess.run(
        [sys.executable, "-S", "-m", "local"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False
    )

    assert run.returncode == 2 and run.stderr == ""
    assert run.stdout.count("\n") == 1 and "make local" in run.stdout and ".venv/bin/python -m local" in run.stdout


def test_a_second_stack_says_another_one_is_probably_running(tmp_path, running):
    holder = _occupy(0)
    assert holder is not None  # port 0: always a free one
    with LocalStack.on_free_ports(tmp_path / "first") as first:
        assert first.api is not None
        ports = FREE_PORTS.copy()
        ports[1] = str(first.api.port)
        ports[-1] = str(holder.getsockname()[1])
        process, output = running(*ports, "--no-demo", "--demo-only")
        assert process.wait(READY_TIMEOUT_SECONDS + STOP_TIMEOUT_SECONDS) == 0
    holder.close()
    output.wait_for("never printed", 1)

    assert f"port {first.api.port} is busy" in output.text
    assert "another local stack is probably running (a `make local` in another terminal?" in output.text
    assert re.search(
        r"webhooks +http://\S+  \(the merchant's receiver, checks signatures\)  \(port \d+ was busy", output.text
    )

"""Loads what `sam build` produced the way Lambda does, and invokes each function with its event
from events/. A packaging mistake (a module left out of the layer, a missing dependency, a wrong
handler path) fails here.

Each function runs in a fresh python3.13 process whose path is only: the function's directory,
the layer's `python/` directory (Lambda's /opt/python), and the libraries Lambda's Python runtime
itself provides (boto3 and its dependencies). AWS is a moto server on 127.0.0.1, reached through
AWS_ENDPOINT_URL exactly as `sam local invoke --env-vars` would point the functions at it.
"""

import json
import os
import socket
import subprocess
import sys
import sysconfig
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from local.emulator.template import ROOT, table_definitions
from local.examples import (
    EXAMPLE_AMOUNT,
    EXAMPLE_NOTIFICATION_KEY,
    EXAMPLE_ORDER_ID,
    EXAMPLE_SESSION_TOKEN,
    EXAMPLE_SIGNATURE_TOKEN,
)
from payments.adapters.order_store import OrderStore
from payments.adapters.session_claims import SessionClaims
from payments.domain.clock import iso_utc, utc_now
from payments.domain.orders import Order, PaymentSession, ReviewReason, Status
from payments.domain.reviews import raise_review

BUILD_DIR = (ROOT / os.environ.get("BUILD_DIR", ".aws-sam/build")).resolve()
# What Lambda's python3.13 runtime ships besides the standard library.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")
RUNNER = """
import json, sys
function_dir, layer_dir, runtime_dir, event_path = sys.argv[1:5]
sys.path[:0] = [function_dir, layer_dir]
sys.path.append(runtime_dir)
import app, payments, etpay, jwt, aws_lambda_powertools

class Context:
    function_name = "built"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:built"
    aws_request_id = "built-request"

    @staticmethod
    def get_remaining_time_in_millis():
        return 25_000

result = app.lambda_handler(json.load(open(event_path)), Context())
origins = {m.__name__: m.__file__ for m in (app, payments, etpay, jwt, aws_lambda_powertools)}
print("RESULT " + json.dumps({"response": result, "origins": origins}))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def built():
    if not (BUILD_DIR / "template.yaml").exists():
        pytest.fail(f"no sam build output in {BUILD_DIR}: run `make build` (make test does it)")
    return BUILD_DIR


@pytest.fixture(scope="module")
def runtime_dir(tmp_path_factory):
    """Only the packages Lambda's runtime provides, linked from this venv."""
    target = tmp_path_factory.mktemp("lambda-runtime")
    site = Path(sysconfig.get_paths()["purelib"])
    for name in RUNTIME_PACKAGES:
        (target / name).symlink_to(site / name)
    return target


@pytest.fixture(scope="module")
def moto_server():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def deployed(moto_server, sandbox, monkeypatch):
    """A table, both secrets (the example notification event carries the example key), in the moto
    server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    table = f"built-{os.getpid()}-{free_port()}"
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(TableName=table, **table_definitions()["OrdersTable"])
    secret_id = f"etpay/{table}"
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(Name=secret_id, SecretString=json.dumps(sandbox.credentials()))
    key_secret_id = f"etpay/{table}-notification-key"
    secrets.create_secret(Name=key_secret_id, SecretString=EXAMPLE_NOTIFICATION_KEY)
    return {"table": table, "secret_id": secret_id, "key_secret_id": key_secret_id, "endpoint": moto_server}


def run_built(built, runtime_dir, function: str, event_name: str, environment: dict[str, str], tmp_path):
    """The handler's answer to events/<event_name>, the built function run as Lambda runs it (in
    a process of its own, with `environment` on top of fake credentials), after checking that every
    module it imported came from the build."""
    env = {
        "PATH": os.environ["PATH"],
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": function,
        "POWERTOOLS_METRICS_NAMESPACE": "EtpayPaymentsBuilt",
        "POWERTOOLS_TRACE_DISABLED": "true",
        **environment,
    }
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    completed = subprocess.run(
        [
            sys.executable,
            "-I",
            "-B",  # the build is what gets deployed: never write bytecode into it
            str(runner),
            str(built / function),
            str(built / "EtpayLayer" / "python"),
            str(runtime_dir),
            str(ROOT / "events" / event_name),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    line = next(line for line in completed.stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    for name, origin in result["origins"].items():
        assert origin.startswith(str(built)), f"{name} was loaded from {origin}, not from the build"
    return result["response"]


def invoke(built, runtime_dir, function, event_name, deployed, tmp_path):
    environment = {
        "AWS_ENDPOINT_URL": deployed["endpoint"],
        "TABLE_NAME": deployed["table"],
        "ETPAY_SECRET_ID": deployed["secret_id"],
        "NOTIFICATION_KEY_SECRET_ID": deployed["key_secret_id"],
        "STAGE": "sandbox",
        "CURRENCY": "CLP",
        "MAX_ORDER_AMOUNT": "7000000",
        "NOTIFICATION_URL": "https://example.invalid/notifications",
    }
    response = run_built(built, runtime_dir, function, event_name, environment, tmp_path)
    return response["statusCode"], json.loads(response["body"])


def seed_example_session(deployed):
    repository = SessionClaims(deployed["table"], boto3.client("dynamodb"))
    now = "2026-01-01T00:00:00.000Z"
    repository.claim_new_order(EXAMPLE_ORDER_ID, EXAMPLE_AMOUNT, "CLP", "seed", utc_now())
    repository.open_session(
        Order(
            EXAMPLE_ORDER_ID,
            EXAMPLE_AMOUNT,
            "CLP",
            Status.PENDING,
            EXAMPLE_SESSION_TOKEN,
            f"https://pmt.example/session/{EXAMPLE_SESSION_TOKEN}",
            now,
            now,
        ),
        PaymentSession(
            EXAMPLE_SESSION_TOKEN,
            EXAMPLE_ORDER_ID,
            EXAMPLE_AMOUNT,
            "CLP",
            EXAMPLE_SIGNATURE_TOKEN,
            Status.PENDING,
            now,
            now,
        ),
        "seed",
        replaces=None,
        first_check=utc_now() + timedelta(minutes=15),
    )


def test_the_built_payments_function_creates_a_session_and_reads_the_order(built, runtime_dir, deployed, tmp_path):
    status, body = invoke(built, runtime_dir, "PaymentsFunction", "create_session.json", deployed, tmp_path)
    assert status == 201, body
    assert body["merchant_order_id"] == EXAMPLE_ORDER_ID

    status, body = invoke(built, runtime_dir, "PaymentsFunction", "get_order.json", deployed, tmp_path)
    assert status == 200, body
    assert body["status"] == "PENDING"


def test_the_built_notifications_function_applies_the_example_notification(built, runtime_dir, deployed, tmp_path):
    seed_example_session(deployed)

    status, body = invoke(built, runtime_dir, "NotificationsFunction", "notification.json", deployed, tmp_path)
    assert status == 200, body

    status, body = invoke(built, runtime_dir, "PaymentsFunction", "get_order.json", deployed, tmp_path)
    assert body["status"] == "PAID"


def test_the_built_payments_function_lists_and_resolves_a_review(built, runtime_dir, deployed, tmp_path):
    # given the example order, flagged for review
    seed_example_session(deployed)
    repository = OrderStore(deployed["table"], boto3.client("dynamodb"))
    found = repository.get_order_and_session(EXAMPLE_ORDER_ID)
    assert found is not None
    order, session = found
    flag = raise_review(order, frozenset({ReviewReason.NOTIFICATION_MISMATCH}), iso_utc(utc_now()))
    repository.flag_for_review(order, session, flag, utc_now())

    # then the built function lists it in the review queue ...
    status, body = invoke(built, runtime_dir, "PaymentsFunction", "list_reviews.json", deployed, tmp_path)
    assert status == 200, body
    assert [entry["merchant_order_id"] for entry in body["reviews"]] == [EXAMPLE_ORDER_ID]

    # ... and records its resolution, after which the queue is empty
    status, body = invoke(built, runtime_dir, "PaymentsFunction", "resolve_review.json", deployed, tmp_path)
    assert status == 200, body
    assert body["review"] == {"required": False, "reasons": []}
    assert body["reviews"][0]["resolution"] == "no_action_needed"
    status, body = invoke(built, runtime_dir, "PaymentsFunction", "list_reviews.json", deployed, tmp_path)
    assert (status, body["reviews"]) == (200, [])


def test_the_layer_ships_unchecked_bytecode_and_no_second_botocore(built):
    """Lambda's /opt is read-only: without shipped bytecode every cold start compiles every
    module. Timestamp-checked .pyc would look stale after zipping (2 s mtimes), so they are
    unchecked-hash. botocore comes from the runtime; a copy in the layer would shadow it."""
    layer = built / "EtpayLayer" / "python"
    assert not (layer / "botocore").exists()
    sources = [path for path in layer.rglob("*.py") if "__pycache__" not in path.parts]
    assert len(sources) > 100
    for source in sources:
        cached = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        assert cached.exists(), source
        flags = int.from_bytes(cached.read_bytes()[4:8], "little")
        assert flags == 0b01, f"{cached} is not an unchecked-hash pyc"

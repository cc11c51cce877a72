"""Traces: X-Ray must never record a response or an event that carries a token, nor a secret or
payer data. Powertools' Tracer captures handler responses (POST /sessions answers with the
session_token) and errors by default; the functions turn both off, and the API Gateway stage does
not trace at all (its segment would record ETpay's notification URL, with its key).

The flows run in a process of their own (trace_flows.py) with tracing on as in Lambda, every trace
entity the X-Ray SDK would send captured instead of sent."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FLOWS = Path(__file__).with_name("trace_flows.py")
TIMEOUT_SECONDS = 120


@pytest.fixture(scope="module")
def traced() -> dict:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(FLOWS.parent)),
        # What Lambda sets: tracing is on, and this invocation's trace is sampled.
        "LAMBDA_TASK_ROOT": str(FLOWS.parent),
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        "POWERTOOLS_TRACE_DISABLED": "false",
        "POWERTOOLS_SERVICE_NAME": "trace-test",
        "POWERTOOLS_METRICS_NAMESPACE": "EtpayPaymentsTest",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "TABLE_NAME": "etpay-orders-trace",
        "ETPAY_SECRET_ID": "etpay/credentials-trace",
        "NOTIFICATION_KEY_SECRET_ID": "etpay/notification-key-trace",
        "RECONCILE_AFTER_SECONDS": "60",
    }
    result = subprocess.run(
        [sys.executable, str(FLOWS)], env=environment, capture_output=True, text=True, timeout=TIMEOUT_SECONDS
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_the_flows_were_traced(traced):
    names = {json.loads(entity)["name"] for entity in traced["entities"]}
    assert "## lambda_handler" in names
    assert {"dynamodb", "secretsmanager"} <= names


def test_no_trace_carries_a_token_a_secret_or_payer_data(traced):
    everything = "\n".join(traced["entities"])
    leaks = sorted(name for name, value in traced["forbidden"].items() if value in everything)
    assert not leaks, f"traced: {leaks}"

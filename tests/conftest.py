"""Fixtures every tier shares: the functions' environment, AWS in-process (moto) with the tables of
template.yaml, ETpay as a real HTTP server on 127.0.0.1 (the local sandbox), and the handlers driven
with API Gateway proxy events. The helpers themselves are in `tests.support`."""

import json
import os

# Lambda sets these before any handler or layer module is imported, and Powertools reads them at
# import (child loggers attach to the parent by service name): set them before the imports below.
os.environ.update(
    POWERTOOLS_SERVICE_NAME="payments-test",
    POWERTOOLS_METRICS_NAMESPACE="EtpayPaymentsTest",
    POWERTOOLS_TRACE_DISABLED="true",
)

from collections.abc import Iterator  # noqa: E402 - after the environment above

import pytest  # noqa: E402
from botocore.retries.standard import ExponentialBackoff  # noqa: E402
from moto import mock_aws  # noqa: E402

from local.etpay_sandbox import EtpaySandbox  # noqa: E402
from payments.config import wiring  # noqa: E402
from tests.support.api import Api, new_order_id  # noqa: E402
from tests.support.aws import (  # noqa: E402
    EVENTS_TABLE_NAME,
    MERCHANT_API_TOKEN,
    MERCHANT_CODE,
    NOTIFICATION_KEY,
    NOTIFICATION_KEY_SECRET_ID,
    REGION,
    SECRET_ID,
    TABLE_NAME,
    AwsEmulator,
    AwsFaults,
    SessionHooks,
    aws_client,
)

# The events side of the stack (bus, queues, webhook receiver, event sources): fixtures for the
# tiers that need them.
pytest_plugins = ["tests.support.events_stack"]


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake AWS credentials and the functions' settings, and no state carried between tests."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "NOTIFICATION_URL", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("TABLE_NAME", TABLE_NAME)
    monkeypatch.setenv("EVENTS_TABLE_NAME", EVENTS_TABLE_NAME)
    monkeypatch.setenv("ETPAY_SECRET_ID", SECRET_ID)
    monkeypatch.setenv("NOTIFICATION_KEY_SECRET_ID", NOTIFICATION_KEY_SECRET_ID)
    monkeypatch.setenv("STAGE", "sandbox")
    monkeypatch.setenv("CURRENCY", "CLP")
    monkeypatch.setenv("MAX_ORDER_AMOUNT", "7000000")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "payments-test")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "EtpayPaymentsTest")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    wiring.reset()
    yield
    wiring.reset()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[EtpaySandbox]:
    """ETpay as a real HTTP server on 127.0.0.1, shared by the whole run."""
    with EtpaySandbox(
        merchant_code=MERCHANT_CODE, merchant_api_token=MERCHANT_API_TOKEN, host="127.0.0.1", port=0
    ) as running:
        yield running


@pytest.fixture(scope="session")
def mx_sandbox() -> Iterator[EtpaySandbox]:
    """ETpay Mexico as a real HTTP server on 127.0.0.1: a merchant whose currency is MXN."""
    with EtpaySandbox(
        merchant_code="mx_" + MERCHANT_CODE, merchant_api_token=MERCHANT_API_TOKEN, port=0, currency="MXN"
    ) as running:
        yield running


@pytest.fixture(scope="session")
def aws_emulator() -> Iterator[AwsEmulator]:
    with mock_aws():
        yield AwsEmulator()


@pytest.fixture
def aws(aws_emulator: AwsEmulator) -> Iterator[None]:
    """moto in-process, empty but for every table of template.yaml (its own key schema)."""
    aws_emulator.reset()
    yield


@pytest.fixture
def stack(aws: None, sandbox: EtpaySandbox) -> Iterator[EtpaySandbox]:
    """The deployed stack's AWS side: the table, the secret holding the sandbox credentials and the
    notification key."""
    secrets = aws_client("secretsmanager")
    secrets.create_secret(Name=SECRET_ID, SecretString=json.dumps(sandbox.credentials()))
    secrets.create_secret(Name=NOTIFICATION_KEY_SECRET_ID, SecretString=NOTIFICATION_KEY)
    sandbox.release_hangs()
    yield sandbox
    sandbox.release_hangs()


@pytest.fixture
def mx_stack(aws: None, mx_sandbox: EtpaySandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[EtpaySandbox]:
    """The stack deployed with Currency=MXN, its secret holding ETpay Mexico's (sandbox) merchant."""
    monkeypatch.setenv("CURRENCY", "MXN")
    monkeypatch.delenv("MAX_ORDER_AMOUNT")  # the template's default, 0: the currency's own limit
    wiring.reset()
    secrets = aws_client("secretsmanager")
    secrets.create_secret(Name=SECRET_ID, SecretString=json.dumps(mx_sandbox.credentials()))
    secrets.create_secret(Name=NOTIFICATION_KEY_SECRET_ID, SecretString=NOTIFICATION_KEY)
    yield mx_sandbox


@pytest.fixture(scope="session")
def api() -> Api:
    return Api()


@pytest.fixture
def order_id() -> str:
    return new_order_id()


@pytest.fixture
def aws_faults(aws_emulator: AwsEmulator, aws: None, monkeypatch: pytest.MonkeyPatch) -> AwsFaults:
    """The fault injector, nothing queued. botocore's retry handler decides on an injected fault as
    on a real one; only its wait between attempts (up to seconds for a throttle) is skipped."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    return aws_emulator.faults


@pytest.fixture
def session_hooks(aws: None) -> Iterator[SessionHooks]:
    hooks = SessionHooks()
    yield hooks
    hooks.remove()

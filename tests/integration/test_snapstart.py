"""SnapStart's runtime hooks, called as the Lambda runtime calls them: before the snapshot nothing
secret or connected is kept (the parts are built again without them), and after each restore the
random generator is seeded anew, the AWS clients are built with fresh credentials, ETpay's pooled
connections are dropped and the secrets are read again; the function then serves as before."""

import random
from typing import Any

import pytest
import snapshot_restore_py
from urllib3 import PoolManager

from etpay import client as etpay_client
from payments.adapters import aws, secrets
from payments.config import wiring
from tests.support.api import Api, load_handler, session_payload


@pytest.fixture
def in_lambda(monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "etpay-payments-PaymentsFunction")


def cached_secrets() -> int:
    return sum(1 for _ in secrets.store._cache)  # noqa: SLF001 - what the store holds, by count only


def test_importing_a_function_registers_its_hooks_and_reads_its_secrets_ahead(stack, in_lambda):
    module = load_handler("payments")

    # The registries hold (hook, args, kwargs), whatever their annotation says.
    entries: list[Any] = [*snapshot_restore_py._before_snapshot_registry, *snapshot_restore_py._after_restore_registry]
    registered = {entry[0] for entry in entries}
    assert {module.STARTUP.before_snapshot, module.STARTUP.after_restore} <= registered
    # ETpay's credentials and the notification key's current version (the URL carries it)
    assert cached_secrets() == 2


def test_nothing_secret_is_snapshotted_and_a_restore_starts_afresh(api: Api, stack, in_lambda, order_id):
    module = load_handler("payments")
    startup = module.STARTUP
    dynamodb = aws.aws_client("dynamodb", parameter_validation=False)

    # before the snapshot: no secret kept, the parts built again (clients included)
    startup.before_snapshot()
    assert cached_secrets() == 0
    assert wiring.open_session.cache_info().currsize == 1
    snapshotted_client = aws.aws_client("dynamodb", parameter_validation=False)
    assert snapshotted_client is not dynamodb

    # after a restore: a generator seeded anew, new clients, no pooled ETpay connection, secrets read
    random.seed(1234)
    etpay_client._POOL.connection_from_url("http://127.0.0.1:9")  # noqa: SLF001 - a pooled connection
    startup.after_restore()
    assert random.random() != random.Random(1234).random()  # noqa: S311 - not a secret: the jitter's generator
    assert aws.aws_client("dynamodb", parameter_validation=False) is not snapshotted_client
    assert len(etpay_client._POOL.pools) == 0  # noqa: SLF001
    assert isinstance(etpay_client._POOL, PoolManager)  # noqa: SLF001 - the same pool, emptied
    assert cached_secrets() == 2

    # and the restored function serves
    reply = api.invoke(module, api_session_event(order_id))
    assert reply.status == 201, reply.body


def api_session_event(order_id: str) -> dict:
    import json

    from tests.support.api import api_event

    return api_event(
        "POST", "/sessions", "/sessions", json.dumps(session_payload(order_id)), {"Content-Type": "application/json"}
    )

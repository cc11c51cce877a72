"""End to end: the whole local stack (ETpay sandbox, moto, the template's functions in their own
Lambda-like processes, the template's API) started once on free ports, driven over real HTTP.

Its fixtures are this tier's (its conftest.py imports them); the stack below starts once per run."""

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
import urllib3

from local.examples import EXAMPLE_NOTIFICATION_KEY
from local.stack import LocalStack
from tests.support.api import Reply

HTTP_TIMEOUT = urllib3.Timeout(connect=2.0, read=30.0)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory):
    with LocalStack.on_free_ports(tmp_path_factory.mktemp("local-stack-logs")) as stack:
        yield stack


@pytest.fixture(scope="session")
def mx_local_stack(tmp_path_factory):
    """The same stack deployed with Currency=MXN: ETpay Mexico's sandbox merchant (`make local COUNTRY=mx`)."""
    with LocalStack.on_free_ports(
        tmp_path_factory.mktemp("mx-local-stack-logs"), parameters={"Currency": "MXN"}
    ) as stack:
        yield stack


@pytest.fixture
def etpay(local_stack):
    """The ETpay sandbox the stack's functions talk to; a test's injected failures end with it."""
    yield local_stack.sandbox
    local_stack.sandbox.clear_failures()
    local_stack.sandbox.release_hangs()


class HttpApi:
    """The merchant's backend (and anyone else) calling the local API over HTTP."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self._http = urllib3.PoolManager(retries=False, timeout=HTTP_TIMEOUT)

    def request(self, method: str, path: str, body: str | bytes | None = None, headers: dict | None = None) -> Reply:
        response = self._http.request(method, self.base_url + path, body=body, headers=headers or {})
        try:
            parsed = json.loads(response.data) if response.data else None
        except ValueError:
            parsed = response.data.decode(errors="replace")
        return Reply(response.status, parsed, dict(response.headers))

    def create_session(self, merchant_order_id: str, order_amount: int = 50_000, **extra: Any) -> Reply:
        payload = {"merchant_order_id": merchant_order_id, "order_amount": order_amount, **extra}
        return self.request("POST", "/sessions", json.dumps(payload), {"Content-Type": "application/json"})

    def open_session(self, merchant_order_id: str, **extra: Any) -> dict[str, Any]:
        """POST /sessions for a new order; the session it opened."""
        reply = self.create_session(merchant_order_id, **extra)
        assert reply.status == 201, reply.body
        return reply.body

    def get_order(self, merchant_order_id: str) -> Reply:
        return self.request("GET", f"/orders/{merchant_order_id}")

    def notify(self, notification_jwt: str, key: str | None = EXAMPLE_NOTIFICATION_KEY) -> Reply:
        """POST /notifications as ETpay does: to the URL with the local stack's notification key."""
        body = json.dumps({"payment": notification_jwt})
        path = "/notifications" if key is None else f"/notifications?{urlencode({'key': key})}"
        return self.request("POST", path, body, {"Content-Type": "application/json"})

    def wait_for_status(self, merchant_order_id: str, status: str, timeout: float = 5.0) -> Reply:
        deadline = time.monotonic() + timeout
        while True:
            reply = self.get_order(merchant_order_id)
            if (reply.status == 200 and reply.body["status"] == status) or time.monotonic() > deadline:
                return reply
            time.sleep(0.1)

    def close(self) -> None:
        self._http.clear()


@pytest.fixture(scope="session")
def http_api(local_stack):
    client = HttpApi(local_stack.api_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def mx_http_api(mx_local_stack):
    client = HttpApi(mx_local_stack.api_url)
    yield client
    client.close()


@pytest.fixture
def order_id() -> str:
    return f"E2E-{uuid.uuid4().hex[:12]}"

"""One payment end to end, over HTTP only, as the merchant's backend and ETpay would make it:

1. POST /sessions for a new order (the function asks the ETpay sandbox for a session);
2. the payer pays: the sandbox's control API completes the session, and the sandbox POSTs the
   signed notification to the stack's own /notifications;
3. GET /orders/{id} shows the order PAID;
4. the merchant's webhook receiver gets `payment.succeeded` for it, its signature checked with the
   `standardwebhooks` library (the table's stream -> the events function -> the webhook queue ->
   the delivery function -> a signed POST).

Then it opens a second order and leaves it PENDING, for a person to pay in a browser (`make
local` then says how; `make local-demo` exits).
"""

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import urllib3

from local.demo.webhooks import WebhookReceiver

DEMO_AMOUNT = 50_000
# What the demo's orders carry on a stack of each currency: Chile's plain order, and Mexico's with
# its own fields (a SPEI payment, the payer's phone: a fake one).
DEMO_ORDERS: dict[str, dict[str, Any]] = {
    "CLP": {"order_amount": DEMO_AMOUNT},
    "MXN": {"order_amount": 1_500, "target_flow": "spei", "customer_phone": "5500000000"},
}
# How long the paid order's webhook may take to arrive before the demo fails (it takes well under
# a second; the rest is headroom for a loaded machine).
WEBHOOK_WAIT_SECONDS = 30.0
HTTP_TIMEOUT = urllib3.Timeout(connect=2.0, read=30.0)

Report = Callable[[str], None]
# merchant_order_id -> the session's payment_completed_url and payment_cancellation_url
ReturnUrls = Callable[[str], dict[str, str]]


class DemoFailed(Exception):
    pass


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


@dataclass(frozen=True)
class DemoResult:
    paid_order_id: str
    pending_order_id: str
    pending_payment_url: str
    pending_session_token: str


class DemoClient:
    """The merchant's backend calling the local API, and a tester driving the ETpay sandbox."""

    def __init__(self, api_url: str, sandbox_url: str):
        self.api_url = api_url.rstrip("/")
        self.sandbox_url = sandbox_url.rstrip("/")
        self._http = urllib3.PoolManager(retries=False, timeout=HTTP_TIMEOUT)

    def _call(self, method: str, url: str, body: Any = None) -> Reply:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        try:
            response = self._http.request(method, url, body=data, headers=headers)
        except urllib3.exceptions.HTTPError as error:
            raise DemoFailed(f"{method} {url} failed: {type(error).__name__}") from None
        try:
            parsed = json.loads(response.data) if response.data else None
        except ValueError:
            parsed = response.data.decode(errors="replace")
        return Reply(response.status, parsed)

    def create_session(self, merchant_order_id: str, order_amount: int = DEMO_AMOUNT, **extra: Any) -> Reply:
        payload = {"merchant_order_id": merchant_order_id, "order_amount": order_amount, **extra}
        return self._call("POST", f"{self.api_url}/sessions", payload)

    def request(self, method: str, path: str, body: Any = None) -> Reply:
        """Any route of the local API."""
        return self._call(method, f"{self.api_url}{path}", body)

    def get_order(self, merchant_order_id: str) -> Reply:
        return self._call("GET", f"{self.api_url}/orders/{quote(merchant_order_id, safe='')}")

    def complete_in_sandbox(self, session_token: str, outcome: str = "paid", deliver: bool = True) -> Reply:
        url = f"{self.sandbox_url}/_control/sessions/{quote(session_token, safe='')}/complete"
        return self._call("POST", url, {"outcome": outcome, "deliver": deliver})

    def close(self) -> None:
        self._http.clear()


def new_order_id(prefix: str = "DEMO") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10].upper()}"


def _expect(reply: Reply, statuses: tuple[int, ...], what: str) -> dict[str, Any]:
    if reply.status not in statuses or not isinstance(reply.body, dict):
        # The error code only: an answer can carry tokens.
        code = reply.body.get("error") or reply.body.get("message") if isinstance(reply.body, dict) else None
        raise DemoFailed(f"{what}: expected HTTP {' or '.join(map(str, statuses))}, got {reply.status} {code or ''}")
    return reply.body


def run_demo(
    client: DemoClient,
    report: Report,
    return_urls: ReturnUrls | None = None,
    webhooks: WebhookReceiver | None = None,
    currency: str = "CLP",
    stopping: Callable[[], bool] = lambda: False,
) -> DemoResult:
    """Pay one order end to end (and, given the merchant's webhook receiver, see its webhook
    arrive) and open a second one; DemoFailed says which step went wrong.

    `return_urls(order_id)`, if given, is where ETpay sends the payer back after Pay or Cancel
    (the local merchant page). The API's answers themselves are the live terminal's lines
    (local/demo/terminal.py): `report` only says what each step is."""

    fields = dict(DEMO_ORDERS[currency])
    amount = fields.pop("order_amount")

    def open_session(merchant_order_id: str) -> Reply:
        urls = return_urls(merchant_order_id) if return_urls else {}
        return client.create_session(merchant_order_id, amount, **fields, **urls)

    order_id = new_order_id()
    flow = f" by {fields['target_flow'].upper()}" if "target_flow" in fields else ""
    report(
        f"1. The merchant's backend opens an ETpay session: POST /sessions, order {order_id}, {amount} {currency}{flow}"
    )
    session = _expect(open_session(order_id), (201,), "POST /sessions")
    report(f"   the payer goes to {session['payment_url']}")

    report("2. The payer pays in the ETpay sandbox, which POSTs the signed notification to /notifications")
    notified = time.monotonic()
    completed = _expect(client.complete_in_sandbox(session["session_token"]), (200,), "sandbox complete")
    if completed.get("delivery_status") != 200:
        problem = (
            completed.get("delivery_error") or f"{completed.get('delivery_status')} {completed.get('delivery_body')}"
        )
        raise DemoFailed(f"the notification was not accepted: {problem}")

    report(f"3. The merchant's backend reads the order: GET /orders/{order_id}")
    order = _expect(client.get_order(order_id), (200,), "GET /orders")
    if order.get("status") != "PAID":
        raise DemoFailed(f"the order is {order.get('status')}, not PAID")
    if (order.get("currency"), order.get("order_amount")) != (currency, amount):
        raise DemoFailed(f"the order is {order.get('order_amount')} {order.get('currency')}, not {amount} {currency}")

    step = 4
    if webhooks is not None:
        report("4. The merchant's webhook receiver waits for payment.succeeded (signed, Standard Webhooks)")
        webhook = webhooks.wait_for(
            lambda received: received.type == "payment.succeeded" and received.merchant_order_id == order_id,
            WEBHOOK_WAIT_SECONDS,
            stopping,
        )
        if webhook is None:
            raise DemoFailed(f"no payment.succeeded webhook for {order_id} within {WEBHOOK_WAIT_SECONDS:g} s")
        if not webhook.verified:
            raise DemoFailed(f"the payment.succeeded webhook for {order_id} did not verify: {webhook.problem}")
        report(
            f"   -> {webhook.describe()} ({webhook.id}, {webhook.received_at - notified:.1f} s after the notification)"
        )
        step = 5

    pending_id = new_order_id()
    report(f"{step}. A second order, {pending_id}, is left PENDING for a person to pay in a browser")
    pending = _expect(open_session(pending_id), (201,), "POST /sessions (second order)")
    return DemoResult(order_id, pending_id, pending["payment_url"], pending["session_token"])

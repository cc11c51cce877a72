"""The live terminal of `make local`: one line for each request the local API answers (ETpay's
notifications included) and for each scheduled run of a function (the reconciliation), whatever
the order, e.g.

    [12:00:01] POST /sessions -> 201  order OC-1 PENDING
    [12:00:09] POST /notifications -> 200  order OC-1 PAID
    [12:00:10] webhook payment.succeeded for OC-1, signature ok
    [12:16:00] ReconcileFunction (scheduled) -> handed out 1
    [12:16:00] status check -> order OC-2 PAID

A line holds the method, the path (never its query string), the status, and the order with its
state, or the error code. Tokens, bodies and payer data are never printed. The order is read from:
the function's JSON answer (POST /sessions, GET /orders), the request's `merchant_order_id` when
the answer has none, or, for a notification the function accepted, the JWT's `merchant_order_id`
(verified by then); the state after a notification or a reconciliation is read back with
`GET /orders/{id}`, in this process and unobserved, as the merchant's backend would read it.

A GET that repeats the answer last printed for the same path (a page polling an order) is not
printed again: it says nothing new.

An order flagged for review (its answer, or its state read back, shows `review.required`) gets a
line of its own, once per new set of reasons, with the command that records its resolution:

    [12:00:09] order OC-1 flagged for review: failed_after_paid
               resolve: curl -s -XPOST localhost:3000/orders/OC-1/review -d '{"resolution": ...}'
"""

import base64
import binascii
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote

from local.emulator.api import Answer, Exchange
from local.emulator.functions import InvocationError

# ETpay's merchant_order_id (1 to 64 of these): anything else is not printed as an order id.
ORDER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# A path is printed as received, but never longer than this, and only in printable ASCII.
MAX_PATH_CHARS = 100
NOTIFICATIONS_PATH = "/notifications"
# A body bigger than this is not read for an order id (a notification or an order is a few KB).
MAX_READ_BYTES = 256 * 1024
# What a 403 from the local API means: API Gateway answers a path no route matches that way.
NO_ROUTE = "no such route here (a typo, or a route template.yaml lacks; API Gateway says Missing Authentication Token)"
PENDING = "PENDING"
# The function that runs the status checks the scheduled sweep hands out.
STATUS_CHECK_FUNCTION = "ReconcileWorkerFunction"

# The resolution the printed command proposes; the operator edits it before running it.
RESOLVE_BODY = '{"resolution": "no_action_needed", "note": "what was checked or done"}'
Say = Callable[[str], None]
Call = Callable[[str, str], Answer]
Invoke = Callable[[str, dict[str, Any]], Any]


class LiveTerminal:
    """`observe` is the local API's observer; `scheduled(function)` runs a scheduled function once.

    `call(method, path)` answers a request in-process (LocalStack.call); `invoke(function, event)`
    runs a function (LocalStack.invoke)."""

    def __init__(self, say: Say, call: Call, invoke: Invoke, api_url: Callable[[], str] | None = None):
        self._say = say
        self._call = call
        self._invoke = invoke
        # Where the resolve command sends its request (the local API's URL once it is serving).
        self._api_url = api_url or (lambda: "http://127.0.0.1:3000")
        self._lock = threading.Lock()
        self._last_get: dict[str, str] = {}
        self._states: dict[str, str] = {}  # order id -> the state last printed for it
        self._flags: dict[str, tuple[str, ...]] = {}  # order id -> the open reasons last printed

    # -- the API -------------------------------------------------------------------------------------
    def observe(self, exchange: Exchange) -> None:
        order_id, state, error = self._read(exchange)
        self._observe(exchange, order_id, state, error)
        if order_id is not None and error is None:
            self._review(order_id, self._order_answer(exchange, order_id))

    def _observe(self, exchange: Exchange, order_id: str | None, state: str | None, error: str | None) -> None:
        text = f"{exchange.method} {printable(exchange.path)} -> {exchange.status}"
        if exchange.route is None and exchange.status == 403:
            text += f"  {NO_ROUTE}"
        elif error is not None:
            text += f"  {error}" + (f" (order {order_id})" if order_id else "")
        elif order_id is not None:
            # An answer without the order's state (its events, a redelivery): the state last seen, else read.
            state = state or self._states.get(order_id) or self._current_state(order_id)
            text += f"  order {order_id}" + (f" {state}" if state else "")
        with self._lock:
            if exchange.method == "GET":
                if self._last_get.get(exchange.path) == text:
                    return
                self._last_get[exchange.path] = text
            if order_id is not None and state is not None:
                self._states[order_id] = state
            self._print(text)

    def _read(self, exchange: Exchange) -> tuple[str | None, str | None, str | None]:
        """The order, its state, and the error code (or API Gateway's message) of an exchange."""
        answer = _json_object(exchange.response_body)
        order_id = _order_id(answer.get("merchant_order_id")) or _order_id(
            exchange.path_parameters.get("merchant_order_id")
        )
        if order_id is None and exchange.method == "POST" and exchange.path == "/sessions":
            order_id = _order_id(_json_object(exchange.request_body).get("merchant_order_id"))
        if not 200 <= exchange.status < 300:
            error = answer.get("error") or answer.get("message")
            return order_id, None, error if isinstance(error, str) else "error"
        if exchange.path == NOTIFICATIONS_PATH:
            # Accepted: the function verified the JWT, so its merchant_order_id is ETpay's word.
            order_id = _order_id(notification_claims(exchange.request_body).get("merchant_order_id"))
            return order_id, self._current_state(order_id) if order_id else None, None
        state = answer.get("status")
        return order_id, state if isinstance(state, str) else None, None

    def _current_state(self, order_id: str) -> str | None:
        status = self._current_order(order_id).get("status")
        return status if isinstance(status, str) else None

    def _current_order(self, order_id: str) -> dict[str, Any]:
        """GET /orders/{id}'s answer, read in this process; {} when there is none."""
        try:
            answer = self._call("GET", f"/orders/{quote(order_id, safe='')}")
        except (InvocationError, RuntimeError):
            return {}  # the stack is stopping (LocalStackError): the line goes without the state
        return _json_object(answer.data) if answer.status == 200 else {}

    def _order_answer(self, exchange: Exchange, order_id: str) -> dict[str, Any]:
        """The order as the exchange left it: the answer itself when it is the order (GET /orders,
        a resolution), else read back (a notification may have flagged it)."""
        answer = _json_object(exchange.response_body)
        if isinstance(answer.get("review"), dict) and answer.get("merchant_order_id") == order_id:
            return answer
        if exchange.path == NOTIFICATIONS_PATH:
            return self._current_order(order_id)
        return {}

    def _review(self, order_id: str, order: dict[str, Any]) -> None:
        """A line for an order newly flagged for review (or flagged for more reasons), with the
        command that resolves it; nothing while its open reasons are as last printed."""
        review = order.get("review")
        if not isinstance(review, dict):
            return
        reasons = tuple(reason for reason in review.get("reasons") or () if isinstance(reason, str))
        with self._lock:
            if reasons == self._flags.get(order_id, ()):
                return
            self._flags[order_id] = reasons
        if review.get("required") is True and reasons:
            self._print(f"order {order_id} flagged for review: {', '.join(reasons)}")
            command = f"curl -s -XPOST {self._api_url()}/orders/{order_id}/review -d '{RESOLVE_BODY}'"
            self._say(f"           resolve: {command}")

    # -- scheduled functions ---------------------------------------------------------------------------
    def scheduled(self, function: str) -> None:
        """Run `function` as its schedule would, and print its result and every order it settled."""
        label = f"{function} (scheduled)"
        try:
            result = self._invoke(function, scheduled_event())
        except InvocationError as error:  # LocalStackError (stopping) is the caller's
            self._print(f"{label} -> failed: {error}")
            return
        self._print(f"{label} -> {describe_counts(result)}")
        self._refresh_pending(label)

    def invoked(self, function: str, _result: Any) -> None:
        """A function an event source ran (LocalStack's on_invocation): after a status-check
        worker, every order it settled gets its line."""
        if function == STATUS_CHECK_FUNCTION:
            self._refresh_pending("status check")

    def webhook(self, webhook: Any) -> None:
        """The merchant's receiver got a webhook (its signature checked)."""
        self._print(f"webhook {webhook.describe()}")

    def _refresh_pending(self, label: str) -> None:
        with self._lock:
            pending = [order_id for order_id, state in self._states.items() if state == PENDING]
        for order_id in pending:
            order = self._current_order(order_id)
            state = order.get("status")
            if not isinstance(state, str):
                continue
            with self._lock:
                changed = state != self._states.get(order_id)
                if changed:
                    self._states[order_id] = state
            if changed:
                self._print(f"{label} -> order {order_id} {state}")
            self._review(order_id, order)

    def _print(self, text: str) -> None:
        self._say(f"[{time.strftime('%H:%M:%S')}] {text}")


def scheduled_event() -> dict[str, Any]:
    """What EventBridge Scheduler passes a function whose schedule has no Input: nothing of use
    (the reconciliation reads none of it)."""
    return {}


def describe_counts(result: Any) -> str:
    """A result such as the reconciliation's report: `checked 2: paid 1, still pending 1` (the
    first count always, the others when not zero)."""
    if not isinstance(result, dict):
        return "done"
    counts = [(name.replace("_", " "), value) for name, value in result.items() if type(value) is int]
    if not counts:
        return "done"
    (first, total), rest = counts[0], counts[1:]
    others = ", ".join(f"{name} {value}" for name, value in rest if value)
    return f"{first} {total}: {others}" if others else f"{first} {total}"


def notification_claims(body: bytes) -> dict[str, Any]:
    """The claims of the notification JWT in a request body (JSON `{"payment": ...}`, form
    `payment=...` or the bare JWT), NOT verified: only to name the order of an accepted one."""
    if len(body) > MAX_READ_BYTES:
        return {}
    text = body.decode("utf-8", errors="replace").strip()
    token: Any = None
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        form = parse_qs(text)
        token = form["payment"][0] if "payment" in form else text
    else:
        token = parsed.get("payment") if isinstance(parsed, dict) else None
    if not isinstance(token, str) or token.count(".") != 2:
        return {}
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        return {}
    return claims if isinstance(claims, dict) else {}


def printable(path: str) -> str:
    """The path as received, cut short and with anything but printable ASCII replaced."""
    cleaned = "".join(char if " " < char <= "~" else "?" for char in path)
    return cleaned if len(cleaned) <= MAX_PATH_CHARS else cleaned[: MAX_PATH_CHARS - 3] + "..."


def _order_id(value: Any) -> str | None:
    return value if isinstance(value, str) and ORDER_ID.fullmatch(value) else None


def _json_object(data: bytes) -> dict[str, Any]:
    """A JSON object body, else {}: whatever the bytes (not UTF-8, not JSON, nested past Python's
    recursion limit, too big to be worth reading)."""
    if len(data) > MAX_READ_BYTES:
        return {}
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}

"""Local scenarios: what goes wrong in real payments, played end to end on a local stack, one step
at a time, each ending PASS or FAIL (`make scenario NAME=...`, `python -m local scenario NAME`).

    failed-payment     the payer cancels: the order ends FAILED and payment.failed reaches the merchant
    double-payment     a session that failed is paid after all while a second one paid the order: the
                       order is flagged for review, then the operator records the refund
    lost-notification  ETpay's notification never arrives: the reconciler's status check settles the order
    webhook-down       the merchant's webhook endpoint is down, then back: the operator redelivers
    session-expires    nobody pays; the stack's clock moves past the session's lifetime and the
                       reconciler ends the order EXPIRED

Only ever through what a merchant, ETpay or an operator would use: the API over HTTP, the ETpay
sandbox (its funnel's outcomes and its notifications), the merchant's receiver, the scheduled
reconciliation, and the stack's clock (`LocalStack.move_clock`), which the functions read.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.demo.payment import DEMO_ORDERS, DemoClient, new_order_id
from local.demo.webhooks import ReceivedWebhook
from local.stack import LocalStack

RECONCILE = "ReconcileFunction"
WAIT_SECONDS = 30.0
# Past the moment that matters (a check coming due, a session's end): the clock is moved this much more.
CLOCK_MARGIN_SECONDS = 5


class ScenarioFailed(Exception):
    pass


@dataclass
class Scenario:
    """One run: the stack, the merchant's client of it, and how each step is told."""

    stack: LocalStack
    client: DemoClient
    say: Callable[[str], None]
    steps: int = 0

    def step(self, text: str) -> None:
        self.steps += 1
        self.say(f"{self.steps}. {text}")

    def check(self, holds: bool, problem: str) -> None:
        if not holds:
            raise ScenarioFailed(problem)

    def open_order(self, order_id: str | None = None) -> tuple[str, str]:
        """POST /sessions for an order (new unless given); its id and its session's token."""
        order_id = order_id or new_order_id("SCN")
        fields = DEMO_ORDERS[self.stack.currency]
        reply = self.client.create_session(order_id, **fields)
        self.check(reply.status == 201 and isinstance(reply.body, dict), f"POST /sessions answered {reply.status}")
        self.say(f"   POST /sessions -> 201, order {order_id} PENDING")
        return order_id, str(reply.body["session_token"])

    def finish_in_sandbox(self, token: str, outcome: str, deliver: bool = True) -> None:
        reply = self.client.complete_in_sandbox(token, outcome, deliver)
        body = reply.body if isinstance(reply.body, dict) else {}
        self.check(reply.status == 200, f"the sandbox answered {reply.status}")
        if deliver:
            self.check(
                body.get("delivery_status") == 200, f"the notification was answered {body.get('delivery_status')}"
            )
            self.say("   the sandbox POSTed the signed notification: /notifications -> 200")

    def order(self, order_id: str) -> dict[str, Any]:
        reply = self.client.get_order(order_id)
        self.check(reply.status == 200 and isinstance(reply.body, dict), f"GET /orders/{order_id} -> {reply.status}")
        body: dict[str, Any] = reply.body
        return body

    def wait_status(self, order_id: str, status: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_SECONDS
        while (order := self.order(order_id))["status"] != status:
            self.check(time.monotonic() < deadline, f"order {order_id} is {order['status']}, not {status}")
            self._pause()
        self.say(f"   GET /orders/{order_id} -> {status}")
        return order

    def wait_webhook(self, kind: str, order_id: str, after: int = 0) -> ReceivedWebhook:
        def matches(webhook: ReceivedWebhook) -> bool:
            return webhook.type == kind and webhook.merchant_order_id == order_id and webhook.verified

        webhooks = self.stack.webhooks
        found = webhooks.wait_for(
            lambda w: matches(w) and webhooks.received.index(w) >= after,
            WAIT_SECONDS,
            lambda: self.stack.stop_requested,
        )
        self.check(found is not None, f"no verified {kind} webhook for {order_id} within {WAIT_SECONDS:g} s")
        assert found is not None
        self.say(f"   the merchant's receiver got {found.describe()}")
        return found

    def move_clock(self, seconds: int, why: str) -> None:
        self.stack.move_clock(seconds)
        self.say(f"   the stack's clock moves {seconds} s ahead ({why}): the functions now read that time")

    def reconcile(self) -> None:
        result = self.stack.invoke(RECONCILE, {})
        handed = result.get("handed_out") if isinstance(result, dict) else None
        self.check(isinstance(handed, int) and handed >= 1, f"the reconciliation handed out no check: {result}")
        self.say(f"   {RECONCILE} (as its schedule runs it) handed out {handed} status check(s) to the workers")

    def _pause(self) -> None:
        if self.stack.stop_requested:
            raise ScenarioFailed("stopped")
        time.sleep(0.1)


def failed_payment(run: Scenario) -> None:
    run.step("The merchant's backend opens an ETpay session")
    order_id, token = run.open_order()
    run.step("The payer presses Cancel in ETpay's funnel: ETpay notifies a failed payment")
    run.finish_in_sandbox(token, "failed")
    run.step("The order ends FAILED, and the merchant hears of it")
    run.wait_status(order_id, "FAILED")
    run.wait_webhook("payment.failed", order_id)


def double_payment(run: Scenario) -> None:
    run.step("A first session for the order fails")
    order_id, first = run.open_order()
    run.finish_in_sandbox(first, "failed")
    run.wait_status(order_id, "FAILED")
    run.step("The payer tries again: a second session pays the order")
    _, second = run.open_order(order_id)
    run.finish_in_sandbox(second, "paid")
    run.wait_status(order_id, "PAID")
    run.step("ETpay then reports the first session paid after all: the payer paid twice")
    sandbox = run.stack.sandbox
    assert sandbox is not None
    url = sandbox.session(first).webhook_url
    run.check(url is not None, "the first session has no notification URL")
    status, _ = sandbox.deliver(sandbox.notification_jwt(first, "paid"), str(url))
    run.check(status == 200, f"the late notification was answered {status}")
    run.say("   the sandbox POSTed the signed notification: /notifications -> 200")
    review = run.order(order_id).get("review") or {}
    run.check(review.get("required") is True, f"the order is not flagged for review: {review}")
    run.check("possible_double_payment" in review.get("reasons", []), f"no possible_double_payment: {review}")
    run.say(f"   the order stays PAID, flagged for review: {', '.join(review['reasons'])}")
    run.wait_webhook("order.review_required", order_id)
    listed = run.client.request("GET", "/reviews")
    queue = listed.body.get("reviews", []) if isinstance(listed.body, dict) else []
    run.check(any(entry.get("merchant_order_id") == order_id for entry in queue), "GET /reviews does not list it")
    run.say("   GET /reviews lists it")
    run.step("The operator refunds one payment and records it: POST /orders/{id}/review")
    note = {"resolution": "refunded", "note": "refunded the first session's payment"}
    resolved = run.client.request("POST", f"/orders/{order_id}/review", note)
    run.check(resolved.status == 200, f"POST /orders/{order_id}/review answered {resolved.status}")
    review = run.order(order_id).get("review") or {}
    run.check(review.get("required") is False, f"the review is still open: {review}")
    run.say(f"   POST /orders/{order_id}/review -> 200: the review is resolved, the order still PAID")
    run.wait_webhook("order.review_resolved", order_id)


def lost_notification(run: Scenario) -> None:
    run.step("The payer pays, but ETpay's notification never reaches the backend")
    order_id, token = run.open_order()
    run.finish_in_sandbox(token, "paid", deliver=False)
    run.check(run.order(order_id)["status"] == "PENDING", "the order moved without a notification")
    run.say(f"   GET /orders/{order_id} -> PENDING: the backend does not know yet")
    run.step("Time passes: the session's first status check comes due")
    after = int(run.stack.parameter("ReconcileAfterSeconds"))
    run.move_clock(after + CLOCK_MARGIN_SECONDS, f"ReconcileAfterSeconds is {after}")
    run.reconcile()
    run.step("A worker asks ETpay's status API, which says paid: the order is settled")
    run.wait_status(order_id, "PAID")
    run.wait_webhook("payment.succeeded", order_id)


def webhook_down(run: Scenario) -> None:
    webhooks = run.stack.webhooks
    run.step("The merchant's webhook endpoint goes down")
    webhooks.stop()
    try:
        run.say(f"   {webhooks.url} refuses connections")
        run.step("An order is paid while it is down")
        order_id, token = run.open_order()
        run.finish_in_sandbox(token, "paid")
        run.wait_status(order_id, "PAID")
        event = _event(run, order_id, "payment.succeeded", lambda e: e["delivery"]["state"] == "retrying")
        run.say(
            f"   GET /orders/{order_id}/events: payment.succeeded {event['delivery']['state']} "
            f"after {event['delivery']['attempts']} attempt(s) ({event['delivery'].get('last_error', 'failed')})"
        )
    finally:
        seen = len(webhooks.received)
        webhooks.start()
    run.step("The endpoint is back; the operator redelivers rather than wait for the next retry")
    redelivered = run.client.request("POST", f"/events/{event['id']}/redeliver")
    run.check(redelivered.status == 202, f"POST /events/{{id}}/redeliver answered {redelivered.status}")
    run.say(f"   POST /events/{event['id']}/redeliver -> 202")
    run.wait_webhook("payment.succeeded", order_id, after=seen)
    _event(run, order_id, "payment.succeeded", lambda e: e["delivery"]["state"] == "delivered")
    run.say(f"   GET /orders/{order_id}/events: payment.succeeded delivered")


def _event(run: Scenario, order_id: str, kind: str, ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The order's event of this type once `ready` holds for it."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        reply = run.client.request("GET", f"/orders/{order_id}/events")
        events = reply.body.get("events", []) if isinstance(reply.body, dict) else []
        found = next((event for event in events if event.get("type") == kind), None)
        if found is not None and ready(found):
            return dict(found)
        run.check(time.monotonic() < deadline, f"{kind} of {order_id}: {found and found.get('delivery')}")
        run._pause()


def session_expires(run: Scenario) -> None:
    run.step("An order's session opens, and nobody pays")
    order_id, _ = run.open_order()
    run.step("Time passes beyond the session's lifetime")
    lifetime = int(run.stack.parameter("SessionLifetimeSeconds"))
    run.move_clock(lifetime + CLOCK_MARGIN_SECONDS, f"SessionLifetimeSeconds is {lifetime}")
    run.reconcile()
    run.step("The last status check finds no result at ETpay: the session and its order end EXPIRED")
    run.wait_status(order_id, "EXPIRED")
    run.wait_webhook("session.expired", order_id)


SCENARIOS: dict[str, Callable[[Scenario], None]] = {
    "failed-payment": failed_payment,
    "double-payment": double_payment,
    "lost-notification": lost_notification,
    "webhook-down": webhook_down,
    "session-expires": session_expires,
}


def describe() -> list[tuple[str, str]]:
    """Each scenario's name and what it shows (the module docstring's lines)."""
    lines = __doc__.split("\n\n")[1].splitlines() if __doc__ else []
    found: list[tuple[str, str]] = []
    for line in lines:
        name, _, text = line.strip().partition(" ")
        if name in SCENARIOS:
            found.append((name, text.strip()))
        elif found:
            found[-1] = (found[-1][0], f"{found[-1][1]} {line.strip()}")
    return found


def run_scenario(name: str, stack: LocalStack, say: Callable[[str], None]) -> bool:
    """Play one scenario on a started stack; True when every step held."""
    client = DemoClient(stack.api_url, stack.sandbox_url)
    started = time.monotonic()
    try:
        SCENARIOS[name](Scenario(stack, client, say))
    except ScenarioFailed as failure:
        say(f"FAIL {name}: {failure}")
        return False
    finally:
        client.close()
    say(f"PASS {name} ({time.monotonic() - started:.1f} s)")
    return True

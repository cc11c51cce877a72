"""The template's seven functions, each with the event the bench measures it on (FUNCTIONS): the
commonest of its work, made from the committed example in events/ where there is one, a fresh
order, session or event each time (so every invocation takes the same path), the state it needs
stored first, untimed. Their bare baselines (bench/baseline/<code>/app.py) make the same AWS
requests. A status check's payer has not paid yet, as in most checks."""

import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bench.stack import BenchStack
from etpay.notification import sign_notification
from local.emulator.template import ROOT
from local.etpay_sandbox import EtpaySandbox
from local.etpay_sandbox.model import SandboxSession
from local.examples import EXAMPLE_ORDER_ID, EXAMPLE_SESSION_TOKEN, example_notification_claims
from payments.adapters.event_store import EventStore
from payments.adapters.session_claims import SessionClaims
from payments.domain.clock import iso_utc, utc_now
from payments.domain.events import EventType, OrderEvent, event_id
from payments.domain.orders import Status
from payments.domain.sessions import opened_session

AMOUNT = 50_000
LIFETIME = timedelta(days=1)
NO_FAILURES: dict[str, list[str]] = {"batchItemFailures": []}


def example(name: str, **replace: str) -> dict[str, Any]:
    """events/<name>, each `replace` key's text replaced by its value."""
    text = (ROOT / "events" / name).read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def new_order_id() -> str:
    return f"BENCH-{uuid.uuid4().hex[:16]}"


def open_session(claims: SessionClaims, sandbox: EtpaySandbox, order_id: str, now: datetime,
                 lifetime: timedelta, first_check: timedelta) -> SandboxSession:  # fmt: skip
    """What POST /sessions does for a new order at `now`: the claim, ETpay's session (opened in the
    sandbox directly), the session stored with its first status check due after `first_check`."""
    opened, claim = sandbox.open_session({"merchant_order_id": order_id, "order_amount": AMOUNT}), uuid.uuid4().hex
    claims.claim_new_order(order_id, AMOUNT, "CLP", claim, now)
    order, session = opened_session(None, order_id, AMOUNT, "CLP", opened.token, opened.signature_token,
                                    sandbox.funnel_url(opened.token), now, lifetime)  # fmt: skip
    claims.open_session(order, session, claim, replaces=None, first_check=now + first_check)
    return opened


def pending_session(stack: BenchStack, first_check: timedelta = LIFETIME) -> tuple[str, str, str]:
    """A new order PENDING on its session: (order id, session token, signature token)."""
    order_id = new_order_id()
    claims = SessionClaims(stack.refs["OrdersTable"], stack.client("dynamodb"))
    opened = open_session(claims, stack.sandbox, order_id, utc_now(), LIFETIME, first_check)
    return order_id, opened.token, opened.signature_token


def stored_event(stack: BenchStack) -> str:
    """A new order's payment.succeeded, recorded in the events table as the stream function records it."""
    order_id, token, now = new_order_id(), "sess-" + secrets.token_hex(12), utc_now()
    order = opened_session(None, order_id, AMOUNT, "CLP", token, "", "https://pay.example", now, LIFETIME)[0]
    paid = replace(order, status=Status.PAID, payment_token="pay-" + secrets.token_hex(8))
    kind = EventType.PAYMENT_SUCCEEDED
    event = OrderEvent(event_id(kind, order_id, token), kind, iso_utc(now), paid, token)
    EventStore(stack.refs["EventsTable"], stack.client("dynamodb")).record(event, webhooks=True, now=event.created_at)
    return event.id


def create_session(stack: BenchStack) -> dict[str, Any]:
    return example("create_session.json", **{EXAMPLE_ORDER_ID: new_order_id()})


def notification(stack: BenchStack) -> dict[str, Any]:
    order_id, token, signature_token = pending_session(stack)
    claims = example_notification_claims() | {"session_token": token, "merchant_order_id": order_id}
    event = example("notification.json")
    event["body"] = json.dumps({"payment": sign_notification(claims, signature_token)})
    return event


def sweep(stack: BenchStack) -> dict[str, Any]:
    # The check due before is handed out again 5 minutes after its lease: out with it, so every
    # sweep finds the one check due that is stored for it.
    dynamodb = stack.client("dynamodb")
    for order_id in stack.scratch.pop("due", []):
        dynamodb.delete_item(TableName=stack.refs["OrdersTable"], Key={"pk": {"S": f"ORDER#{order_id}"}})
    stack.scratch["due"] = [pending_session(stack, first_check=-timedelta(minutes=1))[0]]
    return {"version": "0", "detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": {}}


def status_check(stack: BenchStack) -> dict[str, Any]:
    order_id, token, _ = pending_session(stack)
    event = example("webhook_message.json")
    event["Records"][0]["body"] = json.dumps({"merchant_order_id": order_id, "session_token": token})
    return event


def stream_record(stack: BenchStack) -> dict[str, Any]:
    return example("order_paid_stream.json", **{EXAMPLE_ORDER_ID: new_order_id()})


def claim_record(stack: BenchStack) -> dict[str, Any]:
    """The stream record of a new order's claim (the item POST /sessions writes before asking ETpay):
    an order with no session yet, which makes no event."""
    event = stream_record(stack)
    record = event["Records"][0]
    paid = record["dynamodb"].pop("OldImage")
    claim = {name: paid[name] for name in ("pk", "kind", "merchant_order_id", "order_amount", "currency")}
    record["eventName"] = "INSERT"
    record["dynamodb"]["NewImage"] = claim | {
        "sessions": {"M": {}},
        "claim_id": {"S": uuid.uuid4().hex},
        "claim_expires": {"N": "1767225720"},
        "expires_at": {"N": "1767312060"},
    }
    return event


def webhook_message(stack: BenchStack) -> dict[str, Any]:
    event = example("webhook_message.json")
    event["Records"][0]["body"] = json.dumps({"event_id": stored_event(stack), "redelivery": False})
    return event


def get_event(stack: BenchStack) -> dict[str, Any]:
    placeholder = event_id(EventType.PAYMENT_SUCCEEDED, EXAMPLE_ORDER_ID, EXAMPLE_SESSION_TOKEN)
    return example("get_event.json", **{placeholder: stored_event(stack)})


def answered(status: int) -> Callable[[Any], bool]:
    return lambda response: isinstance(response, dict) and response.get("statusCode") == status


@dataclass(frozen=True)
class Function:
    name: str  # the template's logical id
    code: str  # its directory under functions/ (and its baseline's under bench/baseline/)
    request: str  # what it is measured on
    event: Callable[[BenchStack], dict[str, Any]]  # the next event, its state stored first
    expected: Callable[[Any], bool]  # its answer when it did the work


FUNCTIONS = (
    Function("PaymentsFunction", "payments", "POST /sessions", create_session, answered(201)),
    Function("NotificationsFunction", "notifications", "POST /notifications", notification, answered(200)),
    Function("ReconcileFunction", "reconcile", "scheduled sweep", sweep, lambda r: r.get("handed_out") == 1),
    Function("ReconcileWorkerFunction", "reconcile_worker", "status check", status_check, NO_FAILURES.__eq__),
    Function("EventPublisherFunction", "event_publisher", "stream record", stream_record, NO_FAILURES.__eq__),
    Function("WebhookDeliveryFunction", "webhook_delivery", "webhook", webhook_message, NO_FAILURES.__eq__),
    Function("EventsApiFunction", "events_api", "GET /events/{id}", get_event, answered(200)),
)
BY_NAME = {function.name: function for function in FUNCTIONS}
# The stream function's other invocation in every payment: a record that makes no event (what a
# payment costs counts it; bench.costs.EXTRA_INVOCATIONS).
CLAIM_RECORD = Function("EventPublisherFunction", "event_publisher", "claim record", claim_record, NO_FAILURES.__eq__)

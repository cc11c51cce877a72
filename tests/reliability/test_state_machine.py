"""Property-based: Hypothesis drives random sequences of what the outside world can do to an order
(session requests, ETpay notifications paid / failed / unknown / duplicated / late / with a wrong
amount, status checks through ETpay's status API, sessions reaching the end of their lifetime)
against the real handlers, and after every step checks what is stored against the rules money must
obey:

- ETpay's word is final (a session's PAID / FAILED), and so is an order's PAID; the only way out
  of our own EXPIRED is a verified payment, which makes the session PAID;
- PAID means a verified paid result exists for the session the order shows, with its amount; an
  order is PAID exactly when one of its sessions is;
- no session moves without a verified notification or a status-API answer saying so, except to
  EXPIRED when ETpay had no result for it;
- an order never has two live (PENDING) sessions, exactly a live session is in the check index,
  and no claim is left behind;
- review flags only appear when something happened that deserves one.
"""

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import cast

import boto3
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule, run_state_machine_as_test

from local.emulator.template import table_definitions
from local.etpay_sandbox import EtpaySandbox
from payments.app.reconciliation import CheckSession
from payments.config import wiring
from payments.domain.checks import CheckTask
from payments.domain.clock import utc_now
from tests.support.api import Api, new_order_id, session_payload
from tests.support.aws import REGION, plain_item

MAX_EXAMPLES = 20
STEPS_PER_EXAMPLE = 20
MACHINE_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    stateful_step_count=STEPS_PER_EXAMPLE,
    deadline=None,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow],
)

MAX_AMOUNT = 7_000_000  # the MAX_ORDER_AMOUNT the root conftest configures
AMOUNTS = st.integers(min_value=1, max_value=MAX_AMOUNT)
# payment_status values by what ETpay means with them (docs/ETPAY.md, section 4). The unknown ones
# include near misses: "true" is not the boolean true, "approved" is not a published word.
PAID_STATUSES = st.sampled_from([True, "success", "SUCCESS", " Success "])
FAILED_STATUSES = st.sampled_from([False, "rejected", "canceled", "cancelled", "error", "FAILED"])
UNKNOWN_STATUSES = st.sampled_from(["processing", "pending", "approved", "succeeded", "true", 1, 0])
FINAL = {"paid": "PAID", "failed": "FAILED"}


@dataclass
class ModelSession:
    token: str
    merchant_order_id: str
    amount: int
    # Outcomes ("PAID" / "FAILED") some verified source gave for this session with the right
    # amount: a correctly signed notification, or ETpay's status API during reconciliation.
    verified: set[str] = field(default_factory=set)
    # A verified paid result whatever its amount (it earns a paid_after_failed flag, not PAID).
    reported_paid: bool = False
    completed_at_etpay: str | None = None
    # We ended it at the end of its lifetime, ETpay having no result for it then.
    expired_by_us: bool = False
    first_final: str | None = None


@dataclass
class ModelOrder:
    merchant_order_id: str
    amount: int
    sessions: list[str] = field(default_factory=list)
    mismatch_delivered: bool = False
    paid_session: str | None = None

    @property
    def current(self) -> str:
        return self.sessions[-1]


@dataclass(frozen=True)
class Delivery:
    session_token: str
    jwt: str


class PaymentsMachine(RuleBasedStateMachine):
    # Bound by the test below: the handler client, the running sandbox, pytest's monkeypatch.
    api: Api
    sandbox: EtpaySandbox
    env: pytest.MonkeyPatch
    examples_run = 0

    orders = Bundle("orders")
    old_sessions = Bundle("old_sessions")
    deliveries = Bundle("deliveries")

    def __init__(self):
        super().__init__()
        type(self).examples_run += 1
        # A table of its own per example: reconciliation scans every PENDING session of the table.
        self.table = f"etpay-orders-{uuid.uuid4().hex[:12]}"
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.dynamodb.create_table(TableName=self.table, **table_definitions()["OrdersTable"])
        self.env.setenv("TABLE_NAME", self.table)
        wiring.reset()
        self.orders_by_id: dict[str, ModelOrder] = {}
        self.sessions_by_token: dict[str, ModelSession] = {}

    def teardown(self):
        self.dynamodb.delete_table(TableName=self.table)

    # -- helpers ---------------------------------------------------------------------------------
    def _stored(self) -> list[dict]:
        items, start = [], None
        while True:
            page = self.dynamodb.scan(TableName=self.table, **({"ExclusiveStartKey": start} if start else {}))
            items.extend(page["Items"])
            start = page.get("LastEvaluatedKey")
            if not start:
                return items

    def _add_session(self, order: ModelOrder, token: str) -> None:
        assert token not in self.sessions_by_token, "ETpay session tokens are unique"
        order.sessions.append(token)
        self.sessions_by_token[token] = ModelSession(token, order.merchant_order_id, order.amount)

    def _deliver(self, session_token: str, status, verified_as: str | None, **overrides) -> Delivery:
        jwt = self.sandbox.notification_jwt(session_token, status, **overrides)
        reply = self.api.notify_jwt(jwt)
        # Every notification here is correctly signed for a known session: always acknowledged.
        assert (reply.status, reply.body) == (200, {"received": True})
        session = self.sessions_by_token[session_token]
        amount_ok = "merchant_amount" not in overrides
        if verified_as == "PAID":
            session.reported_paid = True
        if verified_as and amount_ok:
            session.verified.add(verified_as)
        if not amount_ok:
            self.orders_by_id[session.merchant_order_id].mismatch_delivered = True
        return Delivery(session_token, jwt)

    # -- POST /sessions --------------------------------------------------------------------------
    @rule(target=orders, amount=AMOUNTS)
    def create_session_for_a_new_order(self, amount):
        order = ModelOrder(new_order_id(), amount)
        reply = self.api.create_session(session_payload(order.merchant_order_id, amount))
        assert reply.status == 201, reply.body
        self.orders_by_id[order.merchant_order_id] = order
        self._add_session(order, reply.body["session_token"])
        return order.merchant_order_id

    @rule(target=old_sessions, merchant_order_id=orders)
    def repeat_the_session_request(self, merchant_order_id):
        order = self.orders_by_id[merchant_order_id]
        before = self.api.get_order(merchant_order_id).body
        calls = len(self.sandbox.initialize_requests)

        reply = self.api.create_session(session_payload(merchant_order_id, order.amount))

        if before["status"] == "PAID":
            assert (reply.status, reply.error) == (409, "order_already_paid")
        elif before["status"] == "PENDING":
            assert (reply.status, reply.body["session_token"]) == (200, order.current)
            assert len(self.sandbox.initialize_requests) == calls
        else:
            assert reply.status == 201, reply.body
            assert reply.body["status"] == "PENDING"
            replaced = order.current
            self._add_session(order, reply.body["session_token"])
            return multiple(replaced)
        return multiple()

    @rule(merchant_order_id=orders, delta=st.sampled_from([1, -1, 1000]))
    def request_the_same_order_with_another_amount(self, merchant_order_id, delta):
        order = self.orders_by_id[merchant_order_id]
        amount = next(other for other in (order.amount + delta, order.amount - delta) if 1 <= other <= MAX_AMOUNT)
        calls = len(self.sandbox.initialize_requests)

        reply = self.api.create_session(session_payload(merchant_order_id, amount))

        assert (reply.status, reply.error) == (409, "order_amount_mismatch")
        assert len(self.sandbox.initialize_requests) == calls

    # -- POST /notifications ---------------------------------------------------------------------
    @rule(target=deliveries, merchant_order_id=orders, status=PAID_STATUSES)
    def notify_paid(self, merchant_order_id, status):
        return self._deliver(self.orders_by_id[merchant_order_id].current, status, "PAID")

    @rule(target=deliveries, merchant_order_id=orders, status=FAILED_STATUSES)
    def notify_failed(self, merchant_order_id, status):
        return self._deliver(self.orders_by_id[merchant_order_id].current, status, "FAILED")

    @rule(target=deliveries, merchant_order_id=orders, status=UNKNOWN_STATUSES)
    def notify_an_unknown_status(self, merchant_order_id, status):
        return self._deliver(self.orders_by_id[merchant_order_id].current, status, None)

    @rule(
        target=deliveries,
        merchant_order_id=orders,
        outcome=st.sampled_from(["paid", "failed"]),
        delta=st.sampled_from([1, -1, 10_000]),
    )
    def notify_with_a_wrong_amount(self, merchant_order_id, outcome, delta):
        order = self.orders_by_id[merchant_order_id]
        delivery = self._deliver(order.current, outcome, FINAL[outcome], merchant_amount=order.amount + delta)
        review = self.api.get_order(merchant_order_id).body["review"]
        assert "notification_mismatch" in review["reasons"]
        return delivery

    @rule(target=deliveries, session_token=old_sessions, outcome=st.sampled_from(["paid", "failed"]))
    def notify_late_for_an_older_session(self, session_token, outcome):
        return self._deliver(session_token, outcome, FINAL[outcome])

    @rule(delivery=deliveries)
    def deliver_again(self, delivery):
        reply = self.api.notify_jwt(delivery.jwt)
        assert (reply.status, reply.body) == (200, {"received": True})

    # -- status checks and expiry -----------------------------------------------------------------
    def _check_every_live_session(self, minutes_later: float = 0) -> None:
        """What the workers do when the sweep hands them every live session's check."""
        service = wiring.check_session() if not minutes_later else self._worker_later(minutes_later)
        for item in self._stored():
            values = plain_item(item)
            for token, session in values["sessions"].items():
                if session["status"] == "PENDING":
                    service.check(CheckTask(values["merchant_order_id"], token))

    @staticmethod
    def _worker_later(minutes: float) -> CheckSession:
        return wiring.make_check_session(clock=lambda: utc_now() + timedelta(minutes=minutes))

    @rule(merchant_order_id=orders, outcome=st.sampled_from(["paid", "failed"]))
    def reconcile_with_the_status_api(self, merchant_order_id, outcome):
        session = self.sessions_by_token[self.orders_by_id[merchant_order_id].current]
        if session.completed_at_etpay is None:
            self.sandbox.complete(session.token, outcome, deliver=False)
            session.completed_at_etpay = FINAL[outcome]

        self._check_every_live_session()

        self._status_api_was_asked()

    def _status_api_was_asked(self) -> None:
        # From now on ETpay's own answer is a verified source for every session it completed.
        for known in self.sessions_by_token.values():
            if known.completed_at_etpay:
                known.verified.add(known.completed_at_etpay)
                known.reported_paid |= known.completed_at_etpay == "PAID"

    @rule()
    def live_sessions_reach_the_end_of_their_lifetime(self):
        """Every live session's final check: those ETpay has no result for end EXPIRED."""
        for item in self._stored():
            for token, session in plain_item(item)["sessions"].items():
                known = self.sessions_by_token[token]
                if session["status"] == "PENDING" and known.completed_at_etpay is None:
                    known.expired_by_us = True
        self._check_every_live_session(minutes_later=31)
        self._status_api_was_asked()

    # -- invariants ------------------------------------------------------------------------------
    @invariant()
    def stored_money_state_obeys_the_rules(self):
        stored = {}
        for item in self._stored():
            values = plain_item(item)
            kind, _, key = values["pk"].partition("#")
            assert kind == "ORDER", f"an item that is not an order: {kind}"
            stored[key] = values
        assert set(stored) == set(self.orders_by_id), "an order nobody asked for, or a claim left behind"
        sessions = {token: session for values in stored.values() for token, session in values["sessions"].items()}
        assert set(sessions) == set(self.sessions_by_token), "a session nobody asked ETpay for"

        for values in stored.values():
            assert "claim_id" not in values, "a session claim was left behind"
            assert "expires_at" not in values, "an order would be removed by TTL"
            assert values["order_amount"] == self.orders_by_id[values["merchant_order_id"]].amount
            # In the check index exactly while one of its sessions is live: that one.
            live = [token for token, session in values["sessions"].items() if session["status"] == "PENDING"]
            assert len(live) <= 1, "two live sessions for one order"
            assert values.get("check_session") == (live[0] if live else None)
            assert ("next_check_at" in values) is bool(live)

        for token, item in sessions.items():
            session = self.sessions_by_token[token]
            status = item["status"]
            if status == "PENDING":
                assert session.first_final is None, f"final {session.first_final} became PENDING again"
                continue
            # Our EXPIRED gives way to a verified payment; ETpay's own word never changes.
            allowed = (None, status, "EXPIRED") if status == "PAID" else (None, status)
            assert session.first_final in allowed, f"final {session.first_final} became {status}"
            session.first_final = status
            if status == "EXPIRED":
                assert session.expired_by_us, "EXPIRED while ETpay had a result for it"
            else:
                assert status in session.verified, f"{status} without a verified result saying so"

        for merchant_order_id, order in self.orders_by_id.items():
            view = self.api.get_order(merchant_order_id)
            assert view.status == 200
            assert "signature_token" not in view.body
            status = view.body["status"]
            assert status == stored[merchant_order_id]["status"]
            assert view.body["order_amount"] == order.amount
            statuses = [sessions[token]["status"] for token in order.sessions]
            # PAID exactly when a session is; until then the order follows its newest session.
            assert (status == "PAID") is ("PAID" in statuses)
            if status != "PAID":
                assert (status, view.body["session_token"]) == (statuses[-1], order.current)
                assert "PENDING" not in statuses[:-1], "an older session still live"

            if order.paid_session is not None:
                assert (status, view.body["session_token"]) == ("PAID", order.paid_session), "PAID was undone"
            if status == "PAID":
                order.paid_session = view.body["session_token"]
                assert sessions[order.paid_session]["status"] == "PAID"
                assert "PAID" in self.sessions_by_token[order.paid_session].verified

            reasons = set(view.body["review"]["reasons"])
            assert view.body["review"]["required"] is bool(reasons)
            assert ("notification_mismatch" in reasons) is order.mismatch_delivered
            if "paid_after_failed" in reasons:
                assert any(
                    self.sessions_by_token[token].reported_paid and stored_status == "FAILED"
                    for token, stored_status in zip(order.sessions, statuses, strict=True)
                )
            if "possible_double_payment" in reasons:
                assert status == "PAID"
                assert "paid_after_failed" in reasons or statuses.count("PAID") >= 2


def test_random_histories_never_break_the_money_rules(api, stack, monkeypatch, record_property):
    machine = cast(
        type[PaymentsMachine],
        type("BoundPaymentsMachine", (PaymentsMachine,), {"api": api, "sandbox": stack, "env": monkeypatch}),
    )

    run_state_machine_as_test(machine, settings=MACHINE_SETTINGS)

    assert machine.examples_run >= MAX_EXAMPLES // 2
    record_property("hypothesis_examples", machine.examples_run)

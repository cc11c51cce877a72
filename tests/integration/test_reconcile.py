"""Reconciliation: a notification may never arrive. Sessions still PENDING are checked with ETpay's
status API and its answer goes through the same conditional transitions as notifications."""

import json

import boto3
from conftest import (
    REGION,
    SECRET_ID,
    TABLE_NAME,
    LambdaContext,
    load_handler,
    new_order_id,
    open_session,
    stored_items,
)

from etpay import EtpayTimeout
from local.etpay_sandbox import rules
from payments import runtime, secret_store
from payments.clock import utc_now
from payments.notification_keys import NotificationKeys
from payments.repository import OrderRepository
from payments.runtime import payments_service
from payments.service import PaymentsService
from payments.settings import get_settings


def reconcile(limit=50, older_than_seconds=0, has_time=lambda: True):
    return payments_service().reconcile(older_than_seconds=older_than_seconds, limit=limit, has_time=has_time)


def test_a_paid_session_whose_notification_never_came_is_marked_paid(api, stack, order_id):
    token = open_session(api, stack, order_id)
    stack.complete(token, "paid", deliver=False)

    report = reconcile()

    assert report.paid == 1
    order = api.get_order(order_id).body
    assert order["status"] == "PAID"
    assert order["payment_token"] == stack.sessions[token].payment_token


def test_a_failed_session_is_marked_failed(api, stack, order_id):
    token = open_session(api, stack, order_id)
    stack.complete(token, "failed", deliver=False)

    assert reconcile().failed == 1
    assert api.get_order(order_id).body["status"] == "FAILED"


def test_a_session_etpay_knows_nothing_about_stays_pending(api, stack, order_id):
    open_session(api, stack, order_id)
    before = api.get_order(order_id).body

    report = reconcile()

    assert report.still_pending == 1
    assert api.get_order(order_id).body == before


def test_young_sessions_are_left_for_their_notification(api, stack, order_id):
    token = open_session(api, stack, order_id)
    stack.complete(token, "paid", deliver=False)

    report = reconcile(older_than_seconds=3600)

    assert report.checked == 0
    assert api.get_order(order_id).body["status"] == "PENDING"


def test_a_run_is_bounded_and_the_next_run_continues(api, stack):
    orders = [new_order_id() for _ in range(3)]
    for merchant_order_id in orders:
        stack.complete(open_session(api, stack, merchant_order_id), "paid", deliver=False)

    first = reconcile(limit=2)
    second = reconcile(limit=2)

    assert (first.paid, second.paid) == (2, 1)
    assert {api.get_order(o).body["status"] for o in orders} == {"PAID"}


def test_running_twice_changes_nothing_more(api, stack, order_id):
    stack.complete(open_session(api, stack, order_id), "paid", deliver=False)
    reconcile()
    settled = stored_items()

    report = reconcile()

    assert report.checked == 0
    assert stored_items() == settled


def test_a_reconciled_session_then_notified_is_answered_as_a_duplicate(api, stack, order_id):
    token = open_session(api, stack, order_id)
    result = stack.complete(token, "paid", deliver=False)
    reconcile()
    settled = stored_items()

    assert api.notify_jwt(result["jwt"]).status == 200
    assert stored_items() == settled


def test_etpay_down_leaves_everything_pending(api, stack, order_id):
    open_session(api, stack, order_id)
    dead = {**stack.credentials(), "api_url": "http://127.0.0.1:9"}
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=SECRET_ID, SecretString=json.dumps(dead)
    )
    runtime.reset()  # as if the cached copy had aged out
    before = stored_items()

    report = reconcile()

    assert report.errors == 1
    assert stored_items() == before


def test_the_scheduled_handler_reports_and_emits_the_stuck_metric(api, stack, order_id, monkeypatch, capfd):
    monkeypatch.setenv("RECONCILE_AFTER_SECONDS", "60")
    open_session(api, stack, order_id)
    handler = load_handler("reconcile")

    report = handler.lambda_handler({"source": "aws.scheduler"}, LambdaContext())

    # The session is seconds old: nothing is due yet, and the run says so.
    assert report["checked"] == 0
    assert '"StuckPendingSessions"' in capfd.readouterr().out


def test_sessions_etpay_knows_nothing_about_do_not_starve_newer_ones(api, stack):
    abandoned = [new_order_id() for _ in range(2)]
    for merchant_order_id in abandoned:
        open_session(api, stack, merchant_order_id)  # the payer never comes back
    paid_later = new_order_id()
    stack.complete(open_session(api, stack, paid_later), "paid", deliver=False)

    first = reconcile(limit=2)
    second = reconcile(limit=2)

    assert (first.still_pending, first.paid) == (2, 0)
    assert second.paid == 1
    assert api.get_order(paid_later).body["status"] == "PAID"


class StatusApi:
    """ETpay's status API as a test needs it: the answer for each session, or an error."""

    def __init__(self, answers):
        self._answers = answers
        self.asked: list[str] = []

    def check_payment_status(self, *, session_token):
        self.asked.append(session_token)
        answer = self._answers[session_token]
        if isinstance(answer, Exception):
            raise answer
        return answer


def reconcile_with(status_api: StatusApi, **kwargs):
    settings = get_settings()
    keys = NotificationKeys(settings.notification_key_secret_id, secret_store.store)
    service = PaymentsService(
        OrderRepository(TABLE_NAME), settings, etpay_client=lambda: status_api, notification_keys=keys
    )
    return service.reconcile(**{"older_than_seconds": 0, "limit": 50, "has_time": lambda: True, **kwargs})


def record(stack, token: str, outcome: str = "paid", **overrides) -> dict:
    """The payment record ETpay's status API returns for the session."""
    return stack.payment(stack.session(token), rules.payment_status_for(outcome), **overrides)


def test_a_run_out_of_time_defers_the_rest_without_asking(api, stack, order_id):
    token = open_session(api, stack, order_id)
    status_api = StatusApi({token: [record(stack, token)]})

    report = reconcile_with(status_api, has_time=lambda: False)

    assert (report.deferred, report.checked, status_api.asked) == (1, 0, [])
    assert api.get_order(order_id).body["status"] == "PENDING"


def test_an_order_settled_between_the_queue_and_its_read_is_not_asked_about(api, stack, aws_faults, order_id):
    token = open_session(api, stack, order_id)
    notification = stack.notification_jwt(token, "paid")
    other = OrderRepository(TABLE_NAME)

    def paid_meanwhile():
        order, session = other.get_order_and_session(order_id, token)
        other.mark_paid(order, session, "pay-1", utc_now())

    aws_faults.before_next("dynamodb", "GetItem", paid_meanwhile)
    status_api = StatusApi({})

    report = reconcile_with(status_api)

    assert (report.checked, status_api.asked) == (0, [])
    assert api.notify_jwt(notification).status == 200
    assert api.get_order(order_id).body["status"] == "PAID"


def test_a_timeout_leaves_the_rest_of_the_run_for_the_next_one(api, stack):
    slow, later = (open_session(api, stack, new_order_id()) for _ in range(2))
    status_api = StatusApi({slow: EtpayTimeout("ETpay did not answer"), later: [record(stack, later)]})

    report = reconcile_with(status_api)

    assert (report.errors, report.checked, report.paid) == (1, 1, 0)
    assert status_api.asked == [slow]


def test_the_decisive_record_is_paid_then_failed_and_records_of_other_sessions_count_for_nothing(api, stack, order_id):
    token = open_session(api, stack, order_id)
    other_order = new_order_id()
    other = open_session(api, stack, other_order)
    answer = [
        "not a payment object",
        {"payment_status": True},  # no merchant_order_id
        record(stack, other, "paid"),  # another session's result
        record(stack, token, "failed"),
        record(stack, token, "paid"),
    ]
    status_api = StatusApi({token: answer, other: []})

    report = reconcile_with(status_api)

    assert report.paid == 1
    assert api.get_order(order_id).body["status"] == "PAID"
    assert api.get_order(other_order).body["status"] == "PENDING"


def test_a_record_that_disagrees_with_the_order_is_flagged(api, stack, order_id):
    token = open_session(api, stack, order_id)
    status_api = StatusApi({token: [record(stack, token, "paid", merchant_amount=1)]})

    report = reconcile_with(status_api)

    assert report.flagged == 1
    order = api.get_order(order_id).body
    assert (order["status"], order["review"]["reasons"]) == ("PENDING", ["notification_mismatch"])


def test_a_session_settled_before_it_is_requeued_is_left_alone(api, stack, aws_faults, order_id):
    token = open_session(api, stack, order_id)
    aws_faults.fail_next("dynamodb", "UpdateItem", "ConditionalCheckFailedException")

    report = reconcile_with(StatusApi({token: []}))

    assert (report.still_pending, report.errors) == (1, 0)


def test_a_result_a_notification_applied_meanwhile_is_not_counted_twice(api, stack, aws_faults, order_id):
    # given ETpay's status API says paid, and the paid notification is applied just before our write
    token = open_session(api, stack, order_id)
    notification_applied = OrderRepository(TABLE_NAME)

    def paid_meanwhile():
        order, session = notification_applied.get_order_and_session(order_id, token)
        notification_applied.mark_paid(order, session, "pay-1", utc_now())

    aws_faults.before_next("dynamodb", "UpdateItem", paid_meanwhile)

    report = reconcile_with(StatusApi({token: [record(stack, token, "paid", payment_token="pay-1")]}))

    # then the run decides again, finds it already applied, and counts it as nothing new
    assert (report.checked, report.paid, report.still_pending, report.errors) == (1, 0, 0, 0)
    assert api.get_order(order_id).body["status"] == "PAID"

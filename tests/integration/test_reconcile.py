"""Reconciliation: a notification may never arrive. Sessions still PENDING are checked with ETpay's
status API and its answer goes through the same conditional transitions as notifications."""

import json

import boto3
from conftest import REGION, SECRET_ID, LambdaContext, load_handler, new_order_id, open_session, stored_items

from payments import runtime
from payments.runtime import payments_service


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

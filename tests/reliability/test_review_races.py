"""The review queue on a real DynamoDB engine (DynamoDB Local): operators resolving one review at
the same instant, a resolution racing a new reason, and the queue's pages read from the real
index. A review is resolved exactly once, nothing raised is ever lost from the record, and the
money state never moves."""

from datetime import timedelta

import pytest

from payments.domain.clock import utc_now
from payments.domain.orders import ReviewReason
from tests.support.api import new_order_id, open_session
from tests.support.orders import flag_for_review

CONCURRENT_RESOLUTIONS = 10
RACES = 5
MONEY = ("status", "session_token", "payment_token", "sessions", "order_amount", "currency")


def resolution(index: int) -> dict:
    return {"resolution": "refunded", "note": f"operator {index} refunded it"}


def flag_failed_after_paid(api, sandbox, order_id: str) -> str:
    """An order paid, then reported failed by ETpay: flagged failed_after_paid. Its token."""
    token = open_session(api, sandbox, order_id)
    assert api.notify_jwt(sandbox.notification_jwt(token, "paid")).status == 200
    assert api.notify_jwt(sandbox.notification_jwt(token, "failed")).status == 200
    return token


def money(item: dict) -> dict:
    return {name: item.get(name) for name in MONEY}


def assert_reviews_consistent(item: dict) -> None:
    """Reviews numbered 1..n, only the last possibly open, and the open reasons exactly its own."""
    reviews = item.get("reviews", [])
    assert [int(review["number"]) for review in reviews] == list(range(1, len(reviews) + 1))
    assert all("resolution" in review for review in reviews[:-1])
    last_open = bool(reviews) and "resolution" not in reviews[-1]
    open_reasons = set(item.get("review_reasons", set()))
    assert open_reasons == ({r["reason"] for r in reviews[-1]["reasons"]} if last_open else set())
    assert ("review_shard" in item) is last_open


class TestConcurrentResolutions:
    def test_ten_operators_resolving_one_review_at_once_record_exactly_one(self, api, real_stack, run_together):
        # given an order flagged for review
        order_id = new_order_id()
        flag_failed_after_paid(api, real_stack.sandbox, order_id)
        before = real_stack.item(f"ORDER#{order_id}")
        real_stack.writes.reset()

        # when ten resolutions arrive at the same instant
        replies = run_together(
            [lambda i=i: api.resolve_review(order_id, resolution(i)) for i in range(CONCURRENT_RESOLUTIONS)]
        )

        # then one is recorded and every other is told there is nothing left to resolve
        statuses = sorted(reply.status for reply in replies)
        assert statuses == [200] + [409] * (CONCURRENT_RESOLUTIONS - 1)
        assert {reply.error for reply in replies if reply.status == 409} == {"no_open_review"}
        assert real_stack.writes.accepted == ["Update ORDER: review resolution"]
        item = real_stack.item(f"ORDER#{order_id}")
        (review,) = item["reviews"]
        (winner,) = [reply for reply in replies if reply.status == 200]
        assert review["note"] == winner.body["reviews"][0]["note"]
        assert "review_reasons" not in item and "review_shard" not in item
        # and the money state is exactly as it was
        assert money(item) == money(before)
        assert real_stack.metrics.count("ReviewResolved") == 1

    def test_resolving_an_order_with_nothing_open_is_409_and_writes_nothing(self, api, real_stack):
        order_id = new_order_id()
        open_session(api, real_stack.sandbox, order_id)
        real_stack.writes.reset()

        reply = api.resolve_review(order_id, resolution(0))

        assert (reply.status, reply.error) == (409, "no_open_review")
        assert real_stack.writes.accepted == []


class TestResolutionRacingANewReason:
    @pytest.mark.parametrize("race", range(RACES))
    def test_a_reason_arriving_while_the_review_is_resolved_is_never_lost(self, api, real_stack, run_together, race):
        # given an order flagged failed_after_paid
        order_id = new_order_id()
        token = flag_failed_after_paid(api, real_stack.sandbox, order_id)
        before = real_stack.item(f"ORDER#{order_id}")

        # when ETpay repeats the failure while an operator resolves the review
        failure = real_stack.sandbox.notification_jwt(token, "failed")
        notified, resolved = run_together(
            [lambda: api.notify_jwt(failure), lambda: api.resolve_review(order_id, resolution(0))]
        )

        # then both succeed, and the repeated reason either joined the review the operator resolved
        # or opened the next one: it is in the record either way, and the money did not move
        assert (notified.status, resolved.status) == (200, 200)
        item = real_stack.item(f"ORDER#{order_id}")
        assert_reviews_consistent(item)
        assert [r["reason"] for review in item["reviews"] for r in review["reasons"]][-1] == "failed_after_paid"
        assert len(item["reviews"]) in (1, 2)
        assert "resolution" in item["reviews"][0]
        assert money(item) == money(before)

    def test_a_reason_raised_after_the_resolution_opens_the_next_review(self, api, real_stack):
        order_id = new_order_id()
        token = flag_failed_after_paid(api, real_stack.sandbox, order_id)
        assert api.resolve_review(order_id, resolution(0)).status == 200

        assert api.notify_jwt(real_stack.sandbox.notification_jwt(token, "failed")).status == 200

        item = real_stack.item(f"ORDER#{order_id}")
        assert_reviews_consistent(item)
        assert ["resolution" in review for review in item["reviews"]] == [True, False]
        assert order_id in [entry["merchant_order_id"] for entry in api.list_reviews().body["reviews"]]


def test_the_queue_pages_through_the_real_index_oldest_first(api, real_stack):
    # given 12 orders flagged a minute apart, spread over the index's partitions
    start = utc_now() - timedelta(hours=1)
    flagged = []
    for index in range(12):
        order_id = new_order_id()
        open_session(api, real_stack.sandbox, order_id)
        flag_for_review(order_id, {ReviewReason.NOTIFICATION_MISMATCH}, start + timedelta(minutes=index))
        flagged.append(order_id)

    # when the queue is read 5 at a time, each page from the last one's cursor
    listed, cursor, pages = [], None, 0
    while True:
        reply = api.list_reviews(limit="5", **({"cursor": cursor} if cursor else {}))
        assert reply.status == 200, reply.body
        listed += [entry["merchant_order_id"] for entry in reply.body["reviews"]]
        pages += 1
        cursor = reply.body.get("next_cursor")
        if cursor is None:
            break

    # then DynamoDB's own index and start keys give every order once, oldest first
    assert listed == flagged
    assert pages == 3

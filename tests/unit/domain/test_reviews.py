"""Reviews without any I/O: how a reason opens or joins a review, what a resolution records, and the
review queue's pages and cursor."""

import base64
import json
import random
from dataclasses import replace

import pytest

from payments.domain.errors import NoOpenReview, ValidationFailed
from payments.domain.orders import Order, RaisedReason, Resolution, Review, ReviewReason, Status
from payments.domain.policy import REVIEW_SHARDS
from payments.domain.reviews import (
    CURSOR_PROBLEM,
    QueuedReview,
    QueuePosition,
    ReviewChange,
    ShardPage,
    decide_resolution,
    decode_cursor,
    encode_cursor,
    merge_pages,
    raise_review,
    review_shard,
)
from payments.domain.sessions import Refuse
from payments.domain.views import order_view

OPENED = "2026-11-26T10:00:00.000Z"
FLAGGED = "2026-11-26T10:05:00.000Z"
LATER = "2026-11-26T10:09:00.000Z"
RESOLVED = "2026-11-26T11:00:00.000Z"
AGAIN = "2026-11-27T08:00:00.000Z"
OPERATOR = "arn:aws:sts::123456789012:assumed-role/Operators/ana"
MISMATCH, PAID_AFTER_FAILED, DOUBLE, FAILED_AFTER_PAID = (
    ReviewReason.NOTIFICATION_MISMATCH,
    ReviewReason.PAID_AFTER_FAILED,
    ReviewReason.POSSIBLE_DOUBLE_PAYMENT,
    ReviewReason.FAILED_AFTER_PAID,
)


def an_order(**changes) -> Order:
    order = Order("OC-1", 50_000, "CLP", Status.PAID, "s1", "https://pmt/session/s1", OPENED, OPENED)
    return replace(order, **changes)


def stored_after(order: Order, change: ReviewChange, now: str) -> Order:
    """The order as the write of `change` leaves it."""
    return replace(order, reviews=change.reviews, review_reasons=change.open_reasons, updated_at=now)


def test_a_first_reason_opens_review_one_and_later_reasons_join_it():
    # given an order never flagged
    order = an_order()
    assert order.open_review is None

    # when one reason is raised, then two more (one of them already open)
    first = raise_review(order, frozenset({FAILED_AFTER_PAID}), FLAGGED)
    order = stored_after(order, first, FLAGGED)
    second = raise_review(order, frozenset({PAID_AFTER_FAILED, DOUBLE}), LATER)
    order = stored_after(order, second, LATER)

    # then it is one open review, each reason with when it was raised
    assert order.open_review == Review(
        1,
        FLAGGED,
        (RaisedReason(FAILED_AFTER_PAID, FLAGGED), RaisedReason(PAID_AFTER_FAILED, LATER), RaisedReason(DOUBLE, LATER)),
    )
    assert (first.seen_reviews, first.seen_open_reasons) == (0, 0)
    assert (second.seen_reviews, second.seen_open_reasons) == (1, 1)


def test_a_resolution_records_who_when_how_and_the_open_reasons_and_leaves_the_money_alone():
    order = stored_after(an_order(), raise_review(an_order(), frozenset({DOUBLE}), FLAGGED), FLAGGED)

    change = decide_resolution(order, Resolution.REFUNDED, OPERATOR, "refunded session s2", RESOLVED)

    assert isinstance(change, ReviewChange)
    (review,) = change.reviews
    assert review.reasons == (RaisedReason(DOUBLE, FLAGGED),)
    assert review.resolution is not None
    assert (review.resolution.resolution, review.resolution.resolved_by, review.resolution.resolved_at) == (
        Resolution.REFUNDED,
        OPERATOR,
        RESOLVED,
    )
    assert review.resolution.note == "refunded session s2"
    assert change.opened is None and change.open_reasons == frozenset()
    # A review change carries reviews only: nothing in it can name a status, session or payment.
    assert set(vars(change)) == {"reviews", "opened", "seen_reviews", "seen_open_reasons"}


def test_nothing_to_resolve_is_refused():
    decision = decide_resolution(an_order(), Resolution.NO_ACTION_NEEDED, OPERATOR, "x", RESOLVED)

    assert isinstance(decision, Refuse) and isinstance(decision.error, NoOpenReview)


def test_a_reason_raised_after_the_resolution_opens_review_two_and_keeps_review_one():
    # given a review resolved
    order = stored_after(an_order(), raise_review(an_order(), frozenset({MISMATCH}), FLAGGED), FLAGGED)
    resolution = decide_resolution(order, Resolution.CONFIRMED_WITH_ETPAY, OPERATOR, "ok", RESOLVED)
    assert isinstance(resolution, ReviewChange)
    order = stored_after(order, resolution, RESOLVED)
    assert order.open_review is None and not order_view(order)["review"]["required"]

    # when the same reason is raised again
    again = raise_review(order, frozenset({MISMATCH}), AGAIN)
    order = stored_after(order, again, AGAIN)

    # then a second review is open, and the first is still there, resolved
    assert [(review.number, review.is_open) for review in order.review_history] == [(1, False), (2, True)]
    assert order.open_review == Review(2, AGAIN, (RaisedReason(MISMATCH, AGAIN),))
    assert (again.seen_reviews, again.seen_open_reasons) == (1, 0)


def test_reasons_flagged_before_reviews_were_recorded_are_an_open_review_that_can_be_resolved():
    # given an order flagged by an earlier version: reasons only, no review record
    order = an_order(review_reasons=frozenset({PAID_AFTER_FAILED}), updated_at=FLAGGED)

    # then it has an open review, opened at its last update
    assert order.open_review == Review(1, FLAGGED, (RaisedReason(PAID_AFTER_FAILED, FLAGGED),))
    change = decide_resolution(order, Resolution.NO_ACTION_NEEDED, OPERATOR, "old flag", RESOLVED)
    assert isinstance(change, ReviewChange)
    assert [review.number for review in change.reviews] == [1]
    assert (change.seen_reviews, change.seen_open_reasons) == (0, 1)


def test_the_order_view_shows_every_review_and_only_the_api_shows_the_note():
    order = stored_after(an_order(), raise_review(an_order(), frozenset({DOUBLE}), FLAGGED), FLAGGED)
    change = decide_resolution(order, Resolution.REFUNDED, OPERATOR, "refund #123", RESOLVED)
    assert isinstance(change, ReviewChange)
    order = stored_after(order, change, RESOLVED)

    resolved = {
        "number": 1,
        "state": "resolved",
        "opened_at": FLAGGED,
        "reasons": [{"reason": "possible_double_payment", "raised_at": FLAGGED}],
        "resolution": "refunded",
        "resolved_by": OPERATOR,
        "resolved_at": RESOLVED,
    }
    assert order_view(order)["reviews"] == [{**resolved, "note": "refund #123"}]
    assert order_view(order, notes=False)["reviews"] == [resolved]


# -- the queue's pages -----------------------------------------------------------------------------------
def entry(order_id: str, queued_at: str) -> QueuedReview:
    return QueuedReview(order_id, 1, "CLP", Status.PAID, Review(1, queued_at, ()), QueuePosition(queued_at, order_id))


def read_all(entries: list[QueuedReview], limit: int) -> list[list[str]]:
    """Every page of a queue holding `entries`, read as the service reads it: each shard's entries
    after its position, `limit` + 1 of them, merged."""
    shards: dict[int, list[QueuedReview]] = {}
    for item in entries:
        shards.setdefault(review_shard(item.merchant_order_id), []).append(item)
    for items in shards.values():
        items.sort(key=lambda item: item.position)
    after: dict[int, QueuePosition] | None = {}
    pages = []
    while after is not None:
        pages_by_shard = {}
        for shard in range(REVIEW_SHARDS):
            items = [item for item in shards.get(shard, []) if shard not in after or item.position > after[shard]]
            pages_by_shard[shard] = ShardPage(items[: limit + 1], truncated=len(items) > limit + 1)
        page = merge_pages(pages_by_shard, after, limit)
        pages.append([item.merchant_order_id for item in page.entries])
        # and through the cursor, as the caller hands it back
        after = decode_cursor(encode_cursor(page.after)) if page.after is not None else None
    return pages


@pytest.mark.parametrize(("count", "limit"), [(0, 5), (1, 5), (5, 5), (23, 5), (40, 1), (70, 100)])
def test_pages_list_every_open_review_once_oldest_first(count, limit):
    rng = random.Random(count * 1000 + limit)  # noqa: S311 - test data, not a secret
    # some reviews opened at the same millisecond: the order id breaks the tie
    entries = [entry(f"OC-{index}", f"2026-11-26T10:{rng.randrange(60):02d}:00.000Z") for index in range(count)]

    pages = read_all(entries, limit)

    listed = [order_id for page in pages for order_id in page]
    expected = [item.merchant_order_id for item in sorted(entries, key=lambda item: item.position)]
    assert listed == expected
    assert all(len(page) <= limit for page in pages)
    assert all(len(page) == limit for page in pages[:-1])
    assert len(pages) == max(1, -(-count // limit))  # full pages, then the rest; one (empty) page for none


# -- the cursor --------------------------------------------------------------------------------------------
def b64(document) -> str:
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def a_position(order_id="OC-1") -> list[str]:
    return ["2026-11-26T10:00:00.000Z", order_id]


def test_a_cursor_round_trips():
    after = {review_shard("OC-1"): QueuePosition(*a_position())}
    assert decode_cursor(encode_cursor(after)) == after


SHARD = review_shard("OC-1")
OTHER_SHARD = (SHARD + 1) % REVIEW_SHARDS
TAMPERED = {
    "not base64url": "abc+/=",
    "empty": "",
    "base64 of no JSON": b64(b"\xff\xfenot json"),
    "a JSON list": b64([1]),
    "no version": b64({"after": {}}),
    "another version": b64({"v": 2, "after": {}}),
    "a version of true": b64({"v": True, "after": {}}),
    "an extra field": b64({"v": 1, "after": {}, "x": 1}),
    "positions not an object": b64({"v": 1, "after": []}),
    "a shard out of range": b64({"v": 1, "after": {str(REVIEW_SHARDS): a_position()}}),
    "a negative shard": b64({"v": 1, "after": {"-1": a_position()}}),
    "a shard with a leading zero": b64({"v": 1, "after": {f"0{SHARD}": a_position()}}),
    "a shard in other digits": b64({"v": 1, "after": {"\u0661": a_position()}}),
    "a position of one part": b64({"v": 1, "after": {str(SHARD): ["2026-11-26T10:00:00.000Z"]}}),
    "a position not text": b64({"v": 1, "after": {str(SHARD): [1, 2]}}),
    "a time not ours": b64({"v": 1, "after": {str(SHARD): ["yesterday", "OC-1"]}}),
    "an empty time": b64({"v": 1, "after": {str(SHARD): ["", "OC-1"]}}),
    "an order id not ours": b64({"v": 1, "after": {str(SHARD): ["2026-11-26T10:00:00.000Z", "OC 1"]}}),
    "an order in another shard": b64({"v": 1, "after": {str(OTHER_SHARD): a_position()}}),
    "nested too deep": b64(b"[" * 3000 + b"]" * 3000),
    "too long": "A" * 9000,
}


@pytest.mark.parametrize("cursor", TAMPERED.values(), ids=TAMPERED.keys())
def test_a_cursor_this_api_did_not_make_is_a_validation_error(cursor):
    with pytest.raises(ValidationFailed) as refused:
        decode_cursor(cursor)

    assert refused.value.fields == {"cursor": CURSOR_PROBLEM}


def test_reasons_flagged_without_a_record_after_a_resolved_review_are_the_next_review():
    # given review 1 resolved, then a reason stored by a version that kept only the reasons
    order = stored_after(an_order(), raise_review(an_order(), frozenset({MISMATCH}), FLAGGED), FLAGGED)
    resolution = decide_resolution(order, Resolution.CONFIRMED_WITH_ETPAY, OPERATOR, "ok", RESOLVED)
    assert isinstance(resolution, ReviewChange)
    order = stored_after(order, resolution, RESOLVED)
    order = replace(order, review_reasons=frozenset({DOUBLE}), updated_at=AGAIN)

    # then the history is review 1 as resolved and review 2 open with that reason, since the update
    assert [(review.number, review.is_open) for review in order.review_history] == [(1, False), (2, True)]
    assert order.review_history[-1] == Review(2, AGAIN, (RaisedReason(DOUBLE, AGAIN),))

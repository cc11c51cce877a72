"""Which events one write to an order's item makes: a table of before/after snapshots, like the
money rules' own tests. Pure: no I/O."""

import json
import re

import pytest

from payments.api.event_views import delivery_view
from payments.domain.events import (
    Delivery,
    DeliveryState,
    EventType,
    OrderSnapshot,
    SessionState,
    derive_events,
    event_id,
    event_ids_of,
    operator_reference,
)
from payments.domain.orders import Order, RaisedReason, Resolution, Review, ReviewReason, ReviewResolution, Status
from payments.domain.views import order_view

STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/etpay-payments/0a1b2c3d"
OPENED = "2026-11-26T10:00:00.000Z"
PAID_AT = "2026-11-26T10:05:00.000Z"
FAILED_AT = "2026-11-26T10:04:00.000Z"
REOPENED = "2026-11-26T10:06:00.000Z"
FLAGGED_AT = "2026-11-26T10:07:00.000Z"
RESOLVED_AT = "2026-11-26T11:00:00.000Z"
FLAGGED_AGAIN_AT = "2026-11-27T09:00:00.000Z"
EVENT_ID = re.compile(r"^evt_[0-9a-f]{32}$")


def an_order(status=Status.PENDING, token="s1", updated_at=OPENED, reasons=(), payment_token=None, reviews=()) -> Order:
    return Order(
        "OC-1",
        50_000,
        "CLP",
        status,
        token,
        f"https://pmt.example/session/{token}",
        OPENED,
        updated_at,
        payment_token=payment_token,
        review_reasons=frozenset(reasons),
        reviews=tuple(reviews),
    )


def a_session(status="PENDING", created_at=OPENED, updated_at=None) -> SessionState:
    return SessionState(Status(status), created_at, updated_at or created_at)


def snapshot(order: Order | None, **sessions: SessionState) -> OrderSnapshot:
    return OrderSnapshot(order, sessions)


CLAIM = snapshot(None)
PENDING = snapshot(an_order(), s1=a_session())
PAID = snapshot(an_order(Status.PAID, updated_at=PAID_AT, payment_token="p1"), s1=a_session("PAID", updated_at=PAID_AT))
FAILED = snapshot(an_order(Status.FAILED, updated_at=FAILED_AT), s1=a_session("FAILED", updated_at=FAILED_AT))
MISMATCH = ReviewReason.NOTIFICATION_MISMATCH
REVIEW_ONE = Review(1, FLAGGED_AT, (RaisedReason(MISMATCH, FLAGGED_AT),))
REVIEW_ONE_RESOLVED = Review(
    1,
    FLAGGED_AT,
    REVIEW_ONE.reasons,
    ReviewResolution(
        Resolution.NO_ACTION_NEEDED, "arn:aws:sts::123456789012:assumed-role/Operators/ana", RESOLVED_AT, "a note"
    ),
)
FLAGGED = snapshot(
    an_order(Status.PAID, updated_at=FLAGGED_AT, reasons=[MISMATCH], reviews=[REVIEW_ONE]),
    s1=a_session("PAID", updated_at=PAID_AT),
)
RESOLVED = snapshot(
    an_order(Status.PAID, updated_at=RESOLVED_AT, reviews=[REVIEW_ONE_RESOLVED]),
    s1=a_session("PAID", updated_at=PAID_AT),
)
FLAGGED_AGAIN = snapshot(
    an_order(
        Status.PAID,
        updated_at=FLAGGED_AGAIN_AT,
        reasons=[MISMATCH],
        reviews=[REVIEW_ONE_RESOLVED, Review(2, FLAGGED_AGAIN_AT, (RaisedReason(MISMATCH, FLAGGED_AGAIN_AT),))],
    ),
    s1=a_session("PAID", updated_at=PAID_AT),
)
REOPENED_ORDER = snapshot(
    an_order(token="s2", updated_at=REOPENED),
    s1=a_session("FAILED", updated_at=FAILED_AT),
    s2=a_session(created_at=REOPENED),
)

# (case, before, after, expected [(type, subject, created_at)])
CASES = [
    ("a new order's claim only", None, CLAIM, []),
    ("the first session stored on the claim", CLAIM, PENDING, [(EventType.SESSION_CREATED, "s1", OPENED)]),
    ("paid", PENDING, PAID, [(EventType.PAYMENT_SUCCEEDED, "s1", PAID_AT)]),
    ("failed with its order", PENDING, FAILED, [(EventType.PAYMENT_FAILED, "s1", FAILED_AT)]),
    (
        "an older PENDING session failed, the order stays on its new one",
        snapshot(an_order(token="s2"), s1=a_session(), s2=a_session(created_at=REOPENED)),
        snapshot(an_order(token="s2"), s1=a_session("FAILED", updated_at=FAILED_AT), s2=a_session(created_at=REOPENED)),
        [(EventType.PAYMENT_FAILED, "s1", FAILED_AT)],
    ),
    ("a new session after a failure", FAILED, REOPENED_ORDER, [(EventType.SESSION_CREATED, "s2", REOPENED)]),
    (
        "one review reason",
        PAID,
        snapshot(
            an_order(Status.PAID, updated_at=FLAGGED_AT, reasons=[ReviewReason.NOTIFICATION_MISMATCH]),
            s1=a_session("PAID", updated_at=PAID_AT),
        ),
        [(EventType.ORDER_REVIEW_REQUIRED, "notification_mismatch", FLAGGED_AT)],
    ),
    (
        "two reasons at once, and one the order already had",
        snapshot(an_order(Status.PAID, reasons=[ReviewReason.NOTIFICATION_MISMATCH]), s1=a_session("PAID")),
        snapshot(
            an_order(
                Status.PAID,
                updated_at=FLAGGED_AT,
                reasons=[
                    ReviewReason.NOTIFICATION_MISMATCH,
                    ReviewReason.PAID_AFTER_FAILED,
                    ReviewReason.POSSIBLE_DOUBLE_PAYMENT,
                ],
            ),
            s1=a_session("PAID"),
        ),
        [
            (EventType.ORDER_REVIEW_REQUIRED, "paid_after_failed", FLAGGED_AT),
            (EventType.ORDER_REVIEW_REQUIRED, "possible_double_payment", FLAGGED_AT),
        ],
    ),
    ("a review opened", PAID, FLAGGED, [(EventType.ORDER_REVIEW_REQUIRED, "notification_mismatch", FLAGGED_AT)]),
    ("a review resolved", FLAGGED, RESOLVED, [(EventType.ORDER_REVIEW_RESOLVED, "1", RESOLVED_AT)]),
    (
        "a review flagged by an earlier version (reasons only) resolved",
        snapshot(an_order(Status.PAID, updated_at=FLAGGED_AT, reasons=[MISMATCH]), s1=a_session("PAID")),
        snapshot(an_order(Status.PAID, updated_at=RESOLVED_AT, reviews=[REVIEW_ONE_RESOLVED]), s1=a_session("PAID")),
        [(EventType.ORDER_REVIEW_RESOLVED, "1", RESOLVED_AT)],
    ),
    (
        "the same reason raised after the resolution: the next review",
        RESOLVED,
        FLAGGED_AGAIN,
        [(EventType.ORDER_REVIEW_REQUIRED, "notification_mismatch#2", FLAGGED_AGAIN_AT)],
    ),
    (
        "a reason joining the open review (the one it had makes none)",
        FLAGGED_AGAIN,
        snapshot(
            an_order(
                Status.PAID,
                updated_at=RESOLVED_AT,
                reasons=[MISMATCH, ReviewReason.PAID_AFTER_FAILED],
                reviews=[
                    REVIEW_ONE_RESOLVED,
                    Review(
                        2,
                        FLAGGED_AGAIN_AT,
                        (
                            RaisedReason(MISMATCH, FLAGGED_AGAIN_AT),
                            RaisedReason(ReviewReason.PAID_AFTER_FAILED, RESOLVED_AT),
                        ),
                    ),
                ],
            ),
            s1=a_session("PAID", updated_at=PAID_AT),
        ),
        [(EventType.ORDER_REVIEW_REQUIRED, "paid_after_failed#2", RESOLVED_AT)],
    ),
    ("a resolved review written again", RESOLVED, RESOLVED, []),
    (
        "a session the stack ended at its lifetime",
        PENDING,
        snapshot(an_order(updated_at=FAILED_AT), s1=a_session("EXPIRED", updated_at=FAILED_AT)),
        [(EventType.SESSION_EXPIRED, "s1", FAILED_AT)],
    ),
    (
        "an order that appears already paid (a restore)",
        None,
        PAID,
        [(EventType.SESSION_CREATED, "s1", OPENED), (EventType.PAYMENT_SUCCEEDED, "s1", PAID_AT)],
    ),
    # Writes that are no transition.
    (
        "an unknown payment_status kept on the session",
        PENDING,
        snapshot(an_order(), s1=a_session(updated_at=PAID_AT)),
        [],
    ),
    ("the order re-queued for reconciliation (same snapshot)", PENDING, PENDING, []),
    ("a FAILED order claimed for its next session", FAILED, FAILED, []),
    ("a claim released (deleted)", CLAIM, None, []),
    ("an order deleted", PAID, None, []),
    ("a repeated paid write", PAID, PAID, []),
]


@pytest.mark.parametrize(("case", "before", "after", "expected"), CASES, ids=[case[0] for case in CASES])
def test_each_write_makes_exactly_its_transitions(case, before, after, expected):
    # when the events of the write are derived
    events = derive_events(before, after)

    # then there is one per transition, typed, about its subject, at the transition's own time
    assert [(event.type, event.subject, event.created_at) for event in events] == expected
    for event in events:
        assert EVENT_ID.fullmatch(event.id)
        assert event.id == event_id(event.type, "OC-1", event.subject)


def test_a_replay_gives_the_same_ids_and_byte_identical_bodies():
    # given the same write seen twice (a retried stream batch, or a replay of the stream)
    first = derive_events(PENDING, PAID) + derive_events(FAILED, REOPENED_ORDER)
    again = derive_events(PENDING, PAID) + derive_events(FAILED, REOPENED_ORDER)

    # then nothing differs
    assert [event.id for event in again] == [event.id for event in first]
    assert [event.body_json() for event in again] == [event.body_json() for event in first]


def test_ids_differ_between_transitions():
    ids = {
        event_id(EventType.SESSION_CREATED, "OC-1", "s1"),
        event_id(EventType.PAYMENT_FAILED, "OC-1", "s1"),
        event_id(EventType.SESSION_CREATED, "OC-1", "s2"),
        event_id(EventType.SESSION_CREATED, "OC-2", "s1"),
        event_id(EventType.ORDER_REVIEW_REQUIRED, "OC-1", "paid_after_failed"),
    }
    assert len(ids) == 5


def test_the_body_is_the_order_as_get_orders_showed_it_right_after_the_transition():
    (event,) = derive_events(PENDING, PAID)

    body = json.loads(event.body_json())

    assert PAID.order is not None
    assert body == {
        "id": event.id,
        "type": "payment.succeeded",
        "created_at": PAID_AT,
        "data": {"order": order_view(PAID.order)},
    }
    assert body["data"]["order"]["status"] == "PAID"
    assert body["data"]["order"]["payment_token"] == "p1"


def test_every_type_has_its_eventbridge_detail_type():
    assert {event_type.detail_type for event_type in EventType} == {
        "Payment Session Created",
        "Payment Succeeded",
        "Payment Failed",
        "Order Review Required",
        "Payment Session Expired",
        "Order Review Resolved",
    }


def test_a_resolution_event_carries_the_review_without_the_operators_note_or_identity():
    (event,) = derive_events(FLAGGED, RESOLVED, stack=STACK)

    order = json.loads(event.body_json())["data"]["order"]

    assert order["review"] == {"required": False, "reasons": []}
    assert order["reviews"][0]["resolution"] == "no_action_needed"
    assert "note" not in order["reviews"][0]
    assert "a note" not in event.body_json()
    assert RESOLVED.order is not None
    # who resolved it is a reference of the stack's own, the same for the same operator
    resolution = RESOLVED.order.reviews[0].resolution
    assert resolution is not None
    resolved_by = resolution.resolved_by
    assert resolved_by not in event.body_json()
    assert order["reviews"][0]["resolved_by"] == operator_reference(STACK, resolved_by)
    assert re.fullmatch(r"op_[0-9a-f]{16}", order["reviews"][0]["resolved_by"])
    assert operator_reference("another-stack", resolved_by) != operator_reference(STACK, resolved_by)
    assert order == order_view(RESOLVED.order, notes=False, operator=event.operator_reference)


# -- the delivery state the merchant sees ------------------------------------------------------------
@pytest.mark.parametrize(
    ("stored", "last_attempt_at", "requested_at", "seen"),
    [
        (DeliveryState.PENDING, None, None, DeliveryState.PENDING),
        (DeliveryState.DELIVERED, PAID_AT, None, DeliveryState.DELIVERED),
        # a redelivery asked for after the last attempt: on its way
        (DeliveryState.DELIVERED, PAID_AT, FLAGGED_AT, DeliveryState.PENDING),
        (DeliveryState.FAILED, PAID_AT, FLAGGED_AT, DeliveryState.PENDING),
        # ... and once attempted, whatever that attempt gave (even if written before the request)
        (DeliveryState.DELIVERED, FLAGGED_AT, PAID_AT, DeliveryState.DELIVERED),
        (DeliveryState.RETRYING, FLAGGED_AT, PAID_AT, DeliveryState.RETRYING),
    ],
)
def test_a_redelivery_request_shows_pending_until_an_attempt_follows_it(stored, last_attempt_at, requested_at, seen):
    delivery = Delivery(stored, attempts=1, last_attempt_at=last_attempt_at, requested_at=requested_at)

    assert delivery.current_state is seen
    assert delivery_view(delivery)["state"] == seen.value


# -- an order's events, read off its item ---------------------------------------------------------------
HISTORIES = {
    "paid, flagged, resolved, flagged again": [CLAIM, PENDING, PAID, FLAGGED, RESOLVED, FLAGGED_AGAIN],
    "failed, then a new session": [CLAIM, PENDING, FAILED, REOPENED_ORDER],
    "expired": [
        CLAIM,
        PENDING,
        snapshot(an_order(Status.EXPIRED, updated_at=FAILED_AT), s1=a_session("EXPIRED", updated_at=FAILED_AT)),
    ],
    "restored already paid": [PAID],
}


@pytest.mark.parametrize("stack", ["", STACK])
@pytest.mark.parametrize("history", HISTORIES.values(), ids=HISTORIES.keys())
def test_the_events_an_orders_writes_made_are_read_off_its_last_item(history, stack):
    # given every event each write of the history made
    made = {
        event.id
        for before, after in zip([None, *history], history, strict=False)
        for event in derive_events(before, after, stack)
    }

    # then the order's item as the last write left it names exactly those
    assert sorted(made) == event_ids_of(history[-1], stack)


def test_two_stacks_never_share_an_event_id():
    (ours,) = derive_events(PENDING, PAID, STACK)
    (theirs,) = derive_events(PENDING, PAID, STACK.replace("etpay-payments", "etpay-payments-sandbox"))

    assert ours.id != theirs.id
    assert ours.id == event_id(EventType.PAYMENT_SUCCEEDED, "OC-1", "s1", STACK)

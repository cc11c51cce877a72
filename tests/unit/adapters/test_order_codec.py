"""The orders table's items read back without a table: a stream image becomes the snapshot events
are derived from, and a review index entry becomes a queue entry, also one edited by hand."""

import json

from boto3.dynamodb.types import TypeSerializer

from payments.adapters.order_codec import queued_review
from payments.adapters.order_history import order_snapshot
from payments.domain.events import EventType, derive_events
from payments.domain.orders import RaisedReason, Review, ReviewReason
from payments.domain.reviews import QueuePosition

OPENED = "2026-11-26T10:00:00.000Z"
FLAGGED = "2026-11-26T10:05:00.000Z"
PAID_AT = "2026-11-26T10:05:00.000Z"
MISMATCH, DOUBLE = ReviewReason.NOTIFICATION_MISMATCH, ReviewReason.POSSIBLE_DOUBLE_PAYMENT


# -- from the stream's own images -----------------------------------------------------------------------
SIGNATURE_TOKEN = "sig-0123456789abcdef0123456789abcdef"  # noqa: S105 - a test key


def image(**values) -> dict:
    """An order item as DynamoDB Streams shows it (DynamoDB JSON)."""
    serializer = TypeSerializer()
    return {name: serializer.serialize(value) for name, value in values.items()}


def stored_order(status="PENDING", session_status="PENDING", updated_at=OPENED, **extra) -> dict:
    return image(
        pk="ORDER#OC-1",
        kind="order",
        merchant_order_id="OC-1",
        order_amount=50_000,
        currency="CLP",
        status=status,
        session_token="s1",
        payment_url="https://pmt.example/session/s1",
        created_at=OPENED,
        updated_at=updated_at,
        sessions={
            "s1": {
                "currency": "CLP",
                "status": session_status,
                "created_at": OPENED,
                "updated_at": updated_at,
            }
        },
        signature_tokens={"s1": SIGNATURE_TOKEN},
        **extra,
    )


def test_stream_images_become_snapshots_and_no_event_carries_the_signature_token():
    # given a claim, the session stored on it, then the payment, as the stream's images
    claim = image(
        pk="ORDER#OC-1",
        kind="order",
        merchant_order_id="OC-1",
        order_amount=50_000,
        currency="CLP",
        sessions={},
        claim_id="c1",
        claim_expires=1,
        expires_at=2,
    )
    pending = stored_order(pending_shard="PENDING#7", next_check_at=OPENED)
    paid = stored_order("PAID", "PAID", PAID_AT, payment_token="p1")

    # when the events are derived from them
    events = [
        *derive_events(order_snapshot(None), order_snapshot(claim)),
        *derive_events(order_snapshot(claim), order_snapshot(pending)),
        *derive_events(order_snapshot(pending), order_snapshot(paid)),
    ]

    # then: the session, then the payment, and no body carries the session's key
    assert [event.type for event in events] == [EventType.SESSION_CREATED, EventType.PAYMENT_SUCCEEDED]
    for event in events:
        assert SIGNATURE_TOKEN not in event.body_json()
        assert "signature_token" not in event.body_json()
    assert json.loads(events[1].body_json())["data"]["order"]["payment_token"] == "p1"


def test_an_index_entry_without_its_open_review_record_still_lists_its_reasons():
    # An item restored or edited by hand: in the queue, its reasons set, no open review recorded.
    entry = queued_review(
        {
            "merchant_order_id": "OC-1",
            "order_amount": 50_000,
            "currency": "CLP",
            "status": "PAID",
            "review_opened_at": FLAGGED,
            "review_reasons": {"possible_double_payment", "notification_mismatch"},
            "reviews": [],
        }
    )

    assert entry.review == Review(1, FLAGGED, (RaisedReason(MISMATCH, FLAGGED), RaisedReason(DOUBLE, FLAGGED)))
    assert entry.position == QueuePosition(FLAGGED, "OC-1")

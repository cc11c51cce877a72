"""Writes events/*.json: one API Gateway event per route, for `sam local invoke` and the tests, and
the events the stream and queue functions take: the example order's payment as a DynamoDB Streams
record (EventPublisherFunction) and its webhook's queue message (WebhookDeliveryFunction).

The notification is signed here (never pasted) with the example signature_token that local/README.md
names. A test checks that the committed files equal what this script writes.
"""

import json
from pathlib import Path
from typing import TypedDict

from boto3.dynamodb.types import TypeSerializer

from etpay.notification import sign_notification
from local.emulator.api import api_gateway_event
from local.emulator.event_sources import lambda_sqs_record, lambda_stream_record
from local.examples import (
    EXAMPLE_AMOUNT,
    EXAMPLE_CURRENCY,
    EXAMPLE_NOTIFICATION_KEY,
    EXAMPLE_ORDER_ID,
    EXAMPLE_PAYMENT_TOKEN,
    EXAMPLE_SESSION_TOKEN,
    EXAMPLE_SIGNATURE_TOKEN,
    example_notification_claims,
)
from payments.domain.events import EventType, event_id

ROOT = Path(__file__).resolve().parent.parent
EVENTS_DIR = ROOT / "events"
FIXED_REQUEST_ID = "00000000-0000-4000-8000-000000000000"
# The example order's payment event, as the stack derives it.
EXAMPLE_PAID_EVENT_ID = event_id(EventType.PAYMENT_SUCCEEDED, EXAMPLE_ORDER_ID, EXAMPLE_SESSION_TOKEN)
EXAMPLE_OPENED_AT = "2026-01-01T00:00:00.000Z"
EXAMPLE_PAID_AT = "2026-01-01T00:01:00.000Z"
EXAMPLE_STREAM_ARN = (
    "arn:aws:dynamodb:us-east-1:123456789012:table/etpay-local-OrdersTable/stream/2026-01-01T00:00:00.000"
)
EXAMPLE_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:etpay-local-WebhookQueue"


def example_order_item(status: str, updated_at: str, **extra) -> dict:
    """The example order's item in DynamoDB JSON, as the stream's images carry it."""
    values = {
        "pk": f"ORDER#{EXAMPLE_ORDER_ID}",
        "kind": "order",
        "merchant_order_id": EXAMPLE_ORDER_ID,
        "order_amount": EXAMPLE_AMOUNT,
        "currency": EXAMPLE_CURRENCY,
        "status": status,
        "session_token": EXAMPLE_SESSION_TOKEN,
        "payment_url": f"http://127.0.0.1:8700/session/{EXAMPLE_SESSION_TOKEN}",
        "created_at": EXAMPLE_OPENED_AT,
        "updated_at": updated_at,
        "sessions": {
            EXAMPLE_SESSION_TOKEN: {
                "currency": EXAMPLE_CURRENCY,
                "status": status,
                "created_at": EXAMPLE_OPENED_AT,
                "updated_at": updated_at,
                **({"payment_token": EXAMPLE_PAYMENT_TOKEN} if status == "PAID" else {}),
            }
        },
        "signature_tokens": {EXAMPLE_SESSION_TOKEN: EXAMPLE_SIGNATURE_TOKEN},
        **extra,
    }
    serializer = TypeSerializer()
    return {name: serializer.serialize(value) for name, value in values.items()}


def order_paid_stream_event() -> dict:
    """The stream record of the example order's payment, as Lambda hands it over."""
    record = {
        "eventID": "00000000000000000000000000000001",
        "eventName": "MODIFY",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_767_225_660.0,
            "Keys": {"pk": {"S": f"ORDER#{EXAMPLE_ORDER_ID}"}},
            "OldImage": example_order_item(
                "PENDING", EXAMPLE_OPENED_AT, pending_shard="PENDING#1", next_check_at=EXAMPLE_OPENED_AT
            ),
            "NewImage": example_order_item("PAID", EXAMPLE_PAID_AT, payment_token=EXAMPLE_PAYMENT_TOKEN),
            "SequenceNumber": "100000000000000000001",
            "SizeBytes": 1024,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    return {"Records": [lambda_stream_record(record, EXAMPLE_STREAM_ARN)]}


def webhook_queue_event() -> dict:
    """The webhook queue's message for the example order's payment, as Lambda hands it over."""
    body = json.dumps({"event_id": EXAMPLE_PAID_EVENT_ID, "redelivery": False}, separators=(",", ":"))
    message = {
        "MessageId": "00000000-0000-4000-8000-000000000001",
        "ReceiptHandle": "example-receipt-handle",
        "Body": body,
        "Attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1767225660000",
            "SenderId": "AROAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1767225660100",
        },
        "MD5OfBody": "",
    }
    return {"Records": [lambda_sqs_record(message, EXAMPLE_QUEUE_ARN)]}


class CommonArguments(TypedDict):
    """What every API Gateway event here shares: a TypedDict, so `**common` fills only request_id."""

    request_id: str


def build_events() -> dict[str, dict]:
    json_headers = {"Content-Type": "application/json"}
    common: CommonArguments = {"request_id": FIXED_REQUEST_ID}
    return {
        "create_session.json": api_gateway_event(
            "POST",
            "/sessions",
            "/sessions",
            json.dumps({"merchant_order_id": EXAMPLE_ORDER_ID, "order_amount": EXAMPLE_AMOUNT}),
            json_headers,
            **common,
        ),
        "get_order.json": api_gateway_event(
            "GET",
            "/orders/{merchant_order_id}",
            f"/orders/{EXAMPLE_ORDER_ID}",
            path_parameters={"merchant_order_id": EXAMPLE_ORDER_ID},
            **common,
        ),
        "list_reviews.json": api_gateway_event("GET", "/reviews", "/reviews", query={"limit": "25"}, **common),
        "resolve_review.json": api_gateway_event(
            "POST",
            "/orders/{merchant_order_id}/review",
            f"/orders/{EXAMPLE_ORDER_ID}/review",
            json.dumps({"resolution": "no_action_needed", "note": "Checked with ETpay: a test flag."}),
            json_headers,
            path_parameters={"merchant_order_id": EXAMPLE_ORDER_ID},
            **common,
        ),
        "notification.json": api_gateway_event(
            "POST",
            "/notifications",
            "/notifications",
            json.dumps({"payment": sign_notification(example_notification_claims(), EXAMPLE_SIGNATURE_TOKEN)}),
            json_headers,
            # ETpay calls the URL the session was opened with, the stack's notification key in it.
            query={"key": EXAMPLE_NOTIFICATION_KEY},
            **common,
        ),
        "get_event.json": api_gateway_event(
            "GET",
            "/events/{event_id}",
            f"/events/{EXAMPLE_PAID_EVENT_ID}",
            path_parameters={"event_id": EXAMPLE_PAID_EVENT_ID},
            **common,
        ),
        "get_order_events.json": api_gateway_event(
            "GET",
            "/orders/{merchant_order_id}/events",
            f"/orders/{EXAMPLE_ORDER_ID}/events",
            path_parameters={"merchant_order_id": EXAMPLE_ORDER_ID},
            **common,
        ),
        "redeliver_event.json": api_gateway_event(
            "POST",
            "/events/{event_id}/redeliver",
            f"/events/{EXAMPLE_PAID_EVENT_ID}/redeliver",
            path_parameters={"event_id": EXAMPLE_PAID_EVENT_ID},
            **common,
        ),
        "order_paid_stream.json": order_paid_stream_event(),
        "webhook_message.json": webhook_queue_event(),
    }


def render(event: dict) -> str:
    return json.dumps(event, indent=2, sort_keys=True) + "\n"


def main() -> None:
    EVENTS_DIR.mkdir(exist_ok=True)
    for name, event in build_events().items():
        (EVENTS_DIR / name).write_text(render(event))
        print(f"wrote events/{name}")


if __name__ == "__main__":
    main()

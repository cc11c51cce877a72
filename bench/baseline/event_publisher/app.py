"""Bare baseline of EventPublisherFunction on the stream record of a payment: boto3 and the
standard library, no more. Its AWS requests are ours: the event recorded under its stable id (one
conditional PutItem), put on the bus (PutEvents), its webhook queued (SendMessage), and what went
out noted on its record (one UpdateItem)."""

import hashlib
import json
import os
from datetime import UTC, datetime

import boto3

EVENTS_TABLE = os.environ["EVENTS_TABLE_NAME"]
dynamodb = boto3.client("dynamodb")
events = boto3.client("events")
sqs = boto3.client("sqs")
VIEW = ("merchant_order_id", "order_amount", "currency", "status", "session_token", "payment_url", "payment_token",
        "created_at", "updated_at")  # fmt: skip


def lambda_handler(event, context):
    for record in event["Records"]:
        new, old = record["dynamodb"]["NewImage"], record["dynamodb"].get("OldImage", {})
        if new["status"]["S"] != "PAID" or old.get("status", {}).get("S") == "PAID":
            continue
        order = {name: int(new[name]["N"]) if "N" in new[name] else new[name]["S"] for name in VIEW}
        subject = f"payment.succeeded|{order['merchant_order_id']}|{order['session_token']}"
        event_id = "evt_" + hashlib.sha256(subject.encode()).hexdigest()[:32]
        created = new["updated_at"]["S"]
        body = json.dumps({"id": event_id, "type": "payment.succeeded", "created_at": created,
                           "data": {"order": order}}, separators=(",", ":"))  # fmt: skip
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        dynamodb.put_item(
            TableName=EVENTS_TABLE,
            Item={"event_id": {"S": event_id}, "event_type": {"S": "payment.succeeded"}, "created_at": {"S": created},
                  "merchant_order_id": {"S": order["merchant_order_id"]}, "body": {"S": body},
                  "recorded_at": {"S": now}, "delivery_state": {"S": "pending"}, "delivery_attempts": {"N": "0"}},
            ConditionExpression="attribute_not_exists(event_id)",
        )  # fmt: skip
        events.put_events(Entries=[{"Source": "etpay.payments", "DetailType": "Payment Succeeded", "Detail": body,
                                    "EventBusName": os.environ["EVENT_BUS_NAME"],
                                    "Time": datetime.fromisoformat(created)}])  # fmt: skip
        message = json.dumps({"event_id": event_id, "redelivery": False}, separators=(",", ":"))
        sqs.send_message(QueueUrl=os.environ["WEBHOOK_QUEUE_URL"], MessageBody=message)
        dynamodb.update_item(
            TableName=EVENTS_TABLE,
            Key={"event_id": {"S": event_id}},
            UpdateExpression="SET published_at = :now, queued_at = :now, delivery_next_attempt_at = :now",
            ExpressionAttributeValues={":now": {"S": now}},
        )
    return {"batchItemFailures": []}

"""Bare baseline of EventPublisherFunction on the stream record of a payment: boto3 and the
standard library, no more. Its AWS requests are ours: the event recorded once under its stable id,
scoped to the stack (one conditional PutItem: its body zlib-compressed, its delivery record, its
TTL), put on the bus (PutEvents) and its webhook queued (SendMessage)."""

import hashlib
import json
import math
import os
import zlib
from datetime import datetime, timedelta

import boto3

EVENTS_TABLE = os.environ["EVENTS_TABLE_NAME"]
BUS = os.environ["EVENT_BUS_NAME"]
QUEUE_URL = os.environ["WEBHOOK_QUEUE_URL"]
STACK = os.environ.get("STACK_ID", "")
RETENTION = timedelta(days=int(os.environ.get("EVENT_RETENTION_DAYS", "30")))
dynamodb = boto3.client("dynamodb")
events = boto3.client("events")
sqs = boto3.client("sqs")
VIEW = ("merchant_order_id", "order_amount", "currency", "status", "session_token", "payment_url", "expires_at",
        "payment_token", "created_at", "updated_at")  # fmt: skip
STORED = {"expires_at": "session_expires_at"}


def lambda_handler(event, context):
    for record in event["Records"]:
        new, old = record["dynamodb"]["NewImage"], record["dynamodb"].get("OldImage", {})
        if new["status"]["S"] != "PAID" or old.get("status", {}).get("S") == "PAID":
            continue
        order: dict = {}
        for name in VIEW:
            value = new.get(STORED.get(name, name))
            if value is not None:
                order[name] = int(value["N"]) if "N" in value else value["S"]
        order |= {"review": {"required": False, "reasons": []}, "reviews": []}
        subject = "\x1f".join((STACK, "payment.succeeded", order["merchant_order_id"], order["session_token"]))
        event_id = "evt_" + hashlib.sha256(subject.encode()).hexdigest()[:32]
        created = new["updated_at"]["S"]
        body = json.dumps({"id": event_id, "type": "payment.succeeded", "created_at": created,
                           "data": {"order": order}}, separators=(",", ":"), ensure_ascii=False)  # fmt: skip
        moment = datetime.fromisoformat(created)
        dynamodb.put_item(
            TableName=EVENTS_TABLE,
            Item={"event_id": {"S": event_id}, "event_type": {"S": "payment.succeeded"},
                  "merchant_order_id": {"S": order["merchant_order_id"]}, "created_at": {"S": created},
                  "body": {"B": zlib.compress(body.encode(), 9)},
                  "delivery": {"M": {"state": {"S": "pending"}, "attempts": {"N": "0"}}},
                  "expires_at": {"N": str(math.floor((moment + RETENTION).timestamp()))}},
            ConditionExpression="attribute_not_exists(event_id)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )  # fmt: skip
        events.put_events(Entries=[{"Source": "etpay.payments", "DetailType": "Payment Succeeded", "Detail": body,
                                    "EventBusName": BUS, "Time": moment}])  # fmt: skip
        message = json.dumps({"event_id": event_id, "redelivery": False}, separators=(",", ":"))
        sqs.send_message(QueueUrl=QUEUE_URL, MessageBody=message)
    return {"batchItemFailures": []}

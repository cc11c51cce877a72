"""Bare baseline of EventsApiFunction on `GET /events/{event_id}`: boto3, no more. Its AWS request
is ours: the event (one consistent GetItem); the page is its body as published (stored
zlib-compressed) with its webhook's delivery record."""

import json
import os
import zlib

import boto3

EVENTS_TABLE = os.environ["EVENTS_TABLE_NAME"]
dynamodb = boto3.client("dynamodb")
DELIVERY = ("last_status_code", "last_error", "last_attempt_at", "next_attempt_at", "delivered_at")


def lambda_handler(event, context):
    key = {"event_id": {"S": event["pathParameters"]["event_id"]}}
    item = dynamodb.get_item(TableName=EVENTS_TABLE, Key=key, ConsistentRead=True).get("Item")
    if item is None:
        return {"statusCode": 404, "body": json.dumps({"error": "not_found"})}
    stored = item["delivery"]["M"]
    delivery = {"state": stored["state"]["S"], "attempts": int(stored["attempts"]["N"])}
    for name in DELIVERY:
        if name in stored:
            delivery[name] = int(stored[name]["N"]) if "N" in stored[name] else stored[name]["S"]
    body = json.dumps({**json.loads(zlib.decompress(item["body"]["B"])), "delivery": delivery})
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": body}

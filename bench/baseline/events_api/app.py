"""Bare baseline of EventsApiFunction on `GET /events/{event_id}`: boto3, no more. Its AWS request
is ours: the event (one consistent GetItem)."""

import json
import os

import boto3

dynamodb = boto3.client("dynamodb")


def lambda_handler(event, context):
    key = {"event_id": {"S": event["pathParameters"]["event_id"]}}
    item = dynamodb.get_item(TableName=os.environ["EVENTS_TABLE_NAME"], Key=key, ConsistentRead=True).get("Item")
    if item is None:
        return {"statusCode": 404, "body": json.dumps({"error": "not_found"})}
    values = {name: int(value["N"]) if "N" in value else value["S"] for name, value in item.items() if name != "body"}
    body = json.dumps({**values, "event": json.loads(item["body"]["S"])})
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": body}

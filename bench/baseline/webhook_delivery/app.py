"""Bare baseline of WebhookDeliveryFunction on one webhook: boto3, urllib3 and the standard
library, no more. Its AWS requests are ours: the signing secret (current and previous version,
once per execution environment), the event (one consistent GetItem); then the webhook, signed as
Standard Webhooks says, POSTed to the merchant, and the attempt recorded (one UpdateItem)."""

import base64
import hashlib
import hmac
import json
import os
import time
from datetime import UTC, datetime

import boto3
import urllib3

EVENTS_TABLE = os.environ["EVENTS_TABLE_NAME"]
dynamodb = boto3.client("dynamodb")
secretsmanager = boto3.client("secretsmanager")
http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=10.0, read=10.0))
keys: list[bytes] = []


def signing_keys() -> list[bytes]:
    if not keys:
        secret_id = os.environ["WEBHOOK_SECRET_ID"]
        texts = [secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"]]
        try:
            previous = secretsmanager.get_secret_value(SecretId=secret_id, VersionStage="AWSPREVIOUS")
            texts.append(previous["SecretString"])
        except secretsmanager.exceptions.ResourceNotFoundException:
            pass  # never rotated
        keys.extend(base64.b64decode(text.removeprefix("whsec_") + "=" * (-len(text) % 4)) for text in texts)
    return keys


def lambda_handler(event, context):
    failures = []
    for record in event["Records"]:
        event_id = json.loads(record["body"])["event_id"]
        key = {"event_id": {"S": event_id}}
        body = dynamodb.get_item(TableName=EVENTS_TABLE, Key=key, ConsistentRead=True)["Item"]["body"]["S"]
        timestamp = int(time.time())
        signed = f"{event_id}.{timestamp}.{body}".encode()
        digests = [hmac.new(key, signed, hashlib.sha256).digest() for key in signing_keys()]
        answer = http.request(
            "POST", os.environ["WEBHOOK_URL"], body=body.encode(), redirect=False,
            headers={"content-type": "application/json", "webhook-id": event_id, "webhook-timestamp": str(timestamp),
                     "webhook-signature": " ".join(f"v1,{base64.b64encode(digest).decode()}" for digest in digests)},
        )  # fmt: skip
        delivered = 200 <= answer.status < 300
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        dynamodb.update_item(
            TableName=EVENTS_TABLE,
            Key=key,
            UpdateExpression="SET delivery_state = :state, delivery_last_attempt_at = :now,"
            " delivery_last_status_code = :code, delivery_delivered_at = :now ADD delivery_attempts :one",
            ExpressionAttributeValues={":state": {"S": "delivered" if delivered else "retrying"}, ":now": {"S": now},
                                       ":code": {"N": str(answer.status)}, ":one": {"N": "1"}},
        )  # fmt: skip
        if not delivered:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}

"""Bare baseline of WebhookDeliveryFunction on one webhook: boto3, urllib3 and the standard
library, no more. Its AWS requests are ours: at import, the signing secret (current and previous
version, as ours reads them ahead); per webhook, the event (one consistent GetItem: its body
zlib-compressed); then the webhook, signed as Standard Webhooks says, POSTed to the merchant, and
the attempt recorded in the event's delivery map (one UpdateItem)."""

import base64
import hashlib
import hmac
import json
import os
import time
import zlib
from datetime import UTC, datetime

import boto3
import urllib3

EVENTS_TABLE = os.environ["EVENTS_TABLE_NAME"]
URL = os.environ["WEBHOOK_URL"]
dynamodb = boto3.client("dynamodb")
http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=10.0, read=10.0))


def signing_keys() -> list[bytes]:
    secretsmanager = boto3.client("secretsmanager")
    secret_id = os.environ["WEBHOOK_SECRET_ID"]
    texts = [secretsmanager.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")["SecretString"]]
    try:
        texts.append(secretsmanager.get_secret_value(SecretId=secret_id, VersionStage="AWSPREVIOUS")["SecretString"])
    except secretsmanager.exceptions.ResourceNotFoundException:
        pass  # never rotated
    texts = [text.strip().removeprefix("whsec_") for text in texts]
    return [base64.b64decode(text + "=" * (-len(text) % 4)) for text in texts]


KEYS = signing_keys()
# What ours records of a successful attempt, every name through a placeholder (`state` is reserved).
NAMES = {f"#{name}": name for name in ("state", "last_attempt_at", "last_status_code", "last_error",
                                       "next_attempt_at", "delivered_at", "attempts")}  # fmt: skip


def lambda_handler(event, context):
    for record in event["Records"]:
        event_id = json.loads(record["body"])["event_id"]
        key = {"event_id": {"S": event_id}}
        item = dynamodb.get_item(TableName=EVENTS_TABLE, Key=key, ConsistentRead=True)["Item"]
        body = zlib.decompress(item["body"]["B"]).decode()
        timestamp = int(time.time())
        signed = f"{event_id}.{timestamp}.{body}".encode()
        signatures = [base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode() for key in KEYS]
        answer = http.request(
            "POST", URL, body=body.encode(), redirect=False,
            headers={"content-type": "application/json", "user-agent": "etpay-payments-webhooks/1",
                     "webhook-id": event_id, "webhook-timestamp": str(timestamp),
                     "webhook-signature": " ".join(f"v1,{signature}" for signature in signatures)},
        )  # fmt: skip
        if not 200 <= answer.status < 300:
            raise RuntimeError(f"the merchant answered {answer.status}: the bench's receiver takes every webhook")
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        dynamodb.update_item(
            TableName=EVENTS_TABLE,
            Key=key,
            UpdateExpression="SET delivery.#state = :state, delivery.#last_attempt_at = :last_attempt_at,"
            " delivery.#last_status_code = :last_status_code, delivery.#delivered_at = :delivered_at"
            " ADD delivery.#attempts :one REMOVE delivery.#last_error, delivery.#next_attempt_at",
            ConditionExpression="attribute_exists(event_id)",
            ExpressionAttributeValues={":state": {"S": "delivered"}, ":last_attempt_at": {"S": now},
                                       ":last_status_code": {"N": str(answer.status)}, ":delivered_at": {"S": now},
                                       ":one": {"N": "1"}},
            ExpressionAttributeNames=NAMES,
        )  # fmt: skip
    return {"batchItemFailures": []}

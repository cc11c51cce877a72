"""Bare baseline of NotificationsFunction on ETpay's paid notification: boto3 and PyJWT, no more.
Its AWS requests are ours: the notification key (current and previous version, once per execution
environment), the order named by the unverified token (one consistent GetItem: the order and its
sessions are one item), then, the HS256 signature checked with that session's signature_token,
session and order settled and out of the check index (one conditional UpdateItem)."""

import hmac
import json
import os
from datetime import UTC, datetime

import boto3
import jwt

TABLE = os.environ["TABLE_NAME"]
dynamodb = boto3.client("dynamodb")
secretsmanager = boto3.client("secretsmanager")
keys: list[bytes] = []


def notification_keys() -> list[bytes]:
    if not keys:
        secret_id = os.environ["NOTIFICATION_KEY_SECRET_ID"]
        keys.append(secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"].encode())
        try:
            previous = secretsmanager.get_secret_value(SecretId=secret_id, VersionStage="AWSPREVIOUS")
            keys.append(previous["SecretString"].encode())
        except secretsmanager.exceptions.ResourceNotFoundException:
            pass  # never rotated
    return keys


def reply(status: int, body: dict) -> dict:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def lambda_handler(event, context):
    given = ((event.get("queryStringParameters") or {}).get("key") or "").encode()
    if not any(hmac.compare_digest(given, key) for key in notification_keys()):
        return reply(401, {"error": "invalid_notification"})
    token = json.loads(event["body"])["payment"]
    unverified = jwt.decode(token, options={"verify_signature": False})
    order_id, session_token = unverified["merchant_order_id"], unverified["session_token"]
    key = {"pk": {"S": "ORDER#" + order_id}}
    order = dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]
    session = order["sessions"]["M"][session_token]["M"]
    claims = jwt.decode(token, session["signature_token"]["S"], algorithms=["HS256"])
    if claims["merchant_amount"] != int(order["order_amount"]["N"]):
        return reply(401, {"error": "invalid_notification"})
    status = "PAID" if claims["payment_status"] in (True, "success") else "FAILED"
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    dynamodb.update_item(
        TableName=TABLE,
        Key=key,
        UpdateExpression="SET sessions.#token.#status = :final, sessions.#token.updated_at = :now,"
        " sessions.#token.payment_token = :payment, #status = :final, updated_at = :now, payment_token = :payment"
        " REMOVE pending_shard, next_check_at, check_session, check_opened_at, check_expires_at, check_count",
        ConditionExpression="sessions.#token.#status = :pending AND #status = :pending",
        ExpressionAttributeNames={"#status": "status", "#token": session_token},
        ExpressionAttributeValues={":final": {"S": status}, ":now": {"S": now}, ":pending": {"S": "PENDING"},
                                   ":payment": {"S": str(claims["payment_token"])}},
    )  # fmt: skip
    return reply(200, {"received": True})

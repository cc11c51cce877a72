"""Bare baseline of NotificationsFunction on ETpay's paid notification: boto3 and PyJWT, no more.
Its AWS requests are ours: at import, the notification key (current and previous version, as ours
reads them ahead); per request, the order named by the unverified token with that session and its
signature_token (one consistent GetItem with ours' projection: the order and its sessions are one
item, the session's signature_token in its `signature_tokens` map), then, the HS256 signature
checked with it, session and order settled and out of the check index (one conditional UpdateItem)."""

import hmac
import json
import os
from datetime import UTC, datetime

import boto3
import jwt

TABLE = os.environ["TABLE_NAME"]
dynamodb = boto3.client("dynamodb")
PROJECTION = (
    "merchant_order_id, order_amount, currency, #status, session_token, payment_url, payment_token, created_at,"
    " updated_at, review_reasons, session_expires_at, check_session, reviews, sessions.#token, signature_tokens.#token"
)


def notification_keys() -> list[bytes]:
    secretsmanager = boto3.client("secretsmanager")
    secret_id = os.environ["NOTIFICATION_KEY_SECRET_ID"]
    keys = [secretsmanager.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")["SecretString"].encode()]
    try:
        previous = secretsmanager.get_secret_value(SecretId=secret_id, VersionStage="AWSPREVIOUS")
        keys.append(previous["SecretString"].encode())
    except secretsmanager.exceptions.ResourceNotFoundException:
        pass  # never rotated
    return keys


KEYS = notification_keys()


def reply(status: int, body: dict) -> dict:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def lambda_handler(event, context):
    given = ((event.get("queryStringParameters") or {}).get("key") or "").encode()
    if not any(hmac.compare_digest(given, key) for key in KEYS):
        return reply(401, {"error": "invalid_notification"})
    token = json.loads(event["body"])["payment"]
    unverified = jwt.decode(token, options={"verify_signature": False})
    order_id, session_token = unverified["merchant_order_id"], unverified["session_token"]
    key = {"pk": {"S": "ORDER#" + order_id}}
    order = dynamodb.get_item(
        TableName=TABLE, Key=key, ConsistentRead=True, ProjectionExpression=PROJECTION,
        ExpressionAttributeNames={"#status": "status", "#token": session_token},
    )["Item"]  # fmt: skip
    session = order["sessions"]["M"][session_token]["M"]
    signature_token = order["signature_tokens"]["M"][session_token]["S"]
    claims = jwt.decode(token, signature_token, algorithms=["HS256"])
    if claims["merchant_amount"] != int(order["order_amount"]["N"]):
        return reply(401, {"error": "invalid_notification"})
    if claims["payment_status"] not in (True, "success"):
        raise RuntimeError("the bench sends paid notifications only")
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    dynamodb.update_item(
        TableName=TABLE,
        Key=key,
        UpdateExpression="SET sessions.#token.#status = :final, sessions.#token.updated_at = :now,"
        " sessions.#token.needs_status_check = :no, sessions.#token.payment_token = :payment, updated_at = :now,"
        " #status = :final, session_token = :token, payment_url = :url, session_expires_at = :expires,"
        " payment_token = :payment"
        " REMOVE pending_shard, next_check_at, check_session, check_opened_at, check_expires_at, check_count",
        ConditionExpression="sessions.#token.#status = :seen_session AND #status = :seen AND session_token = :current"
        " AND check_session = :token",
        ExpressionAttributeNames={"#status": "status", "#token": session_token},
        ExpressionAttributeValues={
            ":final": {"S": "PAID"}, ":now": {"S": now}, ":seen_session": session["status"], ":seen": order["status"],
            ":current": order["session_token"], ":token": {"S": session_token}, ":no": {"BOOL": False},
            ":payment": {"S": str(claims["payment_token"])}, ":url": session["payment_url"],
            ":expires": session["expires_at"],
        },
    )  # fmt: skip
    return reply(200, {"received": True})

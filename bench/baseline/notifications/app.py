"""Benchmark baseline for NotificationsFunction: POST /notifications with bare boto3 and PyJWT,
nothing else. Checks the notification key in the URL (read once from Secrets Manager), reads the
order named by the unverified token (one GetItem: the order and its sessions are one item),
verifies the HS256 JWT with the stored signature_token of the session it names, then settles
session and order with one conditional UpdateItem: the same AWS requests as the real function. It
is the floor to compare against, not a product.
"""

import base64
import hmac
import json
import os
from datetime import UTC, datetime

import boto3
import jwt

TABLE = os.environ["TABLE_NAME"]
NOTIFICATION_KEY_SECRET_ID = os.environ["NOTIFICATION_KEY_SECRET_ID"]
PAID = (True, "success")

_dynamodb = boto3.client("dynamodb")
_secrets = boto3.client("secretsmanager")
_notification_key = b""


def _reply(status: int, body: dict) -> dict:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def _key_matches(event: dict) -> bool:
    global _notification_key
    if not _notification_key:
        _notification_key = _secrets.get_secret_value(SecretId=NOTIFICATION_KEY_SECRET_ID)["SecretString"].encode()
    given = ((event.get("queryStringParameters") or {}).get("key") or "").encode()
    return hmac.compare_digest(given, _notification_key)


def lambda_handler(event: dict, context) -> dict:
    if not _key_matches(event):
        return _reply(401, {"error": "invalid_notification"})
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    try:
        token = json.loads(body)["payment"]
        unverified = jwt.decode(token, options={"verify_signature": False})
        session_token, order_id = str(unverified["session_token"]), str(unverified["merchant_order_id"])
    except (ValueError, KeyError, TypeError, jwt.PyJWTError):
        return _reply(401, {"error": "invalid_notification"})
    order = _dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "ORDER#" + order_id}}, ConsistentRead=True).get("Item")
    session = (order or {}).get("sessions", {}).get("M", {}).get(session_token)
    if not session:
        return _reply(401, {"error": "invalid_notification"})
    try:
        claims = jwt.decode(token, session["M"]["signature_token"]["S"], algorithms=["HS256"])
    except jwt.PyJWTError:
        return _reply(401, {"error": "invalid_notification"})
    if claims.get("merchant_amount") != int(order["order_amount"]["N"]):
        return _reply(401, {"error": "invalid_notification"})
    status = "PAID" if claims.get("payment_status") in PAID else "FAILED"
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    try:
        _dynamodb.update_item(
            TableName=TABLE,
            Key={"pk": {"S": "ORDER#" + order_id}},
            UpdateExpression=(
                "SET sessions.#token.#status = :final, sessions.#token.updated_at = :now,"
                " sessions.#token.payment_token = :payment, #status = :final, updated_at = :now,"
                " payment_token = :payment REMOVE pending_check, pending_since"
            ),
            ConditionExpression="sessions.#token.#status = :pending AND #status = :pending AND session_token = :token",
            ExpressionAttributeNames={"#status": "status", "#token": session_token},
            ExpressionAttributeValues={
                ":final": {"S": status},
                ":now": {"S": now},
                ":payment": {"S": str(claims.get("payment_token"))},
                ":pending": {"S": "PENDING"},
                ":token": {"S": session_token},
            },
        )
    except _dynamodb.exceptions.ConditionalCheckFailedException:
        pass  # already settled: a re-delivery gets the same answer
    return _reply(200, {"received": True})

"""Benchmark baseline for NotificationsFunction: POST /notifications with bare boto3 and PyJWT,
nothing else. Reads the session named by the unverified token, verifies the HS256 JWT with its
stored signature_token, then settles session and order in one conditional transaction. It is the
floor to compare against, not a product.
"""

import base64
import json
import os

import boto3
import jwt

TABLE = os.environ["TABLE_NAME"]
PAID = (True, "success")

_dynamodb = boto3.client("dynamodb")


def _reply(status: int, body: dict) -> dict:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def lambda_handler(event: dict, context) -> dict:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    try:
        token = json.loads(body)["payment"]
        session_token = jwt.decode(token, options={"verify_signature": False})["session_token"]
    except (ValueError, KeyError, TypeError, jwt.PyJWTError):
        return _reply(401, {"error": "invalid_notification"})
    session = _dynamodb.get_item(
        TableName=TABLE, Key={"pk": {"S": "SESSION#" + str(session_token)}}, ConsistentRead=True
    ).get("Item")
    if not session:
        return _reply(401, {"error": "invalid_notification"})
    try:
        claims = jwt.decode(token, session["signature_token"]["S"], algorithms=["HS256"])
    except jwt.PyJWTError:
        return _reply(401, {"error": "invalid_notification"})
    order_id = session["merchant_order_id"]["S"]
    if claims.get("merchant_order_id") != order_id or claims.get("merchant_amount") != int(
        session["order_amount"]["N"]
    ):
        return _reply(401, {"error": "invalid_notification"})
    status = "PAID" if claims.get("payment_status") in PAID else "FAILED"
    values = {":final": {"S": status}, ":pending": {"S": "PENDING"}, ":session": {"S": session_token}}
    try:
        _dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "SESSION#" + session_token}},
                        "UpdateExpression": "SET #status = :final",
                        "ConditionExpression": "#status = :pending",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": {":final": values[":final"], ":pending": values[":pending"]},
                    }
                },
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "ORDER#" + order_id}},
                        "UpdateExpression": "SET #status = :final",
                        "ConditionExpression": "#status = :pending AND session_token = :session",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": values,
                    }
                },
            ]
        )
    except _dynamodb.exceptions.TransactionCanceledException:
        pass  # already settled: a re-delivery gets the same answer
    return _reply(200, {"received": True})

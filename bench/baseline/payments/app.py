"""Benchmark baseline for PaymentsFunction: POST /sessions and GET /orders/{merchant_order_id}
with bare boto3 and urllib3, nothing else. It makes the same AWS requests and stores the same item
as the real function, so both read and write the same table; it is the floor to compare against,
not a product (it only handles what the benchmark sends: new orders, and repeats of PENDING ones).

POST /sessions: claim the order with one conditional PutItem (the guarantee that identical
concurrent requests make one ETpay call), read the ETpay secret (kept in memory for 300 s, as the
real function does) and the notification key (its URL for ETpay carries it), POST
/session/initialize, then store the session and drop the claim with one
conditional UpdateItem.
"""

import json
import os
import time
import uuid
from datetime import UTC, datetime

import boto3
import urllib3

TABLE = os.environ["TABLE_NAME"]
SECRET_ID = os.environ["ETPAY_SECRET_ID"]
NOTIFICATION_KEY_SECRET_ID = os.environ["NOTIFICATION_KEY_SECRET_ID"]
NOTIFICATION_URL = os.environ["NOTIFICATION_URL"]
CURRENCY = os.environ.get("CURRENCY", "CLP")
SECRET_MAX_AGE_SECONDS = 300
CLAIM_SECONDS = 60
CLAIM_ITEM_TTL_SECONDS = 24 * 3600

_dynamodb = boto3.client("dynamodb")
_secrets = boto3.client("secretsmanager")
_http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=3.0, read=10.0, total=12.0))
_secret: dict = {}
_secret_read_at = 0.0
_notification_key = ""


def _credentials() -> dict:
    global _secret, _secret_read_at
    if not _secret or time.monotonic() - _secret_read_at > SECRET_MAX_AGE_SECONDS:
        _secret = json.loads(_secrets.get_secret_value(SecretId=SECRET_ID)["SecretString"])
        _secret_read_at = time.monotonic()
    return _secret


def _notification_url() -> str:
    global _notification_key
    if not _notification_key:
        _notification_key = _secrets.get_secret_value(SecretId=NOTIFICATION_KEY_SECRET_ID)["SecretString"]
    return f"{NOTIFICATION_URL}?key={_notification_key}"


def _reply(status: int, body: dict) -> dict:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _create_session(event: dict) -> dict:
    try:
        request = json.loads(event.get("body") or "")
        order_id = request["merchant_order_id"]
        amount = request["order_amount"]
    except (ValueError, KeyError, TypeError):
        return _reply(400, {"error": "validation_error"})
    if not isinstance(order_id, str) or type(amount) is not int:
        return _reply(400, {"error": "validation_error"})
    key = {"pk": {"S": "ORDER#" + order_id}}
    claim = uuid.uuid4().hex
    now = int(time.time())
    try:
        _dynamodb.put_item(
            TableName=TABLE,
            Item={
                **key,
                "kind": {"S": "order"},
                "merchant_order_id": {"S": order_id},
                "order_amount": {"N": str(amount)},
                "currency": {"S": CURRENCY},
                "sessions": {"M": {}},
                "claim_id": {"S": claim},
                "claim_expires": {"N": str(now + CLAIM_SECONDS)},
                "expires_at": {"N": str(now + CLAIM_ITEM_TTL_SECONDS)},
            },
            ConditionExpression=(
                "attribute_not_exists(pk) OR (attribute_not_exists(session_token) AND claim_expires < :now)"
            ),
            ExpressionAttributeValues={":now": {"N": str(now)}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except _dynamodb.exceptions.ConditionalCheckFailedException as refused:
        item = refused.response.get("Item", {})
        if item.get("status", {}).get("S") == "PENDING" and item["order_amount"]["N"] == str(amount):
            return _reply(200, _order_body(item))
        return _reply(409, {"error": "request_in_progress"})
    credentials = _credentials()
    answer = _http.request(
        "POST",
        credentials["api_url"] + "/session/initialize",
        body=json.dumps(
            {
                "merchant_code": credentials["merchant_code"],
                "merchant_api_token": credentials["merchant_api_token"],
                "merchant_order_id": order_id,
                "order_amount": amount,
                "payment_webhook_url": _notification_url(),
            }
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    if answer.status != 200:
        _dynamodb.delete_item(
            TableName=TABLE,
            Key=key,
            ConditionExpression="claim_id = :claim",
            ExpressionAttributeValues={":claim": {"S": claim}},
        )
        return _reply(502, {"error": "etpay_error"})
    session = json.loads(answer.data)
    token = session["token"]
    payment_url = f"{credentials['pmt_url']}/session/{token}"
    stamp = _now()
    _dynamodb.update_item(
        TableName=TABLE,
        Key=key,
        UpdateExpression=(
            "SET #status = :pending, session_token = :token, payment_url = :url, created_at = :now,"
            " updated_at = :now, sessions.#token = :session, pending_check = :partition, pending_since = :now"
            " REMOVE claim_id, claim_expires, expires_at"
        ),
        ConditionExpression="claim_id = :claim",
        ExpressionAttributeNames={"#status": "status", "#token": token},
        ExpressionAttributeValues={
            ":pending": {"S": "PENDING"},
            ":token": {"S": token},
            ":url": {"S": payment_url},
            ":now": {"S": stamp},
            ":partition": {"S": "PENDING"},
            ":claim": {"S": claim},
            ":session": {
                "M": {
                    "currency": {"S": CURRENCY},
                    "signature_token": {"S": session["signature_token"]},
                    "status": {"S": "PENDING"},
                    "created_at": {"S": stamp},
                    "updated_at": {"S": stamp},
                }
            },
        },
    )
    return _reply(
        201,
        {
            "merchant_order_id": order_id,
            "order_amount": amount,
            "currency": CURRENCY,
            "status": "PENDING",
            "session_token": token,
            "payment_url": payment_url,
        },
    )


def _order_body(item: dict) -> dict:
    return {
        "merchant_order_id": item["merchant_order_id"]["S"],
        "order_amount": int(item["order_amount"]["N"]),
        "currency": item["currency"]["S"],
        "status": item["status"]["S"],
        "session_token": item["session_token"]["S"],
        "payment_url": item["payment_url"]["S"],
        "created_at": item["created_at"]["S"],
        "updated_at": item["updated_at"]["S"],
    }


def _get_order(event: dict) -> dict:
    order_id = (event.get("pathParameters") or {}).get("merchant_order_id", "")
    item = _dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "ORDER#" + order_id}}, ConsistentRead=True).get("Item")
    if not item or "session_token" not in item:
        return _reply(404, {"error": "not_found"})
    return _reply(200, _order_body(item))


def lambda_handler(event: dict, context) -> dict:
    if event.get("httpMethod") == "POST" and event.get("resource") == "/sessions":
        return _create_session(event)
    if event.get("httpMethod") == "GET" and event.get("resource") == "/orders/{merchant_order_id}":
        return _get_order(event)
    return _reply(404, {"error": "not_found"})

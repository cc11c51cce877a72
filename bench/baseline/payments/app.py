"""Bare baseline of PaymentsFunction on `POST /sessions` of a new order: boto3 and urllib3, no
more. Its AWS requests are ours (bench/measure.py checks): at import, the ETpay credentials and the
notification key's current version (as ours reads them ahead); per request, the order
claimed (one conditional PutItem), the session opened at ETpay, then stored with its first status
check due and its signature_token in the order's `signature_tokens` map (one conditional
UpdateItem). The floor to compare against, not a product: it handles only what the bench sends it."""

import hashlib
import json
import math
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import boto3
import urllib3

TABLE = os.environ["TABLE_NAME"]
CURRENCY = os.environ["CURRENCY"]
LIFETIME = timedelta(seconds=int(os.environ["SESSION_LIFETIME_SECONDS"]))
FIRST_CHECK = timedelta(seconds=int(os.environ["RECONCILE_AFTER_SECONDS"]))
dynamodb = boto3.client("dynamodb")
http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=3.0, read=10.0))


def read_secrets() -> tuple[dict, str]:
    secretsmanager = boto3.client("secretsmanager")
    credentials = secretsmanager.get_secret_value(SecretId=os.environ["ETPAY_SECRET_ID"], VersionStage="AWSCURRENT")
    key = secretsmanager.get_secret_value(SecretId=os.environ["NOTIFICATION_KEY_SECRET_ID"], VersionStage="AWSCURRENT")
    return json.loads(credentials["SecretString"]), key["SecretString"]


CREDENTIALS, NOTIFICATION_KEY = read_secrets()


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def lambda_handler(event, context):
    request = json.loads(event["body"])
    order_id, amount = request["merchant_order_id"], request["order_amount"]
    key, claim, now = {"pk": {"S": "ORDER#" + order_id}}, uuid.uuid4().hex, math.floor(time.time())
    dynamodb.put_item(
        TableName=TABLE,
        Item={**key, "kind": {"S": "order"}, "merchant_order_id": {"S": order_id}, "order_amount": {"N": str(amount)},
              "currency": {"S": CURRENCY}, "sessions": {"M": {}}, "claim_id": {"S": claim},
              "claim_expires": {"N": str(now + 60)}, "expires_at": {"N": str(now + 86400)}},
        ConditionExpression="attribute_not_exists(pk) OR (attribute_not_exists(session_token)"
        " AND claim_expires <= :now)",
        ExpressionAttributeValues={":now": {"N": str(now)}},
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )  # fmt: skip
    gateway = event["requestContext"]
    answer = http.request(
        "POST",
        CREDENTIALS["api_url"] + "/session/initialize",
        body=json.dumps({"merchant_code": CREDENTIALS["merchant_code"],
                         "merchant_api_token": CREDENTIALS["merchant_api_token"], "merchant_order_id": order_id,
                         "order_amount": amount,
                         "payment_webhook_url": f"https://{gateway['domainName']}/{gateway['stage']}/notifications"
                                                f"?key={quote(NOTIFICATION_KEY)}"}).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )  # fmt: skip
    if answer.status != 200:
        raise RuntimeError(f"ETpay answered {answer.status}")
    session, opened = json.loads(answer.data), datetime.now(UTC)
    token, stamp, expires = session["token"], iso(opened), iso(opened + LIFETIME)
    payment_url = f"{CREDENTIALS['pmt_url']}/session/{quote(token, safe='')}"
    dynamodb.update_item(
        TableName=TABLE,
        Key=key,
        UpdateExpression="SET #status = :pending, session_token = :token, payment_url = :url, created_at = :created,"
        " updated_at = :now, session_expires_at = :expires, sessions.#token = :session,"
        " signature_tokens = :signatures, pending_shard = :shard, next_check_at = :first_check,"
        " check_session = :token, check_opened_at = :now, check_expires_at = :expires, check_count = :zero"
        " REMOVE claim_id, claim_expires, expires_at",
        ConditionExpression="claim_id = :claim AND attribute_not_exists(sessions.#token)"
        " AND attribute_not_exists(session_token)",
        ExpressionAttributeNames={"#status": "status", "#token": token},
        ExpressionAttributeValues={
            ":claim": {"S": claim}, ":pending": {"S": "PENDING"}, ":token": {"S": token}, ":url": {"S": payment_url},
            ":created": {"S": stamp}, ":now": {"S": stamp}, ":expires": {"S": expires},
            ":session": {"M": {"currency": {"S": CURRENCY}, "status": {"S": "PENDING"}, "created_at": {"S": stamp},
                               "updated_at": {"S": stamp}, "expires_at": {"S": expires},
                               "payment_url": {"S": payment_url}}},
            ":shard": {"S": f"PENDING#{int.from_bytes(hashlib.sha256(order_id.encode()).digest()[:4]) % 32}"},
            ":first_check": {"S": iso(opened + FIRST_CHECK)}, ":zero": {"N": "0"},
            ":signatures": {"M": {token: {"S": session["signature_token"]}}},
        },
    )  # fmt: skip
    body = {"merchant_order_id": order_id, "order_amount": amount, "currency": CURRENCY, "status": "PENDING",
            "session_token": token, "payment_url": payment_url, "expires_at": expires}  # fmt: skip
    return {"statusCode": 201, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}

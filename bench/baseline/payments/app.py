"""Bare baseline of PaymentsFunction on `POST /sessions` of a new order: boto3 and urllib3, no
more. Its AWS requests are ours (bench/functions.py checks): claim the order (one conditional
PutItem), read the ETpay credentials and the notification key (once per execution environment),
open the session at ETpay, store it with its first status check due (one conditional UpdateItem).
The floor to compare against, not a product: it handles only what the bench sends it."""

import json
import os
import time
import uuid
import zlib
from datetime import UTC, datetime, timedelta

import boto3
import urllib3

TABLE = os.environ["TABLE_NAME"]
CURRENCY = os.environ["CURRENCY"]
LIFETIME = timedelta(seconds=int(os.environ["SESSION_LIFETIME_SECONDS"]))
FIRST_CHECK = timedelta(seconds=int(os.environ["RECONCILE_AFTER_SECONDS"]))
dynamodb = boto3.client("dynamodb")
secretsmanager = boto3.client("secretsmanager")
http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=3.0, read=10.0))
secrets: dict[str, str] = {}


def secret(variable: str) -> str:
    if variable not in secrets:
        secrets[variable] = secretsmanager.get_secret_value(SecretId=os.environ[variable])["SecretString"]
    return secrets[variable]


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def lambda_handler(event, context):
    request = json.loads(event["body"])
    order_id, amount = request["merchant_order_id"], request["order_amount"]
    key, claim, now = {"pk": {"S": "ORDER#" + order_id}}, uuid.uuid4().hex, int(time.time())
    dynamodb.put_item(
        TableName=TABLE,
        Item={**key, "kind": {"S": "order"}, "merchant_order_id": {"S": order_id}, "order_amount": {"N": str(amount)},
              "currency": {"S": CURRENCY}, "sessions": {"M": {}}, "claim_id": {"S": claim},
              "claim_expires": {"N": str(now + 60)}, "expires_at": {"N": str(now + 86400)}},
        ConditionExpression="attribute_not_exists(pk)",
    )  # fmt: skip
    credentials = json.loads(secret("ETPAY_SECRET_ID"))
    gateway = event["requestContext"]
    answer = http.request(
        "POST",
        credentials["api_url"] + "/session/initialize",
        json={"merchant_code": credentials["merchant_code"], "merchant_api_token": credentials["merchant_api_token"],
              "merchant_order_id": order_id, "order_amount": amount,
              "payment_webhook_url": f"https://{gateway['domainName']}/{gateway['stage']}/notifications"
                                     f"?key={secret('NOTIFICATION_KEY_SECRET_ID')}"},
    )  # fmt: skip
    if answer.status != 200:
        raise RuntimeError(f"ETpay answered {answer.status}")
    session, opened = answer.json(), datetime.now(UTC)
    token, stamp, expires = session["token"], iso(opened), iso(opened + LIFETIME)
    payment_url = f"{credentials['pmt_url']}/session/{token}"
    dynamodb.update_item(
        TableName=TABLE,
        Key=key,
        UpdateExpression="SET #status = :pending, session_token = :token, payment_url = :url, created_at = :now,"
        " updated_at = :now, session_expires_at = :expires, sessions.#token = :session, pending_shard = :shard,"
        " next_check_at = :check, check_session = :token, check_opened_at = :now, check_expires_at = :expires,"
        " check_count = :zero REMOVE claim_id, claim_expires, expires_at",
        ConditionExpression="claim_id = :claim",
        ExpressionAttributeNames={"#status": "status", "#token": token},
        ExpressionAttributeValues={
            ":pending": {"S": "PENDING"}, ":token": {"S": token}, ":url": {"S": payment_url}, ":now": {"S": stamp},
            ":expires": {"S": expires}, ":shard": {"S": f"PENDING#{zlib.crc32(order_id.encode()) % 32}"},
            ":check": {"S": iso(opened + FIRST_CHECK)}, ":zero": {"N": "0"}, ":claim": {"S": claim},
            ":session": {"M": {"currency": {"S": CURRENCY}, "signature_token": {"S": session["signature_token"]},
                               "status": {"S": "PENDING"}, "created_at": {"S": stamp}, "updated_at": {"S": stamp},
                               "expires_at": {"S": expires}, "payment_url": {"S": payment_url}}},
        },
    )  # fmt: skip
    body = {"merchant_order_id": order_id, "order_amount": amount, "currency": CURRENCY, "status": "PENDING",
            "session_token": token, "payment_url": payment_url, "expires_at": expires}  # fmt: skip
    return {"statusCode": 201, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}

"""Bare baseline of ReconcileWorkerFunction on one status check whose payer has not paid: boto3
and urllib3, no more. Its AWS requests are ours: at import, the ETpay credentials (as ours reads
them ahead); per check, ETpay's "slow down" (one consistent GetItem, read again when the copy is
5 s old), the order and that session (one consistent GetItem with ours' projection); then ETpay's
status API, which has no result yet, so nothing is written: the next check is already scheduled."""

import json
import os
import time

import boto3
import urllib3

TABLE = os.environ["TABLE_NAME"]
BACKOFF_SECONDS = 5
PROJECTION = (
    "merchant_order_id, order_amount, currency, #status, session_token, payment_url, payment_token, created_at,"
    " updated_at, review_reasons, session_expires_at, check_session, reviews, sessions.#token, signature_tokens.#token"
)
dynamodb = boto3.client("dynamodb")
http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=3.0, read=10.0))
secretsmanager = boto3.client("secretsmanager")
secret = secretsmanager.get_secret_value(SecretId=os.environ["ETPAY_SECRET_ID"], VersionStage="AWSCURRENT")
CREDENTIALS = json.loads(secret["SecretString"])
backoff: dict[str, float] = {}


def lambda_handler(event, context):
    if time.monotonic() - backoff.get("read_at", -BACKOFF_SECONDS) >= BACKOFF_SECONDS:
        key = {"pk": {"S": "RECONCILER#etpay-backoff"}}
        dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)
        backoff["read_at"] = time.monotonic()
    for record in event["Records"]:
        task = json.loads(record["body"])
        names = {"#status": "status", "#token": task["session_token"]}
        order = dynamodb.get_item(
            TableName=TABLE, Key={"pk": {"S": "ORDER#" + task["merchant_order_id"]}}, ConsistentRead=True,
            ProjectionExpression=PROJECTION, ExpressionAttributeNames=names,
        )["Item"]  # fmt: skip
        if order["sessions"]["M"][task["session_token"]]["M"]["status"]["S"] != "PENDING":
            continue
        answer = http.request(
            "POST",
            CREDENTIALS["api_url"] + "/merchant/check_payment_status",
            body=json.dumps({"merchant_code": CREDENTIALS["merchant_code"],
                             "merchant_api_token": CREDENTIALS["merchant_api_token"],
                             "session_token": task["session_token"]}).encode(),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )  # fmt: skip
        if answer.status != 200 or json.loads(answer.data):
            raise RuntimeError(f"ETpay answered {answer.status}: the bench sends checks with no result only")
    return {"batchItemFailures": []}

"""Bare baseline of ReconcileWorkerFunction on one status check whose payer has not paid: boto3
and urllib3, no more. Its AWS requests are ours: ETpay's "slow down" (one consistent GetItem, read
once per execution environment), the order and its session (one consistent GetItem), the ETpay
credentials (once per execution environment); then ETpay's status API, which has no result yet,
so nothing is written: the next check is already scheduled."""

import json
import os

import boto3
import urllib3

TABLE = os.environ["TABLE_NAME"]
dynamodb = boto3.client("dynamodb")
secretsmanager = boto3.client("secretsmanager")
http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=3.0, read=10.0))
cached: dict[str, dict] = {}


def lambda_handler(event, context):
    if "backoff" not in cached:
        key = {"pk": {"S": "RECONCILER#etpay-backoff"}}
        cached["backoff"] = dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True).get("Item", {})
    for record in event["Records"]:
        task = json.loads(record["body"])
        key = {"pk": {"S": "ORDER#" + task["merchant_order_id"]}}
        order = dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]
        if order["sessions"]["M"][task["session_token"]]["M"]["status"]["S"] != "PENDING":
            continue
        if "credentials" not in cached:
            secret = secretsmanager.get_secret_value(SecretId=os.environ["ETPAY_SECRET_ID"])
            cached["credentials"] = json.loads(secret["SecretString"])
        credentials = cached["credentials"]
        answer = http.request(
            "POST",
            credentials["api_url"] + "/merchant/check_payment_status",
            json={"merchant_code": credentials["merchant_code"], "session_token": task["session_token"],
                  "merchant_api_token": credentials["merchant_api_token"]},
        )  # fmt: skip
        if answer.status != 200 or answer.json():
            raise RuntimeError(f"ETpay answered {answer.status}: the bench sends checks with no result only")
    return {"batchItemFailures": []}

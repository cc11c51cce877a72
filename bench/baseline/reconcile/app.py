"""Bare baseline of ReconcileFunction's scheduled sweep: boto3 and the standard library, no more.
Its AWS requests are ours: ETpay's "slow down" (one consistent GetItem), each of the 32 shards of
the check index queried for what is due (8 threads), each due check leased (one conditional
UpdateItem) and sent to the check queue (SendMessageBatch, 10 at a time), then the open reviews
older than a day counted, shard by shard (32 Query, Select COUNT, 8 threads)."""

import json
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import boto3

TABLE = os.environ["TABLE_NAME"]
QUEUE_URL = os.environ["RECONCILE_QUEUE_URL"]
SHARDS = 32
dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def query(index: str, condition: str, values: dict, **options) -> dict:
    values = {name: {"S": value} for name, value in values.items()}
    return dynamodb.query(
        TableName=TABLE, IndexName=index, KeyConditionExpression=condition, ExpressionAttributeValues=values, **options
    )


def lambda_handler(event, context):
    now = datetime.now(UTC)
    backoff = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "RECONCILER#etpay-backoff"}}, ConsistentRead=True)
    if "Item" in backoff and backoff["Item"]["until"]["S"] > iso(now):
        return {"handed_out": 0}
    condition = "pending_shard = :shard AND next_check_at <= :now"
    with ThreadPoolExecutor(max_workers=8) as pool:
        pages = pool.map(lambda shard: query("PendingChecks", condition, {":shard": f"PENDING#{shard}",
                                                                          ":now": iso(now)}, Limit=100),
                         range(SHARDS))  # fmt: skip
        due = [item for page in pages for item in page["Items"]]
    tasks = []
    for item in due:
        dynamodb.update_item(
            TableName=TABLE,
            Key={"pk": item["pk"]},
            UpdateExpression="SET next_check_at = :following, check_count = check_count + :one",
            ConditionExpression="check_session = :token AND next_check_at = :seen",
            ExpressionAttributeValues={":following": {"S": iso(now + timedelta(minutes=5))}, ":one": {"N": "1"},
                                       ":token": item["check_session"], ":seen": item["next_check_at"]},
        )  # fmt: skip
        order_id = item["pk"]["S"].removeprefix("ORDER#")
        tasks.append(json.dumps({"merchant_order_id": order_id, "session_token": item["check_session"]["S"]}))
    for start in range(0, len(tasks), 10):
        entries = [{"Id": str(index), "MessageBody": body} for index, body in enumerate(tasks[start : start + 10])]
        sqs.send_message_batch(QueueUrl=QUEUE_URL, Entries=entries)
    day_ago = iso(now - timedelta(days=1))
    condition = "review_shard = :shard AND review_opened_at <= :before"
    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = pool.map(lambda shard: query("ReviewQueue", condition, {":shard": f"REVIEW#{shard}",
                                                                         ":before": day_ago}, Select="COUNT"),
                          range(SHARDS))  # fmt: skip
        overdue = sum(page["Count"] for page in counts)
    return {"handed_out": len(tasks), "overdue_reviews": overdue}

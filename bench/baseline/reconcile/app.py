"""Bare baseline of ReconcileFunction's scheduled sweep: boto3 and the standard library, no more.
Its AWS requests are ours: ETpay's "slow down" (one consistent GetItem), each of the 32 shards of
the check index queried for what is due (8 threads), each due check leased until the check after
it (one conditional UpdateItem) and the shard's leased checks sent to the check queue
(SendMessageBatch, 10 at a time), then the open reviews older than a day counted, shard by shard
(32 Query, Select COUNT, 8 threads)."""

import json
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import boto3

TABLE = os.environ["TABLE_NAME"]
QUEUE_URL = os.environ["RECONCILE_QUEUE_URL"]
FIRST_CHECK = timedelta(seconds=int(os.environ["RECONCILE_AFTER_SECONDS"]))
SHARDS = 32
LEASE = RETRY = timedelta(minutes=5)
MAX_RETRY = timedelta(hours=1)
dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def query(index: str, condition: str, values: dict, **options) -> dict:
    values = {name: {"S": value} for name, value in values.items()}
    return dynamodb.query(
        TableName=TABLE, IndexName=index, KeyConditionExpression=condition, ExpressionAttributeValues=values, **options
    )


def following_check(item: dict, now: datetime) -> datetime:
    """The check after this one: first FIRST_CHECK after the session opened, then at doubling
    intervals, the last at its expiry, never sooner than the lease; after that, retries."""
    opened = datetime.fromisoformat(item["check_opened_at"]["S"])
    expires = datetime.fromisoformat(item["check_expires_at"]["S"])
    times, offset, step = [], FIRST_CHECK, FIRST_CHECK
    while opened + offset < expires:
        times.append(opened + offset)
        step *= 2
        offset += step
    times.append(expires)
    following = int(item.get("check_count", {"N": "0"})["N"]) + 1
    if following < len(times):
        return max(times[following], now + LEASE)
    return now + min(RETRY * (1 << min(following - len(times), 30)), MAX_RETRY)


def sweep_shard(shard: int, now: datetime) -> int:
    page = query("PendingChecks", "pending_shard = :shard AND next_check_at <= :now",
                 {":shard": f"PENDING#{shard}", ":now": iso(now)}, Limit=100)  # fmt: skip
    tasks = []
    for item in page["Items"]:
        dynamodb.update_item(
            TableName=TABLE,
            Key={"pk": item["pk"]},
            UpdateExpression="SET next_check_at = :following, check_count = :count",
            ConditionExpression="check_session = :token AND next_check_at = :seen",
            ExpressionAttributeValues={":following": {"S": iso(following_check(item, now))},
                                       ":count": {"N": str(int(item.get("check_count", {"N": "0"})["N"]) + 1)},
                                       ":token": item["check_session"], ":seen": item["next_check_at"]},
        )  # fmt: skip
        order_id = item["pk"]["S"].removeprefix("ORDER#")
        tasks.append(json.dumps({"merchant_order_id": order_id, "session_token": item["check_session"]["S"]}))
    for start in range(0, len(tasks), 10):
        entries = [{"Id": str(index), "MessageBody": body} for index, body in enumerate(tasks[start : start + 10])]
        sqs.send_message_batch(QueueUrl=QUEUE_URL, Entries=entries)
    return len(tasks)


def lambda_handler(event, context):
    now = datetime.now(UTC)
    backoff = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "RECONCILER#etpay-backoff"}}, ConsistentRead=True)
    if "Item" in backoff and backoff["Item"]["until"]["S"] > iso(now):
        return {"handed_out": 0}
    with ThreadPoolExecutor(max_workers=8) as pool:
        handed_out = sum(pool.map(lambda shard: sweep_shard(shard, now), range(SHARDS)))
    day_ago = iso(now - timedelta(days=1))
    condition = "review_shard = :shard AND review_opened_at <= :before"
    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = pool.map(lambda shard: query("ReviewQueue", condition, {":shard": f"REVIEW#{shard}",
                                                                         ":before": day_ago}, Select="COUNT"),
                          range(SHARDS))  # fmt: skip
        overdue = sum(page["Count"] for page in counts)
    return {"handed_out": handed_out, "overdue_reviews": overdue}

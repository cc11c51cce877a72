"""The review index (payments.app.ports.ReviewIndex) on DynamoDB: the orders table's sparse index of
orders with an open review, one partition per shard, oldest first.
"""

from datetime import datetime
from typing import Any

from payments.adapters.dynamodb import expression_values, from_item
from payments.adapters.order_codec import REVIEW_INDEX, order_key, queued_review, review_shard_key
from payments.adapters.order_store import OrderTable
from payments.domain.clock import iso_utc
from payments.domain.reviews import QueuedReview, QueuePosition


class ReviewIndex:
    def __init__(self, table_name: str, client: Any = None):
        self._table = OrderTable(table_name, client)

    def open_reviews(self, shard: int, after: QueuePosition | None, limit: int) -> tuple[list[QueuedReview], bool]:
        """The shard's open reviews after `after` (None: from its oldest), oldest first, at most
        `limit`; and whether DynamoDB stopped before the shard's end."""
        name = review_shard_key(shard)
        request: dict[str, Any] = {
            "TableName": self._table.name,
            "IndexName": REVIEW_INDEX,
            "KeyConditionExpression": "review_shard = :shard",
            "ExpressionAttributeValues": expression_values({"shard": name}),
            "Limit": limit,
        }
        if after is not None:
            request["ExclusiveStartKey"] = {
                "review_shard": {"S": name},
                "review_opened_at": {"S": after.queued_at},
                **order_key(after.merchant_order_id),
            }
        response = self._table.call("query", **request)
        entries = [queued_review(from_item(item)) for item in response.get("Items", [])]
        return entries, "LastEvaluatedKey" in response

    def count_reviews_opened_before(self, shard: int, before: datetime) -> int:
        """How many of the shard's open reviews were opened at or before `before`."""
        request: dict[str, Any] = {
            "TableName": self._table.name,
            "IndexName": REVIEW_INDEX,
            "KeyConditionExpression": "review_shard = :shard AND review_opened_at <= :before",
            "ExpressionAttributeValues": expression_values(
                {"shard": review_shard_key(shard), "before": iso_utc(before)}
            ),
            "Select": "COUNT",
        }
        count = 0
        while True:
            response = self._table.call("query", **request)
            count += int(response.get("Count", 0))
            if "LastEvaluatedKey" not in response:
                return count
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

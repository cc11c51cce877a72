"""The check index (payments.app.ports.CheckIndex) on DynamoDB: the orders table's sparse index of
sessions whose status checks are still due, one partition per shard, earliest first; and ETpay's
shared "slow down", one item beside the orders.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from payments.adapters.dynamodb import expression_values, from_item
from payments.adapters.order_codec import CHECK_ATTRIBUTES, CHECK_INDEX, ORDER_PREFIX, check_shard_key
from payments.adapters.order_store import OrderTable
from payments.domain.checks import DueCheck
from payments.domain.clock import iso_utc, parse_iso
from payments.domain.errors import ConcurrentUpdate

# Until when ETpay asked the reconciler to slow down (Retry-After).
BACKOFF_KEY = "RECONCILER#etpay-backoff"


class CheckIndex:
    def __init__(self, table_name: str, client: Any = None):
        self._table = OrderTable(table_name, client)

    def due_checks(
        self, shard: int, now: datetime, limit: int, start: Mapping[str, Any] | None = None
    ) -> tuple[list[DueCheck], Mapping[str, Any] | None]:
        """One page of the shard's checks due by `now`, earliest first, and where the next page
        starts (None: no more)."""
        request: dict[str, Any] = {
            "TableName": self._table.name,
            "IndexName": CHECK_INDEX,
            "KeyConditionExpression": "pending_shard = :shard AND next_check_at <= :now",
            "ExpressionAttributeValues": expression_values({"shard": check_shard_key(shard), "now": iso_utc(now)}),
            "Limit": limit,
        }
        if start:
            request["ExclusiveStartKey"] = dict(start)
        response = self._table.call("query", **request)
        checks = []
        for item in response.get("Items", []):
            values = from_item(item)
            checks.append(
                DueCheck(
                    merchant_order_id=values["pk"].removeprefix(ORDER_PREFIX),
                    session_token=values["check_session"],
                    next_check_at=values["next_check_at"],
                    opened_at=parse_iso(values["check_opened_at"]),
                    expires_at=parse_iso(values["check_expires_at"]),
                    checks_done=values.get("check_count", 0),
                )
            )
        return checks, response.get("LastEvaluatedKey")

    def lease_check(self, due: DueCheck, following: datetime) -> bool:
        """Hand the due check out: its next one is set to `following` and counted, if nobody else
        has meanwhile (another sweep, the session ending). True when the lease is ours."""
        try:
            self._table.change(
                due.merchant_order_id,
                "SET next_check_at = :following, check_count = :count",
                "check_session = :token AND next_check_at = :seen",
                {
                    "following": iso_utc(following),
                    "count": due.checks_done + 1,
                    "token": due.session_token,
                    "seen": due.next_check_at,
                },
            )
        except ConcurrentUpdate:
            return False
        return True

    def reschedule_check(self, merchant_order_id: str, session_token: str, at: datetime) -> None:
        """Move the session's next check to `at` (ETpay asked us to slow down)."""
        try:
            self._table.change(
                merchant_order_id,
                "SET next_check_at = :at",
                "check_session = :token",
                {"at": iso_utc(at), "token": session_token},
            )
        except ConcurrentUpdate:
            pass  # the session ended meanwhile: nothing left to check

    def clear_check(self, merchant_order_id: str, session_token: str) -> None:
        """Take a session that has already ended out of the check index."""
        try:
            self._table.change(
                merchant_order_id, f"REMOVE {CHECK_ATTRIBUTES}", "check_session = :token", {"token": session_token}
            )
        except ConcurrentUpdate:
            pass  # already out

    def etpay_backoff_until(self) -> datetime | None:
        values = self._table.get({"pk": {"S": BACKOFF_KEY}})
        return parse_iso(values["until"]) if values else None

    def extend_etpay_backoff(self, until: datetime) -> None:
        """ETpay asked us to wait until `until`: every worker and the sweep hold back until then.
        Only ever extended, so the longest wait any answer asked for wins."""
        try:
            self._table.call(
                "update_item",
                TableName=self._table.name,
                Key={"pk": {"S": BACKOFF_KEY}},
                UpdateExpression="SET #until = :until",
                ConditionExpression="attribute_not_exists(#until) OR #until < :until",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues=expression_values({"until": iso_utc(until)}),
            )
        except ConcurrentUpdate:
            pass  # a longer wait is already in place

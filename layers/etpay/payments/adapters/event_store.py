"""The events table (payments.app.ports.EventLog) on DynamoDB.

One item per event, key `event_id`: the body exactly as published (EventBridge's `detail` and the
webhook's body are these bytes), when it went to EventBridge and to the webhook queue, and its
delivery record (flat `delivery_*` attributes, so each attempt is one UpdateItem). The sparse
part of the listing is the index ORDER_INDEX (merchant_order_id, created_at), keys only: an
attempt's update never writes to the index.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from payments.adapters.dynamodb import Table, expression_values, from_item, to_item
from payments.domain.errors import ConcurrentUpdate, StorageUnavailable
from payments.domain.events import Delivery, DeliveryState, EventType, OrderEvent, StoredEvent

ORDER_INDEX = "OrderEvents"
# BatchGetItem takes at most this many keys per call.
BATCH_GET_KEYS = 100
# Unprocessed keys of a BatchGetItem (DynamoDB throttled part of it) are asked for again this often.
BATCH_GET_ROUNDS = 3


def _key(event_id: str) -> dict[str, Any]:
    return {"event_id": {"S": event_id}}


def _stored(values: Mapping[str, Any]) -> StoredEvent:
    return StoredEvent(
        id=values["event_id"],
        type=EventType(values["event_type"]),
        merchant_order_id=values["merchant_order_id"],
        created_at=values["created_at"],
        body=values["body"],
        published_at=values.get("published_at"),
        queued_at=values.get("queued_at"),
        delivery=Delivery(
            state=DeliveryState(values["delivery_state"]),
            attempts=values.get("delivery_attempts", 0),
            last_status_code=values.get("delivery_last_status_code"),
            last_error=values.get("delivery_last_error"),
            last_attempt_at=values.get("delivery_last_attempt_at"),
            next_attempt_at=values.get("delivery_next_attempt_at"),
            delivered_at=values.get("delivery_delivered_at"),
            requested_at=values.get("delivery_requested_at"),
        ),
    )


class EventStore:
    def __init__(self, table_name: str, client: Any = None):
        self._table = Table(table_name, client)

    # -- publishing ----------------------------------------------------------------------------
    def record(self, event: OrderEvent, webhooks: bool, now: str) -> StoredEvent:
        """Store the event unless it is stored already; either way, the event as stored (a retried
        batch finds what it did the first time, and the body first recorded is the one kept)."""
        values = {
            "event_id": event.id,
            "event_type": event.type.value,
            "merchant_order_id": event.merchant_order_id,
            "created_at": event.created_at,
            "body": event.body_json(),
            "recorded_at": now,
            "delivery_state": (DeliveryState.PENDING if webhooks else DeliveryState.DISABLED).value,
            "delivery_attempts": 0,
        }
        try:
            self._table.call(
                "put_item",
                TableName=self._table.name,
                Item=to_item(values),
                ConditionExpression="attribute_not_exists(event_id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConcurrentUpdate as refused:
            stored = refused.item or self._get(event.id)
            if not stored:
                raise StorageUnavailable("the event record could not be read back") from None
            return _stored(stored)
        return _stored(values)

    def mark_sent(self, event_id: str, published: bool, queued: bool, now: str) -> None:
        """Note what went out, so that a retried batch does not send it again."""
        assignments = []
        if published:
            assignments.append("published_at = :now")
        if queued:
            assignments.append(
                "queued_at = :now, delivery_next_attempt_at = if_not_exists(delivery_next_attempt_at, :now)"
            )
        if assignments:
            self._update(event_id, "SET " + ", ".join(assignments), {"now": now})

    # -- reading -------------------------------------------------------------------------------------
    def get(self, event_id: str) -> StoredEvent | None:
        values = self._get(event_id)
        return _stored(values) if values else None

    def for_order(self, merchant_order_id: str) -> list[StoredEvent]:
        """Every event of an order, oldest first."""
        event_ids: list[str] = []
        start: dict[str, Any] | None = None
        while True:
            page = self._table.call(
                "query",
                TableName=self._table.name,
                IndexName=ORDER_INDEX,
                KeyConditionExpression="merchant_order_id = :order",
                ExpressionAttributeValues={":order": {"S": merchant_order_id}},
                **({"ExclusiveStartKey": start} if start else {}),
            )
            event_ids.extend(item["event_id"]["S"] for item in page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        events = [_stored(values) for values in self._batch_get(event_ids)]
        return sorted(events, key=lambda event: (event.created_at, event.id))

    def _batch_get(self, event_ids: Iterable[str]) -> list[dict[str, Any]]:
        ids = list(dict.fromkeys(event_ids))
        found: list[dict[str, Any]] = []
        for first in range(0, len(ids), BATCH_GET_KEYS):
            keys = [_key(event_id) for event_id in ids[first : first + BATCH_GET_KEYS]]
            wanted: dict[str, Any] = {self._table.name: {"Keys": keys, "ConsistentRead": True}}
            for _ in range(BATCH_GET_ROUNDS):
                answer = self._table.call("batch_get_item", RequestItems=wanted)
                found.extend(from_item(item) for item in answer.get("Responses", {}).get(self._table.name, []))
                wanted = answer.get("UnprocessedKeys") or {}
                if not wanted:
                    break
            if wanted:
                raise StorageUnavailable("storage is temporarily unavailable; retry the request")
        return found

    # -- delivery ------------------------------------------------------------------------------------
    def record_attempt(
        self,
        event_id: str,
        state: DeliveryState,
        now: str,
        status_code: int | None,
        error: str | None,
        next_attempt_at: str | None,
    ) -> None:
        """One webhook attempt: its outcome, and when the next one is due (None: no other)."""
        values: dict[str, Any] = {"state": state.value, "now": now, "one": 1}
        assignments = ["delivery_state = :state", "delivery_last_attempt_at = :now"]
        removals = []
        for attribute, placeholder, value in (
            ("delivery_last_status_code", "code", status_code),
            ("delivery_last_error", "error", error),
            ("delivery_next_attempt_at", "next", next_attempt_at),
        ):
            if value is None:
                removals.append(attribute)
            else:
                assignments.append(f"{attribute} = :{placeholder}")
                values[placeholder] = value
        if state is DeliveryState.DELIVERED:
            assignments.append("delivery_delivered_at = :now")
        update = "SET " + ", ".join(assignments)
        if removals:
            update += " REMOVE " + ", ".join(removals)
        self._update(event_id, update + " ADD delivery_attempts :one", values)

    def request_redelivery(self, event_id: str, now: str) -> StoredEvent:
        """Note that a redelivery was asked for at `now`; the event as it stands then."""
        answer = self._update(
            event_id,
            "SET delivery_requested_at = :now ADD delivery_redeliveries :one",
            {"now": now, "one": 1},
            ReturnValues="ALL_NEW",
        )
        return _stored(from_item(answer["Attributes"]))

    # -- one event's item ----------------------------------------------------------------------------
    def _update(self, event_id: str, update: str, values: Mapping[str, Any], **options: Any) -> dict[str, Any]:
        """One UpdateItem of an event that exists (ConcurrentUpdate if it does not)."""
        return self._table.call(
            "update_item",
            TableName=self._table.name,
            Key=_key(event_id),
            UpdateExpression=update,
            ConditionExpression="attribute_exists(event_id)",
            ExpressionAttributeValues=expression_values(values),
            **options,
        )

    def _get(self, event_id: str) -> dict[str, Any] | None:
        return self._table.get(_key(event_id))

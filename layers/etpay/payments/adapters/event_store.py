"""The events table (payments.app.ports.EventLog) on DynamoDB.

One item per event, key `event_id`: the body exactly as published (EventBridge's `detail` and the
webhook's body are these bytes) and the webhook's delivery record (the map `delivery`). The item
is written once, when the event is published; then only when its webhook is attempted or a
redelivery is asked for. There is no index: an order's events are read by their ids, which its
item names (payments.domain.events.event_ids_of). DynamoDB's TTL removes an event EVENT_RETENTION
after it happened (`expires_at`).

What this costs is write units, one per KB of item written: the body is kept zlib-compressed so
that an event's item, and so its write and its delivery's, stays one unit.
"""

import zlib
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from payments.adapters.dynamodb import Table, expression_values, from_item, to_item
from payments.domain.clock import epoch_seconds, parse_iso
from payments.domain.errors import ConcurrentUpdate, StorageUnavailable
from payments.domain.events import Delivery, DeliveryState, EventType, OrderEvent, RedeliveryRequest, StoredEvent

# BatchGetItem takes at most this many keys per call.
BATCH_GET_KEYS = 100
# Unprocessed keys of a BatchGetItem (DynamoDB throttled part of it) are asked for again this often.
BATCH_GET_ROUNDS = 3


def _key(event_id: str) -> dict[str, Any]:
    return {"event_id": {"S": event_id}}


def compress(body: str) -> bytes:
    return zlib.compress(body.encode(), 9)


def decompress(stored: bytes) -> str:
    return zlib.decompress(stored).decode()


def _delivery(values: Mapping[str, Any]) -> Delivery:
    return Delivery(
        state=DeliveryState(values["state"]),
        attempts=values.get("attempts", 0),
        last_status_code=values.get("last_status_code"),
        last_error=values.get("last_error"),
        last_attempt_at=values.get("last_attempt_at"),
        next_attempt_at=values.get("next_attempt_at"),
        delivered_at=values.get("delivered_at"),
        requested_at=values.get("requested_at"),
        requests=tuple(
            RedeliveryRequest(request["by"], request["at"], bool(request.get("merged", False)))
            for request in values.get("requests", ())
        ),
    )


def _requests_values(delivery: Delivery) -> list[dict[str, Any]]:
    return [
        {"by": request.requested_by, "at": request.requested_at, **({"merged": True} if request.merged else {})}
        for request in delivery.requests
    ]


def _stored(values: Mapping[str, Any]) -> StoredEvent:
    body = values["body"]
    return StoredEvent(
        id=values["event_id"],
        type=EventType(values["event_type"]),
        merchant_order_id=values["merchant_order_id"],
        created_at=values["created_at"],
        body=decompress(bytes(body)),
        delivery=_delivery(values["delivery"]),
    )


class EventStore:
    def __init__(self, table_name: str, client: Any = None, retention: timedelta = timedelta(days=30)):
        self._table = Table(table_name, client)
        self._retention = retention

    # -- publishing ----------------------------------------------------------------------------
    def record(self, event: OrderEvent, webhooks: bool, now: str) -> StoredEvent:
        """Store the event unless it is stored already; either way, the event as stored (a retried
        batch finds what it did the first time, and the body first recorded is the one kept)."""
        state = DeliveryState.PENDING if webhooks else DeliveryState.DISABLED
        values = {
            "event_id": event.id,
            "event_type": event.type.value,
            "merchant_order_id": event.merchant_order_id,
            "created_at": event.created_at,
            "body": compress(event.body_json()),
            "delivery": {"state": state.value, "attempts": 0},
            # Counted from the transition, so a replayed event expires when its first copy would.
            "expires_at": epoch_seconds(parse_iso(event.created_at) + self._retention),
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
            stored = refused.item or self._table.get(_key(event.id))
            if not stored:
                raise StorageUnavailable("the event record could not be read back") from None
            return _stored(stored)
        return _stored(values)

    # -- reading -------------------------------------------------------------------------------------
    def get(self, event_id: str) -> StoredEvent | None:
        values = self._table.get(_key(event_id))
        return _stored(values) if values else None

    def many(self, event_ids: Iterable[str]) -> list[StoredEvent]:
        """The events of these ids that are stored, oldest first."""
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
        fields: dict[str, Any] = {
            "state": state.value,
            "last_attempt_at": now,
            "last_status_code": status_code,
            "last_error": error,
            "next_attempt_at": next_attempt_at,
        }
        if state is DeliveryState.DELIVERED:
            fields["delivered_at"] = now
        # Every name through a placeholder: `state`, for one, is a DynamoDB reserved word.
        sets = [f"delivery.#{name} = :{name}" for name, value in fields.items() if value is not None]
        removes = [f"delivery.#{name}" for name, value in fields.items() if value is None]
        update = "SET " + ", ".join(sets) + " ADD delivery.#attempts :one"
        if removes:
            update += " REMOVE " + ", ".join(removes)
        values = {name: value for name, value in fields.items() if value is not None}
        names = {f"#{name}": name for name in [*fields, "attempts"]}
        self._table.call(
            "update_item",
            TableName=self._table.name,
            Key=_key(event_id),
            UpdateExpression=update,
            ConditionExpression="attribute_exists(event_id)",
            ExpressionAttributeValues=expression_values({**values, "one": 1}),
            ExpressionAttributeNames=names,
        )

    def request_redelivery(self, event_id: str, seen: Delivery, after: Delivery) -> StoredEvent:
        """Record a redelivery request: the delivery record becomes `after`, if it is still as
        `seen` (ConcurrentUpdate otherwise: another request or an attempt came first)."""
        sets = ["delivery.requests = :requests"]
        values: dict[str, Any] = {"requests": _requests_values(after)}
        if after.requested_at is not None and after.requested_at != seen.requested_at:
            sets.append("delivery.requested_at = :requested")
            values["requested"] = after.requested_at
        # The requests only grow (then keep their last few: the last one's time tells them apart),
        # and an attempt moves last_attempt_at: together they say whether anything changed.
        conditions = ["attribute_exists(event_id)"]
        if seen.requests:
            conditions.append("delivery.requests[0].#at = :first_at AND size(delivery.requests) = :seen_requests")
            values.update(first_at=seen.requests[0].requested_at, seen_requests=len(seen.requests))
        else:
            conditions.append("attribute_not_exists(delivery.requests)")
        if seen.last_attempt_at is None:
            conditions.append("attribute_not_exists(delivery.last_attempt_at)")
        else:
            conditions.append("delivery.last_attempt_at = :seen_attempt")
            values["seen_attempt"] = seen.last_attempt_at
        answer = self._table.call(
            "update_item",
            TableName=self._table.name,
            Key=_key(event_id),
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression=" AND ".join(conditions),
            ExpressionAttributeValues=expression_values(values),
            **({"ExpressionAttributeNames": {"#at": "at"}} if seen.requests else {}),
            ReturnValues="ALL_NEW",
        )
        return _stored(from_item(answer["Attributes"]))

"""The orders table's change stream, read: each record is one write to an order's item, its images
in DynamoDB JSON. Only the event publisher reads it (the images hold signature tokens)."""

from collections.abc import Mapping
from typing import Any

from payments.adapters.dynamodb import from_item
from payments.adapters.order_codec import order_from_values
from payments.domain.events import ItemChange, OrderSnapshot, SessionState
from payments.domain.orders import Status


def order_snapshot(image: Mapping[str, Any] | None) -> OrderSnapshot | None:
    """An order's item as a DynamoDB stream image carries it (DynamoDB JSON), for deriving the
    events of one write; None for no image (the item did not exist, or was deleted)."""
    if not image:
        return None
    values = from_item(image)
    sessions = {
        token: SessionState(Status(session["status"]), session["created_at"], session["updated_at"])
        for token, session in values.get("sessions", {}).items()
    }
    return OrderSnapshot(order=order_from_values(values), sessions=sessions)


def changes_from_stream_event(event: Mapping[str, Any]) -> list[ItemChange]:
    """The records of a Lambda DynamoDB Streams event of the orders table, in stream order."""
    changes = []
    for record in event.get("Records") or []:
        stream = record.get("dynamodb") or {}
        changes.append(
            ItemChange(str(stream.get("SequenceNumber", "")), stream.get("OldImage"), stream.get("NewImage"))
        )
    return changes

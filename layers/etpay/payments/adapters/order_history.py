"""An order as its item says it has been, for its events (payments.app.ports.OrderHistory): the
orders table's change stream (each record one write, its images in DynamoDB JSON; only the event
publisher reads it, the images hold signature tokens), and an order's item read whole but for its
signature tokens (what the events API lists an order's events from)."""

from collections.abc import Mapping
from typing import Any

from payments.adapters.dynamodb import from_item
from payments.adapters.order_codec import ORDER_PROJECTION, order_from_values
from payments.adapters.order_store import OrderTable
from payments.domain.events import ItemChange, OrderSnapshot, SessionState
from payments.domain.orders import Status


def snapshot_from_values(values: Mapping[str, Any]) -> OrderSnapshot:
    sessions = {
        token: SessionState(Status(session["status"]), session["created_at"], session["updated_at"])
        for token, session in values.get("sessions", {}).items()
    }
    return OrderSnapshot(order=order_from_values(values), sessions=sessions)


def order_snapshot(image: Mapping[str, Any] | None) -> OrderSnapshot | None:
    """An order's item as a DynamoDB stream image carries it (DynamoDB JSON), for deriving the
    events of one write; None for no image (the item did not exist, or was deleted)."""
    return snapshot_from_values(from_item(image)) if image else None


def changes_from_stream_event(event: Mapping[str, Any]) -> list[ItemChange]:
    """The records of a Lambda DynamoDB Streams event of the orders table, in stream order."""
    changes = []
    for record in event.get("Records") or []:
        stream = record.get("dynamodb") or {}
        changes.append(
            ItemChange(str(stream.get("SequenceNumber", "")), stream.get("OldImage"), stream.get("NewImage"))
        )
    return changes


class OrderHistory:
    def __init__(self, table_name: str, client: Any = None):
        self._table = OrderTable(table_name, client)

    def snapshot(self, merchant_order_id: str) -> OrderSnapshot | None:
        """The order and its sessions as stored; never the signature tokens (this reader's role
        may not read them). None when there is no such item."""
        values = self._table.read(merchant_order_id, projection=ORDER_PROJECTION + ", sessions")
        return snapshot_from_values(values) if values else None

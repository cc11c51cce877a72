"""What an event costs to store: DynamoDB charges one write unit per KB of the item written, and the
event's item is written twice on the way to a delivered webhook (recorded, then delivered). The
item of a large event (an MXN order with two reviews, long funnel URL, payment token) stays within
1 KB both times, so an event costs two write units end to end. Sizes follow DynamoDB's documented
rules: names and values in UTF-8 bytes, numbers about one byte per two digits plus one, three bytes
of overhead per map or list and one per element."""

from datetime import UTC, datetime
from typing import Any

from payments.adapters.event_store import EventStore
from payments.domain.clock import iso_utc
from payments.domain.events import OrderSnapshot, SessionState, derive_events
from payments.domain.orders import Order, RaisedReason, Resolution, Review, ReviewReason, ReviewResolution, Status

WRITE_UNIT_BYTES = 1024
T = "2026-12-06T12:00:00.000Z"
TOKEN = "sess_" + "x" * 43
OPERATOR = "arn:aws:sts::123456789012:assumed-role/OperatorsOfTheShop/ana.maria.gonzalez@shop.example"


def value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return (len(inner.lstrip("-").replace(".", "")) + 1) // 2 + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(name.encode()) + value_size(element) + 1 for name, element in inner.items())
    if kind == "L":
        return 3 + sum(value_size(element) + 1 for element in inner)
    if kind == "SS":
        return sum(len(element.encode()) for element in inner)
    raise AssertionError(kind)


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


class Recording:
    """A DynamoDB client that keeps what it was asked to put."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put_item(self, **request: Any) -> dict[str, Any]:
        self.items.append(request["Item"])
        return {}


def a_large_event_item() -> dict[str, Any]:
    resolved = Review(
        1,
        T,
        (RaisedReason(ReviewReason.PAID_AFTER_FAILED, T), RaisedReason(ReviewReason.POSSIBLE_DOUBLE_PAYMENT, T)),
        ReviewResolution(Resolution.CONFIRMED_WITH_ETPAY, OPERATOR, T, "ETpay confirmed both transfers"),
    )
    order = Order(
        "OC-" + "7" * 61,
        12_500,
        "MXN",
        Status.PAID,
        TOKEN,
        "https://pmt-01.etpayment.com/session/" + TOKEN,
        T,
        T,
        payment_token="pay_" + "y" * 40,
        review_reasons=frozenset({ReviewReason.FAILED_AFTER_PAID}),
        expires_at=T,
        reviews=(resolved, Review(2, T, (RaisedReason(ReviewReason.FAILED_AFTER_PAID, T),))),
    )
    before = OrderSnapshot(order, {TOKEN: SessionState(Status.PAID, T, T)})
    stack = "arn:aws:cloudformation:us-east-1:123456789012:stack/etpay-payments-production/" + "0" * 36
    event = derive_events(None, before, stack)[-1]
    client = Recording()
    EventStore("events", client).record(event, webhooks=True, now=iso_utc(datetime.now(UTC)))
    (item,) = client.items
    return item


def test_a_large_events_item_is_one_write_unit_when_recorded_and_when_delivered():
    recorded = a_large_event_item()
    delivered = {
        **recorded,
        "delivery": {
            "M": {
                "state": {"S": "delivered"},
                "attempts": {"N": "1"},
                "last_attempt_at": {"S": T},
                "delivered_at": {"S": T},
                "last_status_code": {"N": "200"},
            }
        },
    }

    assert item_size(recorded) <= WRITE_UNIT_BYTES
    assert item_size(delivered) <= WRITE_UNIT_BYTES

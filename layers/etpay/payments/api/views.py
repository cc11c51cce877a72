"""The API's pages beyond the order itself (whose view, shared with every event, is
payments.domain.views): the review queue's entries, and an event with its webhook's delivery
record. Never a signature_token, a webhook key or an operator's identity beyond what is stored."""

import json
from typing import Any

from payments.domain.events import Delivery, StoredEvent
from payments.domain.reviews import QueuedReview
from payments.domain.views import review_view


def queued_review_view(entry: QueuedReview) -> dict[str, Any]:
    """An entry of GET /reviews: the order as far as the queue shows it, and its open review."""
    return {
        "merchant_order_id": entry.merchant_order_id,
        "order_amount": entry.order_amount,
        "currency": entry.currency,
        "status": entry.status.value,
        "review": review_view(entry.review),
    }


def delivery_view(delivery: Delivery) -> dict[str, Any]:
    view: dict[str, Any] = {"state": delivery.current_state.value, "attempts": delivery.attempts}
    for name in ("last_status_code", "last_error", "last_attempt_at", "next_attempt_at", "delivered_at"):
        value = getattr(delivery, name)
        if value is not None:
            view[name] = value
    return view


def stored_event_view(event: StoredEvent) -> dict[str, Any]:
    """GET /events/{id}: the body exactly as it was published, and its delivery record."""
    return {**json.loads(event.body), "delivery": delivery_view(event.delivery)}

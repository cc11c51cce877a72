"""The review queue's page entries (GET /reviews). The order itself is rendered by
payments.domain.views, for the API and every event alike; the events routes' pages are
payments.api.event_views."""

from typing import Any

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

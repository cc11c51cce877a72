"""The events routes' edge (GET /events/{id}, GET /orders/{id}/events, POST /events/{id}/redeliver):
the event id they are given, checked, and their pages, an event exactly as it was published with
its webhook's delivery record. Apart from validation.py, which the other functions load: only the
events API needs the events' model."""

import json
from typing import Any

from payments.domain.errors import ValidationFailed
from payments.domain.events import EVENT_ID_RULE, Delivery, StoredEvent, is_valid_event_id


def require_event_id(value: Any) -> str:
    if not is_valid_event_id(value):
        raise ValidationFailed({"event_id": f"must be {EVENT_ID_RULE}"})
    assert isinstance(value, str)
    return value


def delivery_view(delivery: Delivery) -> dict[str, Any]:
    view: dict[str, Any] = {"state": delivery.current_state.value, "attempts": delivery.attempts}
    for name in ("last_status_code", "last_error", "last_attempt_at", "next_attempt_at", "delivered_at"):
        value = getattr(delivery, name)
        if value is not None:
            view[name] = value
    if delivery.requests:
        # Who asked for a redelivery, and when (a request joining one still pending: `merged`).
        view["redelivery_requests"] = [
            {"requested_by": request.requested_by, "requested_at": request.requested_at, "merged": request.merged}
            for request in delivery.requests
        ]
    return view


def stored_event_view(event: StoredEvent) -> dict[str, Any]:
    """GET /events/{id}: the body exactly as it was published, and its delivery record."""
    return {**json.loads(event.body), "delivery": delivery_view(event.delivery)}

"""What the merchant's backend sees of an order: the JSON bodies of POST /sessions, GET /orders and
the review queue. Never the signature_token, nor anything else the order item keeps server-side."""

from typing import Any

from payments.model import Order, Review
from payments.reviews import QueuedReview


def session_view(order: Order) -> dict[str, Any]:
    view = {
        "merchant_order_id": order.merchant_order_id,
        "order_amount": order.order_amount,
        "currency": order.currency,
        "status": order.status.value,
        "session_token": order.session_token,
        "payment_url": order.payment_url,
    }
    # When the session ends EXPIRED if ETpay has no result by then (none for sessions opened before
    # sessions expired).
    if order.expires_at:
        view["expires_at"] = order.expires_at
    return view


def order_view(order: Order, notes: bool = True) -> dict[str, Any]:
    """GET /orders/{merchant_order_id}. `notes=False` leaves out the operators' notes on resolved
    reviews (an event's copy of the order: free text stays with the API that stores it)."""
    view = session_view(order)
    if order.payment_token is not None:
        view["payment_token"] = order.payment_token
    view["created_at"] = order.created_at
    view["updated_at"] = order.updated_at
    view["review"] = {
        "required": bool(order.review_reasons),
        "reasons": sorted(reason.value for reason in order.review_reasons),
    }
    view["reviews"] = [review_view(review, notes) for review in order.review_history]
    return view


def review_view(review: Review, notes: bool = True) -> dict[str, Any]:
    """One review, open or resolved: its reasons with when each was raised and, once resolved, by
    whom, when, how (and the operator's note)."""
    view: dict[str, Any] = {
        "number": review.number,
        "state": "open" if review.is_open else "resolved",
        "opened_at": review.opened_at,
        "reasons": [{"reason": raised.reason.value, "raised_at": raised.raised_at} for raised in review.reasons],
    }
    if review.resolution is not None:
        view["resolution"] = review.resolution.resolution.value
        view["resolved_by"] = review.resolution.resolved_by
        view["resolved_at"] = review.resolution.resolved_at
        if notes:
            view["note"] = review.resolution.note
    return view


def queued_review_view(entry: QueuedReview) -> dict[str, Any]:
    """An entry of GET /reviews: the order as far as the queue shows it, and its open review."""
    return {
        "merchant_order_id": entry.merchant_order_id,
        "order_amount": entry.order_amount,
        "currency": entry.currency,
        "status": entry.status.value,
        "review": review_view(entry.review),
    }

"""What the merchant sees of an order: the bodies of POST /sessions and GET /orders, and the order
every event carries (`data.order`, exactly what GET /orders answered right after the transition).
One rendering for both, so an event and the API never disagree. Never the signature_token, nor
anything else the order item keeps server-side. Pure."""

from collections.abc import Callable
from typing import Any

from payments.domain.orders import Order, Review


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


def order_view(order: Order, notes: bool = True, operator: Callable[[str], str] | None = None) -> dict[str, Any]:
    """GET /orders/{merchant_order_id}. For an event's copy of the order, `notes=False` leaves out
    the operators' notes on resolved reviews (free text stays with the API that stores it) and
    `operator` names who resolved a review (an opaque reference instead of their identity)."""
    view = session_view(order)
    if order.payment_token is not None:
        view["payment_token"] = order.payment_token
    view["created_at"] = order.created_at
    view["updated_at"] = order.updated_at
    view["review"] = {
        "required": bool(order.review_reasons),
        "reasons": sorted(reason.value for reason in order.review_reasons),
    }
    view["reviews"] = [review_view(review, notes, operator) for review in order.review_history]
    return view


def review_view(review: Review, notes: bool = True, operator: Callable[[str], str] | None = None) -> dict[str, Any]:
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
        resolved_by = review.resolution.resolved_by
        view["resolved_by"] = operator(resolved_by) if operator is not None else resolved_by
        view["resolved_at"] = review.resolution.resolved_at
        if notes:
            view["note"] = review.resolution.note
    return view

"""What the merchant's backend sees of an order: the JSON bodies of POST /sessions and
GET /orders. Never the signature_token, nor anything else the order item keeps server-side."""

from typing import Any

from payments.model import Order


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


def order_view(order: Order) -> dict[str, Any]:
    view = session_view(order)
    if order.payment_token is not None:
        view["payment_token"] = order.payment_token
    view["created_at"] = order.created_at
    view["updated_at"] = order.updated_at
    view["review"] = {
        "required": bool(order.review_reasons),
        "reasons": sorted(reason.value for reason in order.review_reasons),
    }
    return view

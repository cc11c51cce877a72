"""The orders table's items: how an order, its sessions and its reviews are laid out in one item,
and read back. Pure: no calls (the store, the indexes and the stream reader use it).

One item per order, key `pk` = ORDER#<merchant_order_id>. It holds the order (amount, status, its
current session, review flags) and, in the map `sessions`, every ETpay session opened for it (its
own outcome, times, funnel URL), keyed by session_token. Each session's signature_token, the key
that verifies its notifications, is kept apart in the map `signature_tokens` (same keys): the only
secret in the item, an attribute of its own, so that a role reading orders without verifying
notifications is refused it by IAM (`dynamodb:Attributes`). Because an order and its sessions are
one item, one GetItem is a consistent snapshot of everything a decision needs, and every
transition is one conditional single-item write: atomic without transactions.

While an invocation asks ETpay for a session it holds a claim on the item (`claim_id`,
`claim_expires`). A brand-new order exists as a claim only (no `session_token`) until its first
session is stored; such an item is not an order yet for any reader, and carries `expires_at` so
DynamoDB's TTL removes it if its invocation crashed and nobody retried within a day.

An order with a session whose status checks are still due carries the keys of the sparse index
CHECK_INDEX: `pending_shard` (one of PENDING_SHARDS values, from a hash of the order id, so the
index's writes spread over that many partitions) and `next_check_at`, plus what the sweep needs to
schedule the check after (`check_session`, `check_opened_at`, `check_expires_at`, `check_count`,
projected into the index). A session that ends leaves the index in the same write.

An order's reviews are kept in the item too: `reviews`, the list of every review ever opened for it
(never shortened), and `review_reasons`, the reasons of the open one. While a review is open the
item carries the keys of the sparse index REVIEW_INDEX: `review_shard` (one of REVIEW_SHARDS values,
from the same hash) and `review_opened_at`, so GET /reviews reads the queue oldest first without a
scan. Raising a reason and resolving a review are each one conditional write of the whole `reviews`
list, conditional on its length and on the number of open reasons as read: a review is only
appended and an open review's reasons only grow, so the two counts say whether anything changed.
"""

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from payments.domain.orders import (
    Order,
    PaymentSession,
    RaisedReason,
    Resolution,
    Review,
    ReviewReason,
    ReviewResolution,
    Status,
    StoredOrder,
    current_review,
    shard_of,
)
from payments.domain.policy import PENDING_SHARDS
from payments.domain.reviews import QueuedReview, QueuePosition, review_shard

ORDER_PREFIX = "ORDER#"
CHECK_INDEX = "PendingChecks"
CHECK_SHARD_PREFIX = "PENDING#"
CHECK_ATTRIBUTES = "pending_shard, next_check_at, check_session, check_opened_at, check_expires_at, check_count"
# Orders with an open review, oldest first in each of REVIEW_SHARDS partitions.
REVIEW_INDEX = "ReviewQueue"
REVIEW_SHARD_PREFIX = "REVIEW#"
REVIEW_KEYS = "review_shard, review_opened_at"
# The attributes of the order itself: what GET /orders reads (the sessions map stays behind).
ORDER_ATTRIBUTES = (
    "merchant_order_id",
    "order_amount",
    "currency",
    "#status",
    "session_token",
    "payment_url",
    "payment_token",
    "created_at",
    "updated_at",
    "review_reasons",
    "session_expires_at",
    "check_session",
    "reviews",
)
ORDER_PROJECTION = ", ".join(ORDER_ATTRIBUTES)
NAMES = {"#status": "status"}


def order_key(merchant_order_id: str) -> dict[str, Any]:
    return {"pk": {"S": ORDER_PREFIX + merchant_order_id}}


def check_shard_key(shard: int) -> str:
    return f"{CHECK_SHARD_PREFIX}{shard}"


def pending_shard(merchant_order_id: str) -> str:
    """The check index partition of an order: every check of one order lands on the same one."""
    return check_shard_key(shard_of(merchant_order_id, PENDING_SHARDS))


def review_shard_key(shard: int) -> str:
    return f"{REVIEW_SHARD_PREFIX}{shard}"


def order_review_shard(merchant_order_id: str) -> str:
    return review_shard_key(review_shard(merchant_order_id))


def order_from_values(values: Mapping[str, Any]) -> Order | None:
    """The order an item holds; None for a claim (no session stored yet)."""
    if "session_token" not in values:
        return None
    return Order(
        merchant_order_id=values["merchant_order_id"],
        order_amount=values["order_amount"],
        currency=values["currency"],
        status=Status(values["status"]),
        session_token=values["session_token"],
        payment_url=values["payment_url"],
        created_at=values["created_at"],
        updated_at=values["updated_at"],
        payment_token=values.get("payment_token"),
        review_reasons=frozenset(ReviewReason(r) for r in values.get("review_reasons", ())),
        expires_at=values.get("session_expires_at", ""),
        check_session=values.get("check_session"),
        reviews=reviews_from_values(values.get("reviews", ())),
    )


def reviews_from_values(stored: Iterable[Mapping[str, Any]]) -> tuple[Review, ...]:
    reviews = []
    for review in stored:
        resolution = None
        if "resolution" in review:
            resolution = ReviewResolution(
                Resolution(review["resolution"]), review["resolved_by"], review["resolved_at"], review.get("note", "")
            )
        reviews.append(
            Review(
                number=int(review["number"]),
                opened_at=review["opened_at"],
                reasons=tuple(RaisedReason(ReviewReason(r["reason"]), r["raised_at"]) for r in review["reasons"]),
                resolution=resolution,
            )
        )
    return tuple(reviews)


def review_values(review: Review) -> dict[str, Any]:
    """A review as stored in the order's `reviews` list."""
    values: dict[str, Any] = {
        "number": review.number,
        "opened_at": review.opened_at,
        "reasons": [{"reason": r.reason.value, "raised_at": r.raised_at} for r in review.reasons],
    }
    if review.resolution is not None:
        values.update(
            resolution=review.resolution.resolution.value,
            resolved_by=review.resolution.resolved_by,
            resolved_at=review.resolution.resolved_at,
            note=review.resolution.note,
        )
    return values


def queued_review(values: Mapping[str, Any]) -> QueuedReview:
    """An entry of the review index (its projection of the order)."""
    queued_at = values["review_opened_at"]
    open_reasons = frozenset(ReviewReason(r) for r in values.get("review_reasons", ()))
    reviews = reviews_from_values(values.get("reviews", ()))
    # The index holds orders with an open review and its reasons; an item restored or edited by
    # hand without them still lists, rather than break the page.
    last_open = reviews[-1] if reviews and reviews[-1].is_open else None
    review = current_review(reviews, open_reasons, queued_at) or last_open or Review(len(reviews) + 1, queued_at, ())
    return QueuedReview(
        merchant_order_id=values["merchant_order_id"],
        order_amount=values["order_amount"],
        currency=values["currency"],
        status=Status(values["status"]),
        review=review,
        position=QueuePosition(queued_at, values["merchant_order_id"]),
    )


def session_from_values(token: str, order: Mapping[str, Any], values: Mapping[str, Any]) -> PaymentSession:
    """The session `token` of an order item (`order`: the item's values, `values`: its entry in
    `sessions`); its signature_token from the item's `signature_tokens`, None when not read."""
    return PaymentSession(
        session_token=token,
        merchant_order_id=order["merchant_order_id"],
        order_amount=order["order_amount"],
        currency=values["currency"],
        signature_token=order.get("signature_tokens", {}).get(token),
        status=Status(values["status"]),
        created_at=values["created_at"],
        updated_at=values["updated_at"],
        payment_token=values.get("payment_token"),
        expires_at=values.get("expires_at", ""),
        payment_url=values.get("payment_url", ""),
    )


def session_values(session: PaymentSession) -> dict[str, Any]:
    """A new session as stored in `sessions`: no payment yet (its outcome adds the payment_token);
    its signature_token goes to `signature_tokens`."""
    return {
        "currency": session.currency,
        "status": session.status.value,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "expires_at": session.expires_at,
        "payment_url": session.payment_url,
    }


def stored_order(merchant_order_id: str, values: Mapping[str, Any]) -> StoredOrder:
    """What POST /sessions decides on; `values` is empty if the item is gone."""
    claim_expires = values.get("claim_expires") if "claim_id" in values else None
    return StoredOrder(
        merchant_order_id=merchant_order_id,
        order=order_from_values(values) if values else None,
        session_count=len(values.get("sessions", {})),
        claim_expires=datetime.fromtimestamp(claim_expires, UTC) if claim_expires is not None else None,
    )

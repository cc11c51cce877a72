"""Reviews: a person looks at an order whose money may have moved against our record. Raising a
reason and resolving a review are decided here (`raise_review`, `decide_resolution`) as the one
write of the order's reviews that carries them out; the queue of open reviews (GET /reviews) is
merged and paged here. Pure: no I/O.

The queue is a sparse index spread over REVIEW_SHARDS partitions, each read oldest first; a page
is the oldest `limit` entries of all of them, merged. Where the listing stands is one position per
shard (the last entry of that shard already listed), which the caller gets back as an opaque
cursor: base64url (unpadded) of the JSON `{"v": 1, "after": {"<shard>": ["<queued at>",
"<merchant_order_id>"], ...}}`. A cursor is checked field by field on the way in, so a tampered one
is refused as a validation error and never reaches DynamoDB.

A review opened after a page was read is newer than everything listed so far, so it appears on a
later page, in order; a review resolved meanwhile simply no longer appears.
"""

import base64
import binascii
import heapq
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from payments.domain.errors import NoOpenReview, ValidationFailed
from payments.domain.orders import (
    ORDER_ID_PATTERN,
    Order,
    RaisedReason,
    Resolution,
    Review,
    ReviewReason,
    ReviewResolution,
    Status,
    shard_of,
)
from payments.domain.policy import REVIEW_SHARDS
from payments.domain.sessions import Refuse

# The page cursor: base64url of at most one position per shard (a timestamp and an order id each).
MAX_REVIEW_CURSOR_CHARS = 8000


@dataclass(frozen=True)
class ReviewChange:
    """One write of an order's reviews: its whole review history after the write, carried out only
    if the history and the open reasons are still as read (reviews are only appended, and an open
    review's reasons only grow, so their two counts say whether anything changed)."""

    reviews: tuple[Review, ...]
    # The open review after the write; None: the order leaves the review queue.
    opened: Review | None
    seen_reviews: int
    seen_open_reasons: int

    @property
    def open_reasons(self) -> frozenset[ReviewReason]:
        return self.opened.reason_set if self.opened else frozenset()


def _with_review(reviews: tuple[Review, ...], review: Review) -> tuple[Review, ...]:
    if reviews and reviews[-1].number == review.number:
        return (*reviews[:-1], review)
    return (*reviews, review)


def raise_review(order: Order, reasons: frozenset[ReviewReason], now: str) -> ReviewChange:
    """The order's reviews once `reasons` are raised: added to its open review, or opening a new
    one (a reason raised after a resolution opens the review again)."""
    current = order.open_review or Review(len(order.reviews) + 1, now, ())
    added = tuple(RaisedReason(reason, now) for reason in sorted(reasons - current.reason_set))
    raised = replace(current, reasons=current.reasons + added)
    return ReviewChange(_with_review(order.reviews, raised), raised, len(order.reviews), len(order.review_reasons))


def decide_resolution(
    order: Order, resolution: Resolution, resolved_by: str, note: str, now: str
) -> ReviewChange | Refuse:
    """The operator's resolution of the order's open review. It changes the review record only:
    never the order's money state."""
    current = order.open_review
    if current is None:
        return Refuse(NoOpenReview(f"order {order.merchant_order_id} has no open review"))
    resolved = replace(current, resolution=ReviewResolution(resolution, resolved_by, now, note))
    return ReviewChange(_with_review(order.reviews, resolved), None, len(order.reviews), len(order.review_reasons))


def review_shard(merchant_order_id: str) -> int:
    """The review index partition an order is queued in."""
    return shard_of(merchant_order_id, REVIEW_SHARDS)


# -- the queue ---------------------------------------------------------------------------------------
CURSOR_VERSION = 1
CURSOR_ALPHABET = re.compile(r"^[A-Za-z0-9_-]+$")
# Stored timestamps: payments.domain.clock.iso_utc's form.
TIMESTAMP_PATTERN = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$")
CURSOR_PROBLEM = "must be a next_cursor this API returned"


@dataclass(frozen=True, order=True)
class QueuePosition:
    """An entry's place in its shard: the index's sort key, then the order id (the table's key)."""

    queued_at: str
    merchant_order_id: str


@dataclass(frozen=True)
class QueuedReview:
    """An order in the queue, as the review index projects it."""

    merchant_order_id: str
    order_amount: int
    currency: str
    status: Status
    review: Review
    position: QueuePosition


@dataclass(frozen=True)
class ShardPage:
    """What one shard's query returned: its next entries, oldest first, and whether it stopped
    before the shard's end."""

    entries: Sequence[QueuedReview]
    truncated: bool


@dataclass(frozen=True)
class QueuePage:
    """One page of the review queue, oldest first."""

    entries: list[QueuedReview]
    # Where the next page starts; None: the listing is complete.
    after: dict[int, QueuePosition] | None


def merge_pages(pages: Mapping[int, ShardPage], after: Mapping[int, QueuePosition], limit: int) -> QueuePage:
    """The oldest `limit` entries of all shards, given each shard's next entries (at least `limit`
    of them unless it has fewer), and the positions the page after this one starts from. Each
    shard's entries are taken in the order DynamoDB returned them, so what was listed of a shard is
    always a prefix of it and its position is the last entry taken."""
    streams = [[(entry.position, shard, entry) for entry in page.entries] for shard, page in pages.items()]
    taken = [item for _, item in zip(range(limit), heapq.merge(*streams, key=lambda item: item[0]), strict=False)]
    positions = dict(after)
    counts: dict[int, int] = {}
    for position, shard, _ in taken:
        positions[shard] = position
        counts[shard] = counts.get(shard, 0) + 1
    more = any(counts.get(shard, 0) < len(page.entries) or page.truncated for shard, page in pages.items())
    return QueuePage([entry for _, _, entry in taken], positions if more else None)


def encode_cursor(after: Mapping[int, QueuePosition]) -> str:
    document = {
        "v": CURSOR_VERSION,
        "after": {
            str(shard): [position.queued_at, position.merchant_order_id] for shard, position in sorted(after.items())
        },
    }
    raw = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[int, QueuePosition]:
    """The positions a cursor holds; ValidationFailed for anything this API did not make (a
    position must be in the shard its order is queued in)."""
    if len(cursor) > MAX_REVIEW_CURSOR_CHARS or not CURSOR_ALPHABET.fullmatch(cursor):
        raise _invalid()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        document = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, RecursionError):
        # RecursionError: JSON nested deeper than the parser goes.
        raise _invalid() from None
    if not isinstance(document, dict) or set(document) != {"v", "after"}:
        raise _invalid()
    if type(document["v"]) is not int or document["v"] != CURSOR_VERSION or not isinstance(document["after"], dict):
        raise _invalid()
    positions = {}
    for key, value in document["after"].items():
        if not key.isascii() or not key.isdigit() or str(int(key)) != key or int(key) >= REVIEW_SHARDS:
            raise _invalid()
        if not isinstance(value, list) or len(value) != 2 or not all(isinstance(part, str) for part in value):
            raise _invalid()
        queued_at, merchant_order_id = value
        if not TIMESTAMP_PATTERN.fullmatch(queued_at) or not ORDER_ID_PATTERN.fullmatch(merchant_order_id):
            raise _invalid()
        if review_shard(merchant_order_id) != int(key):
            raise _invalid()
        positions[int(key)] = QueuePosition(queued_at, merchant_order_id)
    return positions


def _invalid() -> ValidationFailed:
    return ValidationFailed({"cursor": CURSOR_PROBLEM}, "the cursor is not one this API returned")

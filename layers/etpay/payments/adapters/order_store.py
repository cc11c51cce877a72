"""DynamoDB storage of orders and their sessions: the only code that speaks DynamoDB.

One item per order, key `pk` = ORDER#<merchant_order_id>. It holds the order (amount, status, its
current session, review flags) and, in the map `sessions`, every ETpay session opened for it
(signature_token, own outcome), keyed by session_token. Because an order and its sessions are one
item, one GetItem is a consistent snapshot of everything a decision needs, and every transition is
one conditional single-item write: atomic without transactions.

While an invocation asks ETpay for a session it holds a claim on the item (`claim_id`,
`claim_expires`). A brand-new order exists as a claim only (no `session_token`) until its first
session is stored; such an item is not an order yet for any reader, and carries `expires_at` so
DynamoDB's TTL removes it if its invocation crashed and nobody retried within a day.
An order with a session whose status checks are still due carries the keys of the sparse index
CHECK_INDEX: `pending_shard` (one of PENDING_SHARDS values, from a hash of the order id, so the
index's writes spread over that many partitions) and `next_check_at`, plus what the sweep needs to
schedule the check after (`check_session`, `check_opened_at`, `check_expires_at`, `check_count`,
projected into the index). A session that ends leaves the index in the same write. Orders stored
before sessions expired carry `pending_check` / `pending_since` (LEGACY_INDEX) instead, until the
sweep moves them over.

An order's reviews are kept in the item too: `reviews`, the list of every review ever opened for it
(never shortened), and `review_reasons`, the reasons of the open one. While a review is open the
item carries the keys of the sparse index REVIEW_INDEX: `review_shard` (one of REVIEW_SHARDS values,
from the same hash) and `review_opened_at`, so GET /reviews reads the queue oldest first without a
scan. Raising a reason and resolving a review are each one conditional write of the whole `reviews`
list, conditional on its length and on the number of open reasons as read: a review is only
appended and an open review's reasons only grow, so the two counts say whether anything changed.
"""

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from payments.aws_clients import aws_client
from payments.clock import epoch_seconds, iso_utc, parse_iso
from payments.errors import ConcurrentUpdate, StorageUnavailable
from payments.events import OrderSnapshot, SessionState
from payments.model import (
    REOPENING_STATUSES,
    DueCheck,
    Order,
    PaymentSession,
    RaisedReason,
    Resolution,
    Review,
    ReviewChange,
    ReviewReason,
    ReviewResolution,
    Status,
    StoredOrder,
    raise_review,
)
from payments.reviews import QueuedReview, QueuePosition
from payments.settings import (
    CLAIM_ITEM_TTL_SECONDS,
    DYNAMODB_CONNECT_TIMEOUT_SECONDS,
    DYNAMODB_MAX_ATTEMPTS,
    DYNAMODB_READ_TIMEOUT_SECONDS,
    PENDING_SHARDS,
    REVIEW_SHARDS,
    SESSION_CLAIM_SECONDS,
)

logger = Logger(child=True)

ORDER_PREFIX = "ORDER#"
CHECK_INDEX = "PendingChecks"
SHARD_PREFIX = "PENDING#"
CHECK_ATTRIBUTES = "pending_shard, next_check_at, check_session, check_opened_at, check_expires_at, check_count"
# Orders with an open review, oldest first in each of REVIEW_SHARDS partitions.
REVIEW_INDEX = "ReviewQueue"
REVIEW_SHARD_PREFIX = "REVIEW#"
REVIEW_KEYS = "review_shard, review_opened_at"
# Orders stored before sessions expired: one index partition, read oldest first. Only the sweep
# reads it, to move what is left of it to CHECK_INDEX.
LEGACY_INDEX = "PendingSessions"
LEGACY_PARTITION = "PENDING"
# One item beside the orders: until when ETpay asked the reconciler to slow down (Retry-After).
BACKOFF_KEY = "RECONCILER#etpay-backoff"
CONDITION_FAILED_CODES = frozenset({"ConditionalCheckFailedException"})
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

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _dynamodb_client() -> Any:
    return aws_client(
        "dynamodb",
        DYNAMODB_CONNECT_TIMEOUT_SECONDS,
        DYNAMODB_READ_TIMEOUT_SECONDS,
        DYNAMODB_MAX_ATTEMPTS,
        # Every request is built by this module from typed values, and DynamoDB validates it
        # again: botocore's client-side check of each nested attribute value is pure CPU cost.
        parameter_validation=False,
    )


def _key(merchant_order_id: str) -> dict[str, Any]:
    return {"pk": {"S": ORDER_PREFIX + merchant_order_id}}


def _shard_index(merchant_order_id: str, shards: int) -> int:
    digest = hashlib.sha256(merchant_order_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") % shards


def pending_shard(merchant_order_id: str) -> str:
    """The index partition of an order's checks: a stable hash of its id, so orders spread evenly
    and every check of one order lands on the same partition."""
    return f"{SHARD_PREFIX}{_shard_index(merchant_order_id, PENDING_SHARDS)}"


def all_shards() -> list[str]:
    return [f"{SHARD_PREFIX}{index}" for index in range(PENDING_SHARDS)]


def review_shard_index(merchant_order_id: str) -> int:
    """The review index partition of an order, by the same hash as its checks'."""
    return _shard_index(merchant_order_id, REVIEW_SHARDS)


def _review_shard(index: int) -> str:
    return f"{REVIEW_SHARD_PREFIX}{index}"


def _to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items() if value is not None}


def _from_item(item: dict[str, Any]) -> dict[str, Any]:
    values = {name: _deserializer.deserialize(value) for name, value in item.items()}
    return {name: int(value) if isinstance(value, Decimal) else value for name, value in values.items()}


def _values(**values: Any) -> dict[str, Any]:
    return {f":{name}": _serializer.serialize(value) for name, value in values.items()}


def _order(values: Mapping[str, Any]) -> Order | None:
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
        reviews=_reviews(values.get("reviews", ())),
    )


def _reviews(stored: Iterable[Mapping[str, Any]]) -> tuple[Review, ...]:
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


def _review_values(review: Review) -> dict[str, Any]:
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


@dataclass
class _Write:
    """An UpdateItem's clauses, gathered from the parts of one change."""

    sets: list[str] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def update(self) -> str:
        return "SET " + ", ".join(self.sets) + (" REMOVE " + ", ".join(self.removes) if self.removes else "")

    @property
    def condition(self) -> str:
        return " AND ".join(self.conditions)

    def review(self, merchant_order_id: str, change: ReviewChange) -> None:
        """The order's reviews as `change` leaves them, if still as it read them: its place in the
        review index follows its open review (joined, kept or left in the same write)."""
        self.sets.append("reviews = :reviews")
        self.values["reviews"] = [_review_values(review) for review in change.reviews]
        if change.opened is not None:
            self.sets += ["review_reasons = :open_reasons", "review_shard = :review_shard"]
            self.sets.append("review_opened_at = :review_opened")
            self.values.update(
                open_reasons={reason.value for reason in change.open_reasons},
                review_shard=_review_shard(review_shard_index(merchant_order_id)),
                review_opened=change.opened.opened_at,
            )
        else:
            self.removes += ["review_reasons", REVIEW_KEYS]
        if change.seen_reviews:
            self.conditions.append("size(reviews) = :seen_reviews")
            self.values["seen_reviews"] = change.seen_reviews
        else:
            self.conditions.append("attribute_not_exists(reviews)")
        if change.seen_open_reasons:
            self.conditions.append("size(review_reasons) = :seen_open_reasons")
            self.values["seen_open_reasons"] = change.seen_open_reasons
        else:
            self.conditions.append("attribute_not_exists(review_reasons)")


def _queued_review(values: Mapping[str, Any]) -> QueuedReview:
    """An entry of the review index (its projection of the order)."""
    reviews = _reviews(values.get("reviews", ()))
    queued_at = values["review_opened_at"]
    current = reviews[-1] if reviews and reviews[-1].is_open else None
    if current is None:
        # Never so for an order this code queued; an item restored or edited by hand still lists,
        # with its open reasons as of when it was queued.
        reasons = tuple(RaisedReason(ReviewReason(r), queued_at) for r in sorted(values.get("review_reasons", ())))
        current = Review(len(reviews) + 1, queued_at, reasons)
    return QueuedReview(
        merchant_order_id=values["merchant_order_id"],
        order_amount=values["order_amount"],
        currency=values["currency"],
        status=Status(values["status"]),
        review=current,
        position=QueuePosition(queued_at, values["merchant_order_id"]),
    )


def _session(token: str, order: Mapping[str, Any], values: Mapping[str, Any]) -> PaymentSession:
    return PaymentSession(
        session_token=token,
        merchant_order_id=order["merchant_order_id"],
        order_amount=order["order_amount"],
        currency=values["currency"],
        signature_token=values["signature_token"],
        status=Status(values["status"]),
        created_at=values["created_at"],
        updated_at=values["updated_at"],
        payment_token=values.get("payment_token"),
        expires_at=values.get("expires_at", ""),
        payment_url=values.get("payment_url", ""),
    )


def _snapshot(merchant_order_id: str, values: Mapping[str, Any]) -> StoredOrder:
    """What the model decides on; `values` is empty if the item is gone."""
    claim_expires = values.get("claim_expires") if "claim_id" in values else None
    return StoredOrder(
        merchant_order_id=merchant_order_id,
        order=_order(values) if values else None,
        session_count=len(values.get("sessions", {})),
        claim_expires=datetime.fromtimestamp(claim_expires, UTC) if claim_expires is not None else None,
    )


def _reopening_statuses() -> dict[str, str]:
    """The statuses after which an order takes a new session, as expression values :reopen0..."""
    return {f"reopen{index}": status.value for index, status in enumerate(sorted(REOPENING_STATUSES))}


def _is_reopening(values: Mapping[str, str]) -> str:
    return f"#status IN ({', '.join(':' + name for name in values)})"


def order_snapshot(image: Mapping[str, Any] | None) -> OrderSnapshot | None:
    """An order's item as a DynamoDB stream image carries it (DynamoDB JSON), for deriving the
    events of one write; None for no image (the item did not exist, or was deleted)."""
    if not image:
        return None
    values = _from_item(dict(image))
    sessions = {
        token: SessionState(session["status"], session["created_at"], session["updated_at"])
        for token, session in values.get("sessions", {}).items()
    }
    return OrderSnapshot(order=_order(values), sessions=sessions)


class OrderRepository:
    def __init__(self, table_name: str, client: Any = None):
        self._table = table_name
        self._client = client or _dynamodb_client()

    # -- reads -----------------------------------------------------------------------------
    def get_order(self, merchant_order_id: str) -> Order | None:
        values = self._get(merchant_order_id, projection=ORDER_PROJECTION)
        return _order(values) if values else None

    def get_order_and_session(
        self, merchant_order_id: str, session_token: str | None = None
    ) -> tuple[Order, PaymentSession] | None:
        """The order and one of its sessions (its current one if `session_token` is None), as of
        one instant: they are one item. None when there is no such order (only a claim counts as
        none) or the order has no such session."""
        if session_token is None:
            values = self._get(merchant_order_id)
        else:
            values = self._get(
                merchant_order_id,
                projection=ORDER_PROJECTION + ", sessions.#token",
                names={"#token": session_token},
            )
        order = _order(values) if values else None
        if values is None or order is None:
            return None
        token = session_token or order.session_token
        session = values.get("sessions", {}).get(token)
        return (order, _session(token, values, session)) if session else None

    # -- opening a session -------------------------------------------------------------------
    def get_stored_order(self, merchant_order_id: str) -> StoredOrder | None:
        """What POST /sessions decides on: the order, or only a claim on its id, and its claim."""
        values = self._get(merchant_order_id)
        return _snapshot(merchant_order_id, values) if values else None

    def claim_new_order(
        self, merchant_order_id: str, order_amount: int, currency: str, claim_id: str, now: datetime
    ) -> StoredOrder | None:
        """Create the order as a claim: the right to ask ETpay for its first session. None when the
        claim is ours; otherwise the item as it stands (an order, or someone else's live claim)."""
        now_seconds = epoch_seconds(now)
        try:
            self._call(
                "put_item",
                TableName=self._table,
                Item=_to_item(
                    {
                        "pk": ORDER_PREFIX + merchant_order_id,
                        "kind": "order",
                        "merchant_order_id": merchant_order_id,
                        "order_amount": order_amount,
                        "currency": currency,
                        "sessions": {},
                        "claim_id": claim_id,
                        "claim_expires": now_seconds + SESSION_CLAIM_SECONDS,
                        "expires_at": now_seconds + CLAIM_ITEM_TTL_SECONDS,
                    }
                ),
                # A claim left by a crashed invocation expires (it is live while now < claim_expires,
                # as the model decides); a live one is never taken over, and an order that has a
                # session is never overwritten.
                ConditionExpression=(
                    "attribute_not_exists(pk) OR (attribute_not_exists(session_token) AND claim_expires <= :now)"
                ),
                ExpressionAttributeValues=_values(now=now_seconds),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConcurrentUpdate as refused:
            return self._refused_claim(refused, merchant_order_id, claim_id)
        return None

    def claim_next_session(self, order: Order, claim_id: str, now: datetime) -> StoredOrder | None:
        """Claim an order whose last session ended unpaid, to open its next session. None when the
        claim is ours; otherwise what refused it: the item as it stands (it moved on, or someone
        else holds a live claim)."""
        now_seconds = epoch_seconds(now)
        reopening = _reopening_statuses()
        try:
            self._update(
                order.merchant_order_id,
                "SET claim_id = :claim, claim_expires = :expires",
                f"{_is_reopening(reopening)} AND session_token = :seen"
                " AND (attribute_not_exists(claim_id) OR claim_expires <= :now)",
                {
                    "claim": claim_id,
                    "expires": now_seconds + SESSION_CLAIM_SECONDS,
                    "seen": order.session_token,
                    "now": now_seconds,
                    **reopening,
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConcurrentUpdate as refused:
            return self._refused_claim(refused, order.merchant_order_id, claim_id)
        return None

    def _refused_claim(self, refused: ConcurrentUpdate, merchant_order_id: str, claim_id: str) -> StoredOrder | None:
        # DynamoDB returns the item that refused the write; read it if an engine did not (and if
        # it is gone meanwhile, so is the claim that refused us: nothing is stored).
        values = refused.item or self._get(merchant_order_id) or {}
        # An SDK retry of our own successful claim is refused too: the claim is still ours.
        if values.get("claim_id") == claim_id:
            return None
        return _snapshot(merchant_order_id, values)

    def release_claim(self, merchant_order_id: str, claim_id: str, new_order: bool) -> None:
        """Give the claim back after a failure: a new order's claim item goes away entirely."""
        try:
            if new_order:
                self._call(
                    "delete_item",
                    TableName=self._table,
                    Key=_key(merchant_order_id),
                    ConditionExpression="claim_id = :claim AND attribute_not_exists(session_token)",
                    ExpressionAttributeValues=_values(claim=claim_id),
                )
            else:
                self._update(
                    merchant_order_id, "REMOVE claim_id, claim_expires", "claim_id = :claim", {"claim": claim_id}
                )
        except ConcurrentUpdate:
            pass  # already gone (expired and taken over): nothing of ours to release
        except StorageUnavailable:
            # The claim expires by itself; the caller's own error is the one worth reporting.
            logger.warning("could not release session claim", extra={"merchant_order_id": merchant_order_id})

    def open_session(
        self, order: Order, session: PaymentSession, claim_id: str, replaces: str | None, first_check: datetime
    ) -> None:
        """Store a new session and point the order at it, releasing our claim, in one write. The
        session joins the check index, its first status check due at `first_check`.

        `replaces` is the session that ended unpaid being replaced, or None for a brand-new order.
        """
        condition = "claim_id = :claim AND attribute_not_exists(sessions.#token)"
        values = {
            "claim": claim_id,
            "pending": Status.PENDING.value,
            "token": session.session_token,
            "url": order.payment_url,
            "created": order.created_at,
            "now": order.updated_at,
            "expires": session.expires_at,
            "session": self._session_values(session),
            "shard": pending_shard(order.merchant_order_id),
            "first_check": iso_utc(first_check),
            "zero": 0,
        }
        if replaces is None:
            condition += " AND attribute_not_exists(session_token)"
        else:
            reopening = _reopening_statuses()
            condition += f" AND {_is_reopening(reopening)} AND session_token = :replaces"
            values.update(replaces=replaces, **reopening)
        self._update(
            order.merchant_order_id,
            "SET #status = :pending, session_token = :token, payment_url = :url, created_at = :created,"
            " updated_at = :now, session_expires_at = :expires, sessions.#token = :session,"
            " pending_shard = :shard, next_check_at = :first_check, check_session = :token,"
            " check_opened_at = :now, check_expires_at = :expires, check_count = :zero"
            " REMOVE claim_id, claim_expires, expires_at, pending_check, pending_since",
            condition,
            values,
            session_token=session.session_token,
        )

    # -- payment outcomes ----------------------------------------------------------------------
    def mark_paid(self, order: Order, session: PaymentSession, payment_token: str | None, now: datetime) -> None:
        """The session is paid, and the order with it: the order's current session becomes this one
        (a late payment of an expired session may come after a newer session was opened)."""
        self._settle(order, session, Status.PAID, payment_token, now, settle_order=True)

    def mark_failed(
        self,
        order: Order,
        session: PaymentSession,
        payment_token: str | None,
        now: datetime,
        fail_order: bool,
    ) -> None:
        self._settle(order, session, Status.FAILED, payment_token, now, settle_order=fail_order)

    def record_double_payment(
        self,
        order: Order,
        session: PaymentSession,
        payment_token: str | None,
        reasons: Iterable[ReviewReason],
        now: datetime,
    ) -> None:
        """The session is paid while the order already was through another one: the session's own
        outcome is recorded, the order keeps its payment and is flagged."""
        self._settle(order, session, Status.PAID, payment_token, now, settle_order=False, flag=reasons)

    def expire(self, order: Order, session: PaymentSession, now: datetime, expire_order: bool) -> None:
        """The session's lifetime is over and ETpay has no result: it ends EXPIRED, and so does the
        order when it was the order's live session."""
        self._settle(order, session, Status.EXPIRED, None, now, settle_order=expire_order)

    def flag_for_review(
        self, order: Order, session: PaymentSession, reasons: Iterable[ReviewReason], now: datetime
    ) -> None:
        """Flag the order (its open review gets the reasons, or a new review opens), but only if
        order, session and reviews are still as the decision saw them: a flag decided on a state
        that has since moved (a duplicate paid notification that read the session just before the
        first one settled it) must be decided again."""
        write = _Write(
            sets=["updated_at = :now"],
            conditions=["#status = :seen", "session_token = :current", "sessions.#token.#status = :seen_session"],
            values={
                "now": iso_utc(now),
                "seen": order.status.value,
                "current": order.session_token,
                "seen_session": session.status.value,
            },
        )
        write.review(order.merchant_order_id, raise_review(order, frozenset(reasons), iso_utc(now)))
        self._update(
            order.merchant_order_id, write.update, write.condition, write.values, session_token=session.session_token
        )

    def resolve_review(self, order: Order, change: ReviewChange, now: datetime) -> None:
        """Record the resolution of the order's open review: the order leaves the review queue. Only
        review attributes are written, so its money state cannot change here; conditional on the
        reviews as read, so of two resolutions at once exactly one is recorded."""
        write = _Write(sets=["updated_at = :now"], conditions=["attribute_exists(pk)"], values={"now": iso_utc(now)})
        write.review(order.merchant_order_id, change)
        self._update(order.merchant_order_id, write.update, write.condition, write.values)

    def open_reviews(self, shard: int, after: QueuePosition | None, limit: int) -> tuple[list[QueuedReview], bool]:
        """The shard's open reviews after `after` (None: from its oldest), oldest first, at most
        `limit`; and whether DynamoDB stopped before the shard's end."""
        name = _review_shard(shard)
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": REVIEW_INDEX,
            "KeyConditionExpression": "review_shard = :shard",
            "ExpressionAttributeValues": _values(shard=name),
            "Limit": limit,
        }
        if after is not None:
            request["ExclusiveStartKey"] = {
                "review_shard": {"S": name},
                "review_opened_at": {"S": after.queued_at},
                **_key(after.merchant_order_id),
            }
        response = self._call("query", **request)
        entries = [_queued_review(_from_item(item)) for item in response.get("Items", [])]
        return entries, "LastEvaluatedKey" in response

    def count_reviews_opened_before(self, shard: int, before: datetime) -> int:
        """How many of the shard's open reviews were opened at or before `before`."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": REVIEW_INDEX,
            "KeyConditionExpression": "review_shard = :shard AND review_opened_at <= :before",
            "ExpressionAttributeValues": _values(shard=_review_shard(shard), before=iso_utc(before)),
            "Select": "COUNT",
        }
        count = 0
        while True:
            response = self._call("query", **request)
            count += response.get("Count", 0)
            if "LastEvaluatedKey" not in response:
                return count
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def record_unknown_status(self, session: PaymentSession, reported_status: str, now: datetime) -> None:
        """Keep an unexplained payment_status for a status-API check; the session stays PENDING."""
        self._update(
            session.merchant_order_id,
            "SET sessions.#token.needs_status_check = :yes, sessions.#token.last_reported_status = :reported,"
            " sessions.#token.updated_at = :now",
            "sessions.#token.#status = :pending",
            {"yes": True, "reported": reported_status, "now": iso_utc(now), "pending": Status.PENDING.value},
            session_token=session.session_token,
        )

    # -- status checks ---------------------------------------------------------------------------
    def due_checks(
        self, shard: str, now: datetime, limit: int, start: dict[str, Any] | None = None
    ) -> tuple[list[DueCheck], dict[str, Any] | None]:
        """One page of the shard's checks due by `now`, earliest first, and where the next page
        starts (None: no more)."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": CHECK_INDEX,
            "KeyConditionExpression": "pending_shard = :shard AND next_check_at <= :now",
            "ExpressionAttributeValues": _values(shard=shard, now=iso_utc(now)),
            "Limit": limit,
        }
        if start:
            request["ExclusiveStartKey"] = start
        response = self._call("query", **request)
        checks = []
        for item in response.get("Items", []):
            values = _from_item(item)
            checks.append(
                DueCheck(
                    merchant_order_id=values["pk"].removeprefix(ORDER_PREFIX),
                    session_token=values["check_session"],
                    next_check_at=values["next_check_at"],
                    opened_at=parse_iso(values["check_opened_at"]),
                    expires_at=parse_iso(values["check_expires_at"]),
                    checks_done=values.get("check_count", 0),
                )
            )
        return checks, response.get("LastEvaluatedKey")

    def lease_check(self, due: DueCheck, following: datetime) -> bool:
        """Hand the due check out: its next one is set to `following` and counted, if nobody else
        has meanwhile (another sweep, the session ending). True when the lease is ours."""
        try:
            self._update(
                due.merchant_order_id,
                "SET next_check_at = :following, check_count = :count",
                "check_session = :token AND next_check_at = :seen",
                {
                    "following": iso_utc(following),
                    "count": due.checks_done + 1,
                    "token": due.session_token,
                    "seen": due.next_check_at,
                },
            )
        except ConcurrentUpdate:
            return False
        return True

    def reschedule_check(self, merchant_order_id: str, session_token: str, at: datetime) -> None:
        """Move the session's next check to `at` (ETpay asked us to slow down)."""
        try:
            self._update(
                merchant_order_id,
                "SET next_check_at = :at",
                "check_session = :token",
                {"at": iso_utc(at), "token": session_token},
            )
        except ConcurrentUpdate:
            pass  # the session ended meanwhile: nothing left to check

    def clear_check(self, merchant_order_id: str, session_token: str) -> None:
        """Take a session that has already ended out of the check index."""
        try:
            self._update(
                merchant_order_id, f"REMOVE {CHECK_ATTRIBUTES}", "check_session = :token", {"token": session_token}
            )
        except ConcurrentUpdate:
            pass  # already out

    def legacy_pending(self, limit: int) -> list[str]:
        """Ids of orders still queued in LEGACY_INDEX (stored before sessions expired)."""
        response = self._call(
            "query",
            TableName=self._table,
            IndexName=LEGACY_INDEX,
            KeyConditionExpression="pending_check = :pending",
            ExpressionAttributeValues=_values(pending=LEGACY_PARTITION),
            Limit=limit,
        )
        return [item["pk"]["S"].removeprefix(ORDER_PREFIX) for item in response.get("Items", [])]

    def adopt_legacy(self, order: Order, session: PaymentSession, expires_at: datetime, first_check: datetime) -> None:
        """Move an order of LEGACY_INDEX to the check index: its session gets the lifetime it would
        have had, counted from when it opened."""
        expires = iso_utc(expires_at)
        try:
            self._update(
                order.merchant_order_id,
                "SET sessions.#token.expires_at = :expires, sessions.#token.payment_url = :url,"
                " session_expires_at = :expires, pending_shard = :shard, next_check_at = :first_check,"
                " check_session = :token, check_opened_at = :opened, check_expires_at = :expires,"
                " check_count = :zero REMOVE pending_check, pending_since",
                "#status = :pending AND session_token = :token AND sessions.#token.#status = :pending",
                {
                    "expires": expires,
                    "url": order.payment_url,
                    "shard": pending_shard(order.merchant_order_id),
                    "first_check": iso_utc(first_check),
                    "token": session.session_token,
                    "opened": session.created_at,
                    "zero": 0,
                    "pending": Status.PENDING.value,
                },
                session_token=session.session_token,
            )
        except ConcurrentUpdate:
            pass  # settled meanwhile: it leaves the old index by itself

    def forget_legacy(self, merchant_order_id: str) -> None:
        """Take an order whose session has ended out of LEGACY_INDEX."""
        self._update(merchant_order_id, "REMOVE pending_check, pending_since", "attribute_exists(pk)", {})

    def etpay_backoff_until(self) -> datetime | None:
        item = self._call("get_item", TableName=self._table, Key={"pk": {"S": BACKOFF_KEY}}, ConsistentRead=True).get(
            "Item"
        )
        return parse_iso(_from_item(item)["until"]) if item else None

    def extend_etpay_backoff(self, until: datetime) -> None:
        """ETpay asked us to wait until `until`: every worker and the sweep hold back until then.
        Only ever extended, so the longest wait any answer asked for wins."""
        try:
            self._call(
                "update_item",
                TableName=self._table,
                Key={"pk": {"S": BACKOFF_KEY}},
                UpdateExpression="SET #until = :until",
                ConditionExpression="attribute_not_exists(#until) OR #until < :until",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues=_values(until=iso_utc(until)),
            )
        except ConcurrentUpdate:
            pass  # a longer wait is already in place

    # -- item shapes -------------------------------------------------------------------------
    @staticmethod
    def _session_values(session: PaymentSession) -> dict[str, Any]:
        """A new session as stored: no payment yet (its outcome adds the payment_token)."""
        return {
            "currency": session.currency,
            "signature_token": session.signature_token,
            "status": session.status.value,
            "created_at": session.created_at,
            "updated_at": session.updated_at,
            "expires_at": session.expires_at,
            "payment_url": session.payment_url,
        }

    def _settle(
        self,
        order: Order,
        session: PaymentSession,
        status: Status,
        payment_token: str | None,
        now: datetime,
        settle_order: bool,
        flag: Iterable[ReviewReason] = (),
    ) -> None:
        """A session's end, and the order's with it when `settle_order`, written only if order and
        session are still as the decision saw them (a final outcome never changes twice)."""
        assignments = [
            "sessions.#token.#status = :final",
            "sessions.#token.updated_at = :now",
            "sessions.#token.needs_status_check = :no",
        ]
        values: dict[str, Any] = {
            "final": status.value,
            "now": iso_utc(now),
            "seen_session": session.status.value,
            "seen": order.status.value,
            "current": order.session_token,
            "token": session.session_token,
            "no": False,
        }
        if payment_token is not None:
            assignments.append("sessions.#token.payment_token = :payment")
            values["payment"] = payment_token
        condition = "sessions.#token.#status = :seen_session AND #status = :seen AND session_token = :current"
        flag = frozenset(flag)
        if settle_order or flag:
            # The order itself changes: its state, or the review it is flagged for.
            assignments.append("updated_at = :now")
        if settle_order:
            assignments.append("#status = :final")
            if status is Status.PAID:
                # The session that brought the money becomes the order's own.
                assignments += ["session_token = :token", "payment_url = :url", "session_expires_at = :expires"]
                values.update(url=session.payment_url or order.payment_url, expires=session.expires_at)
                if payment_token is not None:
                    assignments.append("payment_token = :payment")
        write = _Write(sets=assignments, conditions=[condition], values=values)
        if flag:
            write.review(order.merchant_order_id, raise_review(order, flag, iso_utc(now)))
        if order.check_session == session.session_token:
            # Its checks are over: it leaves the check index in the same write.
            write.removes.append(CHECK_ATTRIBUTES)
            write.conditions.append("check_session = :token")
        else:
            write.conditions.append("(attribute_not_exists(check_session) OR check_session <> :token)")
        self._update(
            order.merchant_order_id, write.update, write.condition, write.values, session_token=session.session_token
        )

    # -- SDK calls and their errors ------------------------------------------------------------
    def _update(
        self,
        merchant_order_id: str,
        update: str,
        condition: str,
        values: Mapping[str, Any],
        session_token: str | None = None,
        **options: Any,
    ) -> None:
        """One conditional UpdateItem of an order's item. The expressions may name the order's
        `#status` and, as `#token`, the entry of `session_token` in its `sessions` map."""
        expressions = f"{update} {condition}"
        # DynamoDB refuses a name placeholder the expressions do not use.
        names = {
            placeholder: name
            for placeholder, name in (("#status", "status"), ("#token", session_token))
            if placeholder in expressions
        }
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": _key(merchant_order_id),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            **options,
        }
        if values:
            request["ExpressionAttributeValues"] = _values(**values)
        if names:
            request["ExpressionAttributeNames"] = names
        self._call("update_item", **request)

    def _get(
        self, merchant_order_id: str, projection: str | None = None, names: Mapping[str, str] | None = None
    ) -> dict[str, Any] | None:
        request: dict[str, Any] = {"TableName": self._table, "Key": _key(merchant_order_id), "ConsistentRead": True}
        if projection:
            request["ProjectionExpression"] = projection
            request["ExpressionAttributeNames"] = {**NAMES, **(names or {})}
        item = self._call("get_item", **request).get("Item")
        return _from_item(item) if item else None

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One SDK call; a lost race becomes ConcurrentUpdate, any other failure StorageUnavailable."""
        try:
            return getattr(self._client, operation)(**kwargs)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in CONDITION_FAILED_CODES:
                # The item as the refused write found it, when asked for (ALL_OLD) and returned.
                old = error.response.get("Item")
                raise ConcurrentUpdate(_from_item(old) if isinstance(old, dict) else {}) from error
            raise self._unavailable(error) from error
        except BotoCoreError as error:
            raise self._unavailable(error) from error

    @staticmethod
    def _unavailable(error: Exception) -> StorageUnavailable:
        code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
        logger.error("DynamoDB call failed", extra={"error_type": type(error).__name__, "error_code": code})
        return StorageUnavailable("storage is temporarily unavailable; retry the request")

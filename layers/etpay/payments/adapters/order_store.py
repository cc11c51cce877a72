"""The order store (payments.app.ports.OrderStore) on DynamoDB: orders and their sessions, each
order one item (laid out as payments.adapters.order_codec says). Every change is one conditional
UpdateItem of that item, written only if it is still as the decision read it: ConcurrentUpdate
otherwise, and the use case decides again.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from payments.adapters.dynamodb import Table, expression_values, to_item
from payments.adapters.order_codec import (
    CHECK_ATTRIBUTES,
    NAMES,
    ORDER_PREFIX,
    ORDER_PROJECTION,
    REVIEW_KEYS,
    order_from_values,
    order_key,
    order_review_shard,
    pending_shard,
    review_values,
    session_from_values,
    session_values,
    stored_order,
)
from payments.domain.clock import epoch_seconds, iso_utc
from payments.domain.errors import ConcurrentUpdate, StorageUnavailable
from payments.domain.orders import REOPENING_STATUSES, Order, PaymentSession, Status, StoredOrder
from payments.domain.policy import SESSION_CLAIM_SECONDS
from payments.domain.reviews import ReviewChange

logger = Logger(child=True)

# A new order's claim item, left by an invocation that crashed and was never retried, is removed by
# DynamoDB's TTL after this long (TTL deletes lazily; a retry within it simply takes the claim over).
CLAIM_ITEM_TTL_SECONDS = 24 * 3600


class OrderTable(Table):
    """The orders table: one order's item read, or changed by one conditional UpdateItem."""

    def read(
        self, merchant_order_id: str, projection: str | None = None, names: Mapping[str, str] | None = None
    ) -> dict[str, Any] | None:
        return self.get(order_key(merchant_order_id), projection, {**NAMES, **(names or {})} if projection else None)

    def change(
        self,
        merchant_order_id: str,
        update: str,
        condition: str,
        values: Mapping[str, Any],
        session_token: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """The expressions may name the order's `#status` and, as `#token`, the entry of
        `session_token` in its `sessions` map."""
        expressions = f"{update} {condition}"
        # DynamoDB refuses a name placeholder the expressions do not use.
        names = {
            placeholder: name
            for placeholder, name in (("#status", "status"), ("#token", session_token))
            if placeholder in expressions and name is not None
        }
        request: dict[str, Any] = {
            "TableName": self.name,
            "Key": order_key(merchant_order_id),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            **options,
        }
        if values:
            request["ExpressionAttributeValues"] = expression_values(values)
        if names:
            request["ExpressionAttributeNames"] = names
        return self.call("update_item", **request)


@dataclass
class OrderWrite:
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
        self.values["reviews"] = [review_values(review) for review in change.reviews]
        if change.opened is not None:
            self.sets += ["review_reasons = :open_reasons", "review_shard = :review_shard"]
            self.sets.append("review_opened_at = :review_opened")
            self.values.update(
                open_reasons={reason.value for reason in change.open_reasons},
                review_shard=order_review_shard(merchant_order_id),
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


def _reopening_statuses() -> dict[str, str]:
    """The statuses after which an order takes a new session, as expression values :reopen0..."""
    return {f"reopen{index}": status.value for index, status in enumerate(sorted(REOPENING_STATUSES))}


def _is_reopening(values: Mapping[str, str]) -> str:
    return f"#status IN ({', '.join(':' + name for name in values)})"


class OrderStore:
    def __init__(self, table_name: str, client: Any = None):
        self._table = OrderTable(table_name, client)

    # -- reads -----------------------------------------------------------------------------
    def get_order(self, merchant_order_id: str) -> Order | None:
        values = self._table.read(merchant_order_id, projection=ORDER_PROJECTION)
        return order_from_values(values) if values else None

    def get_order_and_session(
        self, merchant_order_id: str, session_token: str | None = None
    ) -> tuple[Order, PaymentSession] | None:
        """The order and one of its sessions (its current one if `session_token` is None), as of
        one instant: they are one item. None when there is no such order (only a claim counts as
        none) or the order has no such session."""
        if session_token is None:
            values = self._table.read(merchant_order_id)
        else:
            values = self._table.read(
                merchant_order_id, projection=ORDER_PROJECTION + ", sessions.#token", names={"#token": session_token}
            )
        order = order_from_values(values) if values else None
        if values is None or order is None:
            return None
        token = session_token or order.session_token
        session = values.get("sessions", {}).get(token)
        return (order, session_from_values(token, values, session)) if session else None

    def get_stored_order(self, merchant_order_id: str) -> StoredOrder | None:
        """What POST /sessions decides on: the order, or only a claim on its id, and its claim."""
        values = self._table.read(merchant_order_id)
        return stored_order(merchant_order_id, values) if values else None

    # -- claims: the right to ask ETpay for an order's next session ------------------------------
    def claim_new_order(
        self, merchant_order_id: str, order_amount: int, currency: str, claim_id: str, now: datetime
    ) -> StoredOrder | None:
        """Create the order as a claim: the right to ask ETpay for its first session. None when the
        claim is ours; otherwise the item as it stands (an order, or someone else's live claim)."""
        now_seconds = epoch_seconds(now)
        item = {
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
        try:
            self._table.call(
                "put_item",
                TableName=self._table.name,
                Item=to_item(item),
                # A claim left by a crashed invocation expires (it is live while now < claim_expires,
                # as the domain decides); a live one is never taken over, and an order that has a
                # session is never overwritten.
                ConditionExpression=(
                    "attribute_not_exists(pk) OR (attribute_not_exists(session_token) AND claim_expires <= :now)"
                ),
                ExpressionAttributeValues=expression_values({"now": now_seconds}),
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
            self._table.change(
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
        values = refused.item or self._table.read(merchant_order_id) or {}
        # An SDK retry of our own successful claim is refused too: the claim is still ours.
        if values.get("claim_id") == claim_id:
            return None
        return stored_order(merchant_order_id, values)

    def release_claim(self, merchant_order_id: str, claim_id: str, new_order: bool) -> None:
        """Give the claim back after a failure: a new order's claim item goes away entirely."""
        try:
            if new_order:
                self._table.call(
                    "delete_item",
                    TableName=self._table.name,
                    Key=order_key(merchant_order_id),
                    ConditionExpression="claim_id = :claim AND attribute_not_exists(session_token)",
                    ExpressionAttributeValues=expression_values({"claim": claim_id}),
                )
            else:
                self._table.change(
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
            "session": session_values(session),
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
        self._table.change(
            order.merchant_order_id,
            "SET #status = :pending, session_token = :token, payment_url = :url, created_at = :created,"
            " updated_at = :now, session_expires_at = :expires, sessions.#token = :session,"
            " pending_shard = :shard, next_check_at = :first_check, check_session = :token,"
            " check_opened_at = :now, check_expires_at = :expires, check_count = :zero"
            " REMOVE claim_id, claim_expires, expires_at",
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
        self, order: Order, session: PaymentSession, payment_token: str | None, now: datetime, fail_order: bool
    ) -> None:
        self._settle(order, session, Status.FAILED, payment_token, now, settle_order=fail_order)

    def record_double_payment(
        self,
        order: Order,
        session: PaymentSession,
        payment_token: str | None,
        review: ReviewChange | None,
        now: datetime,
    ) -> None:
        """The session is paid while the order already was through another one: the session's own
        outcome is recorded, the order keeps its payment and is flagged (`review`, unless it
        already is for that reason)."""
        self._settle(order, session, Status.PAID, payment_token, now, settle_order=False, review=review)

    def expire(self, order: Order, session: PaymentSession, now: datetime, expire_order: bool) -> None:
        """The session's lifetime is over and ETpay has no result: it ends EXPIRED, and so does the
        order when it was the order's live session."""
        self._settle(order, session, Status.EXPIRED, None, now, settle_order=expire_order)

    def flag_for_review(self, order: Order, session: PaymentSession, review: ReviewChange, now: datetime) -> None:
        """Flag the order as `review` says, but only if order, session and reviews are still as the
        decision saw them: a flag decided on a state that has since moved (a duplicate paid
        notification that read the session just before the first one settled it) is decided again."""
        write = OrderWrite(
            sets=["updated_at = :now"],
            conditions=["#status = :seen", "session_token = :current", "sessions.#token.#status = :seen_session"],
            values={
                "now": iso_utc(now),
                "seen": order.status.value,
                "current": order.session_token,
                "seen_session": session.status.value,
            },
        )
        write.review(order.merchant_order_id, review)
        self._table.change(
            order.merchant_order_id, write.update, write.condition, write.values, session_token=session.session_token
        )

    def resolve_review(self, order: Order, review: ReviewChange, now: datetime) -> None:
        """Record the resolution of the order's open review: the order leaves the review queue. Only
        review attributes are written, so its money state cannot change here; conditional on the
        reviews as read, so of two resolutions at once exactly one is recorded."""
        write = OrderWrite(
            sets=["updated_at = :now"], conditions=["attribute_exists(pk)"], values={"now": iso_utc(now)}
        )
        write.review(order.merchant_order_id, review)
        self._table.change(order.merchant_order_id, write.update, write.condition, write.values)

    def record_unknown_status(self, session: PaymentSession, reported_status: str, now: datetime) -> None:
        """Keep an unexplained payment_status for a status-API check; the session stays PENDING."""
        self._table.change(
            session.merchant_order_id,
            "SET sessions.#token.needs_status_check = :yes, sessions.#token.last_reported_status = :reported,"
            " sessions.#token.updated_at = :now",
            "sessions.#token.#status = :pending",
            {"yes": True, "reported": reported_status, "now": iso_utc(now), "pending": Status.PENDING.value},
            session_token=session.session_token,
        )

    def _settle(
        self,
        order: Order,
        session: PaymentSession,
        status: Status,
        payment_token: str | None,
        now: datetime,
        settle_order: bool,
        review: ReviewChange | None = None,
    ) -> None:
        """A session's end, and the order's with it when `settle_order`, written only if order and
        session are still as the decision saw them (a final outcome never changes twice)."""
        write = OrderWrite(
            sets=[
                "sessions.#token.#status = :final",
                "sessions.#token.updated_at = :now",
                "sessions.#token.needs_status_check = :no",
            ],
            conditions=["sessions.#token.#status = :seen_session AND #status = :seen AND session_token = :current"],
            values={
                "final": status.value,
                "now": iso_utc(now),
                "seen_session": session.status.value,
                "seen": order.status.value,
                "current": order.session_token,
                "token": session.session_token,
                "no": False,
            },
        )
        if payment_token is not None:
            write.sets.append("sessions.#token.payment_token = :payment")
            write.values["payment"] = payment_token
        if settle_order or review is not None:
            # The order itself changes: its state, or the review it is flagged for.
            write.sets.append("updated_at = :now")
        if settle_order:
            write.sets.append("#status = :final")
            if status is Status.PAID:
                # The session that brought the money becomes the order's own.
                write.sets += ["session_token = :token", "payment_url = :url", "session_expires_at = :expires"]
                write.values.update(url=session.payment_url or order.payment_url, expires=session.expires_at)
                if payment_token is not None:
                    write.sets.append("payment_token = :payment")
        if review is not None:
            write.review(order.merchant_order_id, review)
        if order.check_session == session.session_token:
            # Its checks are over: it leaves the check index in the same write.
            write.removes.append(CHECK_ATTRIBUTES)
            write.conditions.append("check_session = :token")
        else:
            write.conditions.append("(attribute_not_exists(check_session) OR check_session <> :token)")
        self._table.change(
            order.merchant_order_id, write.update, write.condition, write.values, session_token=session.session_token
        )

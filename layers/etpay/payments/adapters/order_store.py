"""The order store (payments.app.ports.OrderStore) on DynamoDB: orders and their sessions read, and
their outcomes and reviews written. Each order is one item (laid out as payments.adapters.order_codec
says); every change is one conditional UpdateItem of that item, written only if it is still as the
decision read it: ConcurrentUpdate otherwise, and the use case decides again. Opening a session is
payments.adapters.session_claims'.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from payments.adapters.dynamodb import Table, expression_values
from payments.adapters.order_codec import (
    CHECK_ATTRIBUTES,
    NAMES,
    ORDER_PROJECTION,
    REVIEW_KEYS,
    order_from_values,
    order_key,
    order_review_shard,
    review_values,
    session_from_values,
)
from payments.domain.clock import iso_utc
from payments.domain.orders import Order, PaymentSession, Status
from payments.domain.reviews import ReviewChange


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


class OrderStore:
    def __init__(self, table_name: str, client: Any = None):
        self._table = OrderTable(table_name, client)

    # -- reads -----------------------------------------------------------------------------
    def get_order(self, merchant_order_id: str) -> Order | None:
        values = self._table.read(merchant_order_id, projection=ORDER_PROJECTION)
        return order_from_values(values) if values else None

    def get_order_and_session(
        self, merchant_order_id: str, session_token: str | None = None, *, signature: bool = False
    ) -> tuple[Order, PaymentSession] | None:
        """The order and one of its sessions (its current one if `session_token` is None), as of
        one instant: they are one item. None when there is no such order (only a claim counts as
        none) or the order has no such session. The session's signature_token is read only with
        `signature` (to verify a notification): the roles that never verify one may not read it."""
        if session_token is None:
            projection = ORDER_PROJECTION + ", sessions" + (", signature_tokens" if signature else "")
            values = self._table.read(merchant_order_id, projection=projection)
        else:
            values = self._table.read(
                merchant_order_id,
                projection=ORDER_PROJECTION + ", sessions.#token" + (", signature_tokens.#token" if signature else ""),
                names={"#token": session_token},
            )
        order = order_from_values(values) if values else None
        if values is None or order is None:
            return None
        token = session_token or order.session_token
        session = values.get("sessions", {}).get(token)
        return (order, session_from_values(token, values, session)) if session else None

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

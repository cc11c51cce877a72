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
An order whose current session is PENDING carries `pending_check` / `pending_since`, the keys of
the sparse index PENDING_INDEX, so reconciliation reads exactly the orders it may need to ask
ETpay about.
"""

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from payments.errors import ConcurrentUpdate, StorageUnavailable
from payments.events import OrderSnapshot, SessionState
from payments.model import Order, PaymentSession, ReviewReason, Status
from payments.settings import (
    CLAIM_ITEM_TTL_SECONDS,
    DYNAMODB_CONNECT_TIMEOUT_SECONDS,
    DYNAMODB_MAX_ATTEMPTS,
    DYNAMODB_READ_TIMEOUT_SECONDS,
    SESSION_CLAIM_SECONDS,
)

logger = Logger(child=True)

ORDER_PREFIX = "ORDER#"
PENDING_INDEX = "PendingSessions"
PENDING_PARTITION = "PENDING"
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
)
ORDER_PROJECTION = ", ".join(ORDER_ATTRIBUTES)
NAMES = {"#status": "status"}

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _client_config() -> Config:
    return Config(
        connect_timeout=DYNAMODB_CONNECT_TIMEOUT_SECONDS,
        read_timeout=DYNAMODB_READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "max_attempts": DYNAMODB_MAX_ATTEMPTS},
        # Every request is built by this module from typed values, and DynamoDB validates it
        # again: botocore's client-side check of each nested attribute value is pure CPU cost.
        parameter_validation=False,
    )


def _key(merchant_order_id: str) -> dict[str, Any]:
    return {"pk": {"S": ORDER_PREFIX + merchant_order_id}}


def _to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items() if value is not None}


def _from_item(item: dict[str, Any]) -> dict[str, Any]:
    values = {name: _deserializer.deserialize(value) for name, value in item.items()}
    return {name: int(value) if isinstance(value, Decimal) else value for name, value in values.items()}


def _values(**values: Any) -> dict[str, Any]:
    return {f":{name}": _serializer.serialize(value) for name, value in values.items()}


@dataclass(frozen=True)
class StoredOrder:
    """An order item as read (or as a refused write found it)."""

    # None: only a claim so far, no session has been stored; not an order for any reader.
    order: Order | None
    # How many ETpay sessions the order has had (its item holds them all).
    session_count: int = 0
    # Another invocation is asking ETpay for this order's next session right now.
    claimed: bool = False


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
    )


def _stored(values: Mapping[str, Any], now: int) -> StoredOrder:
    return StoredOrder(
        order=_order(values),
        session_count=len(values.get("sessions", {})),
        claimed="claim_id" in values and values.get("claim_expires", 0) >= now,
    )


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
        self._client = client or boto3.client("dynamodb", config=_client_config())

    # -- reads -----------------------------------------------------------------------------
    def get_order(self, merchant_order_id: str) -> Order | None:
        values = self._get(merchant_order_id, projection=ORDER_PROJECTION)
        return _order(values) if values else None

    def get_order_and_session(
        self, merchant_order_id: str, session_token: str | None = None
    ) -> tuple[Order | None, PaymentSession | None]:
        """The order and one of its sessions (its current one if `session_token` is None), as of
        one instant: they are one item."""
        if session_token is None:
            values = self._get(merchant_order_id)
        else:
            values = self._get(
                merchant_order_id,
                projection=ORDER_PROJECTION + ", sessions.#token",
                names={"#token": session_token},
            )
        order = _order(values) if values else None
        if order is None:
            return None, None
        token = session_token or order.session_token
        session = values.get("sessions", {}).get(token)
        return order, _session(token, values, session) if session else None

    # -- opening a session -------------------------------------------------------------------
    def claim_new_order(
        self, merchant_order_id: str, order_amount: int, currency: str, claim_id: str
    ) -> StoredOrder | None:
        """Create the order as a claim: the right to ask ETpay for its first session. None when the
        claim is ours; otherwise the item as it stands (an order, or someone else's live claim)."""
        now = int(time.time())
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
                        "claim_expires": now + SESSION_CLAIM_SECONDS,
                        "expires_at": now + CLAIM_ITEM_TTL_SECONDS,
                    }
                ),
                # A claim left by a crashed invocation expires; a live one is never taken over,
                # and an order that has a session is never overwritten.
                ConditionExpression=(
                    "attribute_not_exists(pk) OR (attribute_not_exists(session_token) AND claim_expires < :now)"
                ),
                ExpressionAttributeValues=_values(now=now),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConcurrentUpdate as refused:
            return self._refused_claim(refused, merchant_order_id, claim_id, now)
        return None

    def claim_failed_order(self, order: Order, claim_id: str) -> StoredOrder | None:
        """Claim a FAILED order to open its next session. None when the claim is ours; otherwise
        the item as it stands (it moved on, or someone else holds a live claim)."""
        now = int(time.time())
        try:
            self._update(
                order.merchant_order_id,
                "SET claim_id = :claim, claim_expires = :expires",
                "#status = :failed AND session_token = :seen"
                " AND (attribute_not_exists(claim_id) OR claim_expires < :now)",
                {
                    "claim": claim_id,
                    "expires": now + SESSION_CLAIM_SECONDS,
                    "failed": Status.FAILED.value,
                    "seen": order.session_token,
                    "now": now,
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConcurrentUpdate as refused:
            return self._refused_claim(refused, order.merchant_order_id, claim_id, now)
        return None

    def _refused_claim(
        self, refused: ConcurrentUpdate, merchant_order_id: str, claim_id: str, now: int
    ) -> StoredOrder | None:
        # DynamoDB returns the item that refused the write; read it if an engine did not.
        values = refused.item or self._get(merchant_order_id) or {}
        # An SDK retry of our own successful claim is refused too: the claim is still ours.
        if values.get("claim_id") == claim_id:
            return None
        return _stored(values, now)

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

    def open_session(self, order: Order, session: PaymentSession, claim_id: str, replaces: str | None) -> None:
        """Store a new session and point the order at it, releasing our claim, in one write.

        `replaces` is the FAILED session being replaced, or None for a brand-new order.
        """
        condition = "claim_id = :claim AND attribute_not_exists(sessions.#token)"
        values = {
            "claim": claim_id,
            "pending": Status.PENDING.value,
            "token": session.session_token,
            "url": order.payment_url,
            "created": order.created_at,
            "now": order.updated_at,
            "session": self._session_values(session),
            "partition": PENDING_PARTITION,
        }
        if replaces is None:
            condition += " AND attribute_not_exists(session_token)"
        else:
            condition += " AND #status = :failed AND session_token = :replaces"
            values.update(failed=Status.FAILED.value, replaces=replaces)
        self._update(
            order.merchant_order_id,
            "SET #status = :pending, session_token = :token, payment_url = :url, created_at = :created,"
            " updated_at = :now, sessions.#token = :session, pending_check = :partition, pending_since = :now"
            " REMOVE claim_id, claim_expires, expires_at",
            condition,
            values,
            session_token=session.session_token,
        )

    # -- notification outcomes ---------------------------------------------------------------
    def mark_paid(self, order: Order, session: PaymentSession, payment_token: str | None, now: str) -> None:
        self._settle(order, session, Status.PAID, payment_token, now, settle_order=True)

    def mark_failed(
        self,
        order: Order,
        session: PaymentSession,
        payment_token: str | None,
        now: str,
        fail_order: bool,
    ) -> None:
        self._settle(order, session, Status.FAILED, payment_token, now, settle_order=fail_order)

    def flag_for_review(self, order: Order, session: PaymentSession, reasons: Iterable[ReviewReason], now: str) -> None:
        """Flag the order, but only if order and session are still as the decision saw them: a
        flag decided on a state that has since moved (a duplicate paid notification that read the
        session just before the first one settled it) must be decided again."""
        self._update(
            order.merchant_order_id,
            "ADD review_reasons :reasons SET updated_at = :now",
            "#status = :seen AND session_token = :current AND sessions.#token.#status = :seen_session",
            {
                "reasons": {reason.value for reason in reasons},
                "now": now,
                "seen": order.status.value,
                "current": order.session_token,
                "seen_session": session.status.value,
            },
            session_token=session.session_token,
        )

    def record_unknown_status(self, session: PaymentSession, reported_status: str, now: str) -> None:
        """Keep an unexplained payment_status for a status-API check; the session stays PENDING."""
        self._update(
            session.merchant_order_id,
            "SET sessions.#token.needs_status_check = :yes, sessions.#token.last_reported_status = :reported,"
            " sessions.#token.updated_at = :now",
            "sessions.#token.#status = :pending",
            {"yes": True, "reported": reported_status, "now": now, "pending": Status.PENDING.value},
            session_token=session.session_token,
        )

    def requeue_pending(self, session: PaymentSession, now: str) -> None:
        """Move an order whose session is still PENDING to the back of the reconciliation queue."""
        try:
            self._update(
                session.merchant_order_id,
                "SET pending_since = :now",
                "#status = :pending AND session_token = :token",
                {"now": now, "pending": Status.PENDING.value, "token": session.session_token},
            )
        except ConcurrentUpdate:
            pass  # settled meanwhile: it has left the queue by itself

    def pending_orders(self, queued_before: str, limit: int) -> list[str]:
        """Ids of orders whose session is PENDING, queued before `queued_before` (opened then, or
        last checked then), longest-waiting first."""
        response = self._call(
            "query",
            TableName=self._table,
            IndexName=PENDING_INDEX,
            KeyConditionExpression="pending_check = :pending AND pending_since < :cutoff",
            ExpressionAttributeValues=_values(pending=PENDING_PARTITION, cutoff=queued_before),
            Limit=limit,
        )
        return [item["pk"]["S"].removeprefix(ORDER_PREFIX) for item in response.get("Items", [])]

    # -- item shapes -------------------------------------------------------------------------
    @staticmethod
    def _session_values(session: PaymentSession) -> dict[str, Any]:
        values = {
            "currency": session.currency,
            "signature_token": session.signature_token,
            "status": session.status.value,
            "created_at": session.created_at,
            "updated_at": session.updated_at,
        }
        if session.payment_token is not None:
            values["payment_token"] = session.payment_token
        return values

    def _settle(
        self,
        order: Order,
        session: PaymentSession,
        status: Status,
        payment_token: str | None,
        now: str,
        settle_order: bool,
    ) -> None:
        """A session's final outcome, and the order's with it when `settle_order`."""
        assignments = [
            "sessions.#token.#status = :final",
            "sessions.#token.updated_at = :now",
            "sessions.#token.needs_status_check = :no",
        ]
        values = {"final": status.value, "now": now, "pending": Status.PENDING.value, "no": False}
        if payment_token is not None:
            assignments.append("sessions.#token.payment_token = :payment")
            values["payment"] = payment_token
        # A final outcome never changes.
        condition = "sessions.#token.#status = :pending"
        removals = ""
        if settle_order:
            assignments += ["#status = :final", "updated_at = :now"]
            if status is Status.PAID and payment_token is not None:
                assignments.append("payment_token = :payment")
            # Only the live session of a PENDING order may settle it.
            condition += " AND #status = :pending AND session_token = :token"
            values["token"] = session.session_token
            # Leaving the pending index: reconciliation has nothing more to ask about it.
            removals = " REMOVE pending_check, pending_since"
        self._update(
            order.merchant_order_id,
            "SET " + ", ".join(assignments) + removals,
            condition,
            values,
            session_token=session.session_token,
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
            "ExpressionAttributeValues": _values(**values),
            **options,
        }
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
                old = error.response.get("Item")
                raise ConcurrentUpdate(_from_item(old) if old else {}) from error
            raise self._unavailable(error) from error
        except BotoCoreError as error:
            raise self._unavailable(error) from error

    @staticmethod
    def _unavailable(error: Exception) -> StorageUnavailable:
        code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
        logger.error("DynamoDB call failed", extra={"error_type": type(error).__name__, "error_code": code})
        return StorageUnavailable("storage is temporarily unavailable; retry the request")

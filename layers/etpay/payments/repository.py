"""DynamoDB storage of orders and sessions: the only code that speaks DynamoDB.

One table, one string key `pk`, three kinds of item:
  ORDER#<merchant_order_id>   the order: amount, status, its current session, review flags
  SESSION#<session_token>     one ETpay session: its signature_token and its own outcome
  CLAIM#<merchant_order_id>   short-lived: "an invocation is asking ETpay for a session"
A PENDING session also carries `pending_check` / `pending_since`, the keys of the sparse index
PENDING_INDEX; settling the session removes them, so the index holds exactly the sessions that
reconciliation may still need to ask ETpay about.
Every state change is a conditional write, and changes that touch an order and a session are
one transaction, so a crash or a lost race never leaves half a transition behind.
"""

import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from payments.errors import ConcurrentUpdate, StorageUnavailable
from payments.model import Order, PaymentSession, ReviewReason, Status
from payments.settings import (
    DYNAMODB_CONNECT_TIMEOUT_SECONDS,
    DYNAMODB_MAX_ATTEMPTS,
    DYNAMODB_READ_TIMEOUT_SECONDS,
    SESSION_CLAIM_SECONDS,
)

logger = Logger(child=True)

ORDER_PREFIX = "ORDER#"
SESSION_PREFIX = "SESSION#"
CLAIM_PREFIX = "CLAIM#"
PENDING_INDEX = "PendingSessions"
PENDING_PARTITION = "PENDING"
CONDITION_FAILED_CODES = frozenset({"ConditionalCheckFailedException"})
# Lost to another writer on the same items: decide again from fresh state.
RACE_REASONS = frozenset({"ConditionalCheckFailed", "TransactionConflict"})

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _client_config() -> Config:
    return Config(
        connect_timeout=DYNAMODB_CONNECT_TIMEOUT_SECONDS,
        read_timeout=DYNAMODB_READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "max_attempts": DYNAMODB_MAX_ATTEMPTS},
    )


def _to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items() if value is not None}


def _from_item(item: dict[str, Any]) -> dict[str, Any]:
    values = {name: _deserializer.deserialize(value) for name, value in item.items()}
    return {name: int(value) if isinstance(value, Decimal) else value for name, value in values.items()}


def _values(**values: Any) -> dict[str, Any]:
    return {f":{name}": _serializer.serialize(value) for name, value in values.items()}


STATUS_NAME = {"#status": "status"}


def _order(values: dict[str, Any]) -> Order:
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


def _session(values: dict[str, Any]) -> PaymentSession:
    return PaymentSession(
        session_token=values["session_token"],
        merchant_order_id=values["merchant_order_id"],
        order_amount=values["order_amount"],
        currency=values["currency"],
        signature_token=values["signature_token"],
        status=Status(values["status"]),
        created_at=values["created_at"],
        updated_at=values["updated_at"],
        payment_token=values.get("payment_token"),
    )


class OrderRepository:
    def __init__(self, table_name: str, client: Any = None):
        self._table = table_name
        self._client = client or boto3.client("dynamodb", config=_client_config())

    # -- reads -----------------------------------------------------------------------------
    def get_order(self, merchant_order_id: str) -> Order | None:
        values = self._get(ORDER_PREFIX + merchant_order_id)
        return _order(values) if values else None

    def get_session(self, session_token: str) -> PaymentSession | None:
        values = self._get(SESSION_PREFIX + session_token)
        return _session(values) if values else None

    def get_session_and_order(
        self, session_token: str, merchant_order_id: str
    ) -> tuple[PaymentSession | None, Order | None]:
        """Both items as of one instant (TransactGetItems): a decision about money must never mix
        a session read before a concurrent transition with an order read after it."""
        response = self._call(
            "transact_get_items",
            TransactItems=[
                {"Get": {"TableName": self._table, "Key": _to_item({"pk": SESSION_PREFIX + session_token})}},
                {"Get": {"TableName": self._table, "Key": _to_item({"pk": ORDER_PREFIX + merchant_order_id})}},
            ],
        )
        session_item, order_item = (entry.get("Item") for entry in response["Responses"])
        return (
            _session(_from_item(session_item)) if session_item else None,
            _order(_from_item(order_item)) if order_item else None,
        )

    # -- opening a session -------------------------------------------------------------------
    def claim_order(self, merchant_order_id: str, claim_id: str) -> bool:
        """Take the right to ask ETpay for this order's next session. False if someone holds it."""
        now = int(time.time())
        try:
            self._call(
                "put_item",
                TableName=self._table,
                Item=_to_item(
                    {
                        "pk": CLAIM_PREFIX + merchant_order_id,
                        "claim_id": claim_id,
                        "expires_at": now + SESSION_CLAIM_SECONDS,
                    }
                ),
                # A claim left by a crashed invocation expires; a live one is never taken over.
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues=_values(now=now),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConcurrentUpdate as lost:
            # An SDK retry of our own successful put also lands here: it is still ours.
            held_by = (lost.args[0] if lost.args else {}) or {}
            return held_by.get("claim_id") == claim_id
        return True

    def release_claim(self, merchant_order_id: str, claim_id: str) -> None:
        try:
            self._call(
                "delete_item",
                TableName=self._table,
                Key=_to_item({"pk": CLAIM_PREFIX + merchant_order_id}),
                ConditionExpression="claim_id = :claim",
                ExpressionAttributeValues=_values(claim=claim_id),
            )
        except ConcurrentUpdate:
            pass  # already gone (expired and reused): nothing of ours to release
        except StorageUnavailable:
            # The claim expires by itself; the caller's own error is the one worth reporting.
            logger.warning("could not release session claim", extra={"merchant_order_id": merchant_order_id})

    def open_session(self, order: Order, session: PaymentSession, claim_id: str, replaces: str | None) -> None:
        """Store a new session and point the order at it, as one transaction.

        `replaces` is the FAILED session being replaced, or None for a brand-new order.
        """
        if replaces is None:
            order_write = {
                "Put": {
                    "TableName": self._table,
                    "Item": self._order_item(order),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        else:
            order_write = {
                "Update": {
                    "TableName": self._table,
                    "Key": _to_item({"pk": ORDER_PREFIX + order.merchant_order_id}),
                    "UpdateExpression": (
                        "SET #status = :pending, session_token = :session, payment_url = :url, updated_at = :now"
                    ),
                    "ConditionExpression": "#status = :failed AND session_token = :replaces",
                    "ExpressionAttributeNames": STATUS_NAME,
                    "ExpressionAttributeValues": _values(
                        pending=Status.PENDING.value,
                        failed=Status.FAILED.value,
                        session=order.session_token,
                        url=order.payment_url,
                        now=order.updated_at,
                        replaces=replaces,
                    ),
                }
            }
        self._transact(
            [
                order_write,
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": self._session_item(session),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": _to_item({"pk": CLAIM_PREFIX + order.merchant_order_id}),
                        "ConditionExpression": "claim_id = :claim",
                        "ExpressionAttributeValues": _values(claim=claim_id),
                    }
                },
            ]
        )

    # -- notification outcomes ---------------------------------------------------------------
    def mark_paid(self, order: Order, session: PaymentSession, payment_token: str | None, now: str) -> None:
        self._transact(
            [
                self._settle_session(session, Status.PAID, payment_token, now),
                self._settle_order(order, session, Status.PAID, payment_token, now),
            ]
        )

    def mark_failed(
        self,
        order: Order,
        session: PaymentSession,
        payment_token: str | None,
        now: str,
        fail_order: bool,
    ) -> None:
        writes = [self._settle_session(session, Status.FAILED, payment_token, now)]
        if fail_order:
            writes.append(self._settle_order(order, session, Status.FAILED, None, now))
        self._transact(writes)

    def flag_for_review(self, order: Order, session: PaymentSession, reasons: Iterable[ReviewReason], now: str) -> None:
        """Flag the order, but only if order and session are still as the decision saw them: a
        flag decided on a state that has since moved (a duplicate paid notification that read the
        session just before the first one settled it) must be decided again."""
        self._transact(
            [
                {
                    "ConditionCheck": {
                        "TableName": self._table,
                        "Key": _to_item({"pk": SESSION_PREFIX + session.session_token}),
                        "ConditionExpression": "#status = :seen",
                        "ExpressionAttributeNames": STATUS_NAME,
                        "ExpressionAttributeValues": _values(seen=session.status.value),
                    }
                },
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _to_item({"pk": ORDER_PREFIX + order.merchant_order_id}),
                        "UpdateExpression": "ADD review_reasons :reasons SET updated_at = :now",
                        "ConditionExpression": "#status = :seen AND session_token = :current",
                        "ExpressionAttributeNames": STATUS_NAME,
                        "ExpressionAttributeValues": _values(
                            reasons={reason.value for reason in reasons},
                            now=now,
                            seen=order.status.value,
                            current=order.session_token,
                        ),
                    }
                },
            ]
        )

    def record_unknown_status(self, session: PaymentSession, reported_status: str, now: str) -> None:
        """Keep an unexplained payment_status for a status-API check; the session stays PENDING."""
        self._call(
            "update_item",
            TableName=self._table,
            Key=_to_item({"pk": SESSION_PREFIX + session.session_token}),
            UpdateExpression=("SET needs_status_check = :yes, last_reported_status = :reported, updated_at = :now"),
            ConditionExpression="#status = :pending",
            ExpressionAttributeNames=STATUS_NAME,
            ExpressionAttributeValues=_values(
                yes=True, reported=reported_status, now=now, pending=Status.PENDING.value
            ),
        )

    def requeue_pending(self, session: PaymentSession, now: str) -> None:
        """Move a still-PENDING session to the back of the reconciliation queue."""
        try:
            self._call(
                "update_item",
                TableName=self._table,
                Key=_to_item({"pk": SESSION_PREFIX + session.session_token}),
                UpdateExpression="SET pending_since = :now",
                ConditionExpression="#status = :pending",
                ExpressionAttributeNames=STATUS_NAME,
                ExpressionAttributeValues=_values(now=now, pending=Status.PENDING.value),
            )
        except ConcurrentUpdate:
            pass  # settled meanwhile: it has left the queue by itself

    def pending_sessions(self, created_before: str, limit: int) -> list[str]:
        """Tokens of PENDING sessions queued before `created_before` (opened then, or last checked
        then), longest-waiting first."""
        response = self._call(
            "query",
            TableName=self._table,
            IndexName=PENDING_INDEX,
            KeyConditionExpression="pending_check = :pending AND pending_since < :cutoff",
            ExpressionAttributeValues=_values(pending=PENDING_PARTITION, cutoff=created_before),
            Limit=limit,
        )
        return [_from_item(item)["pk"].removeprefix(SESSION_PREFIX) for item in response.get("Items", [])]

    # -- item shapes -------------------------------------------------------------------------
    @staticmethod
    def _order_item(order: Order) -> dict[str, Any]:
        return _to_item(
            {
                "pk": ORDER_PREFIX + order.merchant_order_id,
                "kind": "order",
                "merchant_order_id": order.merchant_order_id,
                "order_amount": order.order_amount,
                "currency": order.currency,
                "status": order.status.value,
                "session_token": order.session_token,
                "payment_url": order.payment_url,
                "payment_token": order.payment_token,
                "created_at": order.created_at,
                "updated_at": order.updated_at,
            }
        )

    @staticmethod
    def _session_item(session: PaymentSession) -> dict[str, Any]:
        return _to_item(
            {
                "pk": SESSION_PREFIX + session.session_token,
                "kind": "session",
                "session_token": session.session_token,
                "merchant_order_id": session.merchant_order_id,
                "order_amount": session.order_amount,
                "currency": session.currency,
                "signature_token": session.signature_token,
                "status": session.status.value,
                "created_at": session.created_at,
                "updated_at": session.updated_at,
                "pending_check": PENDING_PARTITION if session.status is Status.PENDING else None,
                "pending_since": session.created_at if session.status is Status.PENDING else None,
            }
        )

    def _settle_session(
        self, session: PaymentSession, status: Status, payment_token: str | None, now: str
    ) -> dict[str, Any]:
        assignments = "#status = :final, updated_at = :now, needs_status_check = :no"
        values = {"final": status.value, "now": now, "pending": Status.PENDING.value, "no": False}
        if payment_token is not None:
            assignments += ", payment_token = :payment"
            values["payment"] = payment_token
        return {
            "Update": {
                "TableName": self._table,
                "Key": _to_item({"pk": SESSION_PREFIX + session.session_token}),
                # Leaving the pending index: reconciliation has nothing more to ask about it.
                "UpdateExpression": "SET " + assignments + " REMOVE pending_check, pending_since",
                # A final outcome never changes.
                "ConditionExpression": "#status = :pending",
                "ExpressionAttributeNames": STATUS_NAME,
                "ExpressionAttributeValues": _values(**values),
            }
        }

    def _settle_order(
        self,
        order: Order,
        session: PaymentSession,
        status: Status,
        payment_token: str | None,
        now: str,
    ) -> dict[str, Any]:
        assignments = "#status = :final, updated_at = :now"
        values = {
            "final": status.value,
            "now": now,
            "pending": Status.PENDING.value,
            "session": session.session_token,
        }
        if payment_token is not None:
            assignments += ", payment_token = :payment"
            values["payment"] = payment_token
        return {
            "Update": {
                "TableName": self._table,
                "Key": _to_item({"pk": ORDER_PREFIX + order.merchant_order_id}),
                "UpdateExpression": "SET " + assignments,
                # Only the live session of a PENDING order may settle it.
                "ConditionExpression": "#status = :pending AND session_token = :session",
                "ExpressionAttributeNames": STATUS_NAME,
                "ExpressionAttributeValues": _values(**values),
            }
        }

    # -- SDK calls and their errors ------------------------------------------------------------
    def _get(self, pk: str) -> dict[str, Any] | None:
        response = self._call("get_item", TableName=self._table, Key=_to_item({"pk": pk}), ConsistentRead=True)
        item = response.get("Item")
        return _from_item(item) if item else None

    def _transact(self, writes: list[dict[str, Any]]) -> None:
        self._call("transact_write_items", TransactItems=writes)

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One SDK call; a lost race becomes ConcurrentUpdate, any other failure StorageUnavailable."""
        try:
            return getattr(self._client, operation)(**kwargs)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in CONDITION_FAILED_CODES:
                old = error.response.get("Item")
                raise ConcurrentUpdate(_from_item(old) if old else {}) from error
            if code == "TransactionCanceledException":
                reasons = {reason.get("Code") for reason in error.response.get("CancellationReasons", [])}
                if reasons & RACE_REASONS:
                    raise ConcurrentUpdate() from error
            raise self._unavailable(error) from error
        except BotoCoreError as error:
            raise self._unavailable(error) from error

    @staticmethod
    def _unavailable(error: Exception) -> StorageUnavailable:
        code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
        logger.error("DynamoDB call failed", extra={"error_type": type(error).__name__, "error_code": code})
        return StorageUnavailable("storage is temporarily unavailable; retry the request")

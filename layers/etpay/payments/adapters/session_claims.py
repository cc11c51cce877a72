"""Session claims on DynamoDB (payments.app.ports.SessionClaims): the right to ask ETpay for an
order's next session, held in the order's item, and the session ETpay opened stored with the claim
released in one write. A claim left by a crashed invocation frees itself (`claim_expires`); a new
order's claim item that nobody retried is removed by DynamoDB's TTL.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from payments.adapters.dynamodb import expression_values, to_item
from payments.adapters.order_codec import ORDER_PREFIX, order_key, pending_shard, session_values, stored_order
from payments.adapters.order_store import OrderTable
from payments.domain.clock import epoch_seconds, iso_utc
from payments.domain.errors import ConcurrentUpdate, StorageUnavailable
from payments.domain.orders import REOPENING_STATUSES, Order, PaymentSession, Status, StoredOrder
from payments.domain.policy import SESSION_CLAIM_SECONDS

logger = Logger(child=True)

# A new order's claim item, left by an invocation that crashed and was never retried, is removed by
# DynamoDB's TTL after this long (TTL deletes lazily; a retry within it simply takes the claim over).
CLAIM_ITEM_TTL_SECONDS = 24 * 3600


def _reopening_statuses() -> dict[str, str]:
    """The statuses after which an order takes a new session, as expression values :reopen0..."""
    return {f"reopen{index}": status.value for index, status in enumerate(sorted(REOPENING_STATUSES))}


def _is_reopening(values: Mapping[str, str]) -> str:
    return f"#status IN ({', '.join(':' + name for name in values)})"


class SessionClaims:
    def __init__(self, table_name: str, client: Any = None):
        self._table = OrderTable(table_name, client)

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
            # The order's first session: its map of signature tokens starts with it.
            condition += " AND attribute_not_exists(session_token)"
            signature = "signature_tokens = :signatures"
            values["signatures"] = {session.session_token: session.signature_token}
        else:
            reopening = _reopening_statuses()
            condition += f" AND {_is_reopening(reopening)} AND session_token = :replaces"
            signature = "signature_tokens.#token = :signature"
            values.update(replaces=replaces, signature=session.signature_token, **reopening)
        self._table.change(
            order.merchant_order_id,
            "SET #status = :pending, session_token = :token, payment_url = :url, created_at = :created,"
            f" updated_at = :now, session_expires_at = :expires, sessions.#token = :session, {signature},"
            " pending_shard = :shard, next_check_at = :first_check, check_session = :token,"
            " check_opened_at = :now, check_expires_at = :expires, check_count = :zero"
            " REMOVE claim_id, claim_expires, expires_at",
            condition,
            values,
            session_token=session.session_token,
        )

"""Requests for the benchmark: API Gateway events, and PENDING sessions (with their signed
notifications) stored exactly as PaymentsFunction stores them."""

import json
import secrets
import time
import uuid
from datetime import timedelta

import boto3
from bench_paths import ensure_paths

ensure_paths()

from etpay.notification import sign_notification
from local.emulator.api import api_gateway_event  # noqa: E402
from local.examples import EXAMPLE_NOTIFICATION_KEY, example_notification_claims  # noqa: E402 - claims: warm.py
from payments.adapters.session_claims import SessionClaims
from payments.domain.clock import utc_now
from payments.domain.orders import Order, PaymentSession, Status
from payments.domain.sessions import NOTIFICATION_KEY_PARAMETER

DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"
STAGE = "sandbox"
AMOUNT = 50_000


def new_order_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def create_session_event(order_id: str, amount: int = AMOUNT) -> dict:
    body = json.dumps({"merchant_order_id": order_id, "order_amount": amount})
    return api_gateway_event(
        "POST", "/sessions", "/sessions", body, {"Content-Type": "application/json"}, domain=DOMAIN, stage=STAGE
    )


def get_order_event(order_id: str) -> dict:
    return api_gateway_event(
        "GET",
        "/orders/{merchant_order_id}",
        f"/orders/{order_id}",
        path_parameters={"merchant_order_id": order_id},
        domain=DOMAIN,
        stage=STAGE,
    )


def notification_event(jwt_token: str) -> dict:
    body = json.dumps({"payment": jwt_token})
    return api_gateway_event(
        "POST",
        "/notifications",
        "/notifications",
        body,
        {"Content-Type": "application/json"},
        # ETpay calls the URL the session was opened with, which carries the stack's key.
        query={NOTIFICATION_KEY_PARAMETER: EXAMPLE_NOTIFICATION_KEY},
        domain=DOMAIN,
        stage=STAGE,
    )


def schedule_event() -> dict:
    return {"version": "0", "detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": {}}


def signed_notification(session_token: str, order_id: str, signature_token: str, amount: int = AMOUNT) -> str:
    """The paid notification ETpay would send for this session (every claim of ETpay's example)."""
    claims = example_notification_claims()
    claims.update(
        session_token=session_token,
        merchant_order_id=order_id,
        merchant_amount=amount,
        payment_token="pay-" + secrets.token_hex(8),
        iat=int(time.time()),
    )
    return sign_notification(claims, signature_token)


def seed_pending_session(table: str, prefix: str) -> str:
    """A new order with a PENDING session, stored as PaymentsFunction stores it; returns the
    notification that settles it as paid."""
    repository = SessionClaims(table, boto3.client("dynamodb"))
    order_id = new_order_id(prefix)
    session_token = "sess-" + secrets.token_urlsafe(24)
    signature_token = secrets.token_urlsafe(32)
    now = "2026-01-01T00:00:00.000Z"
    claim = uuid.uuid4().hex
    repository.claim_new_order(order_id, AMOUNT, "CLP", claim, utc_now())
    later = utc_now() + timedelta(days=1)
    repository.open_session(
        Order(
            order_id,
            AMOUNT,
            "CLP",
            Status.PENDING,
            session_token,
            f"https://pmt.example/session/{session_token}",
            now,
            now,
        ),
        PaymentSession(session_token, order_id, AMOUNT, "CLP", signature_token, Status.PENDING, now, now),
        claim,
        replaces=None,
        first_check=later,
    )
    return signed_notification(session_token, order_id, signature_token)

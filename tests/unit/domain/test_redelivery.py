"""POST /events/{id}/redeliver decided on the event's delivery record: a first request is always
accepted, one while a redelivery is pending joins it, one within the cooldown of the last accepted
request is refused with the wait left, and every request is kept with who made it. Pure: no I/O."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from payments.domain.clock import iso_utc
from payments.domain.events import (
    MAX_REDELIVERY_REQUESTS,
    REDELIVERY_COOLDOWN_SECONDS,
    REDELIVERY_STALE_SECONDS,
    Delivery,
    DeliveryState,
    JoinPending,
    Redeliver,
    RedeliveryRequest,
    TooSoon,
    decide_redelivery,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
MERCHANT = "arn:aws:sts::123456789012:assumed-role/ShopBackend/orders"
OPERATOR = "arn:aws:sts::123456789012:assumed-role/Operators/ana"
DELIVERED = Delivery(DeliveryState.DELIVERED, attempts=1, last_attempt_at=iso_utc(NOW - timedelta(hours=1)))


def ago(seconds: float) -> str:
    return iso_utc(NOW - timedelta(seconds=seconds))


def accepted(seconds_ago: float, attempted_after: bool = True) -> Delivery:
    """Delivered, and a redelivery accepted `seconds_ago` (attempted since, or not)."""
    at = ago(seconds_ago)
    return replace(
        DELIVERED,
        requested_at=at,
        requests=(RedeliveryRequest(MERCHANT, at),),
        last_attempt_at=ago(seconds_ago - 1) if attempted_after else DELIVERED.last_attempt_at,
    )


@pytest.mark.parametrize(
    "delivery",
    [
        DELIVERED,
        Delivery(DeliveryState.FAILED, attempts=28, last_attempt_at=ago(60)),
        # its first webhook still queued: a redelivery is no merge with it
        Delivery(DeliveryState.PENDING),
    ],
    ids=["delivered", "dead-lettered", "first webhook pending"],
)
def test_a_first_request_is_accepted_and_recorded(delivery):
    decision = decide_redelivery(delivery, MERCHANT, NOW)

    assert isinstance(decision, Redeliver)
    assert decision.delivery.requested_at == iso_utc(NOW)
    assert decision.delivery.current_state is DeliveryState.PENDING
    assert decision.delivery.requests == (RedeliveryRequest(MERCHANT, iso_utc(NOW)),)


def test_a_request_while_a_redelivery_is_pending_joins_it():
    decision = decide_redelivery(accepted(10, attempted_after=False), OPERATOR, NOW)

    assert isinstance(decision, JoinPending)
    assert decision.delivery.requested_at == ago(10)  # the pending one's, unchanged
    assert decision.delivery.requests[-1] == RedeliveryRequest(OPERATOR, iso_utc(NOW), merged=True)


@pytest.mark.parametrize(("seconds_ago", "wait"), [(1, 59), (20, 40), (59.5, 1)])
def test_a_request_within_the_cooldown_is_refused_with_the_wait_left(seconds_ago, wait):
    assert decide_redelivery(accepted(seconds_ago), MERCHANT, NOW) == TooSoon(wait)


def test_the_cooldown_counts_from_the_last_accepted_request_not_a_joined_one():
    joined_recently = replace(
        accepted(REDELIVERY_COOLDOWN_SECONDS + 5),
        requests=(
            RedeliveryRequest(MERCHANT, ago(REDELIVERY_COOLDOWN_SECONDS + 5)),
            RedeliveryRequest(OPERATOR, ago(2), merged=True),
        ),
    )

    assert isinstance(decide_redelivery(joined_recently, MERCHANT, NOW), Redeliver)


def test_a_redelivery_never_attempted_for_too_long_is_no_longer_waited_for():
    stale = accepted(REDELIVERY_STALE_SECONDS, attempted_after=False)

    assert isinstance(decide_redelivery(stale, MERCHANT, NOW), Redeliver)


def test_the_record_keeps_the_latest_requests_only():
    many = replace(
        DELIVERED,
        requests=tuple(RedeliveryRequest(MERCHANT, ago(3600 - n)) for n in range(MAX_REDELIVERY_REQUESTS)),
    )

    decision = decide_redelivery(many, OPERATOR, NOW)

    assert isinstance(decision, Redeliver)
    assert len(decision.delivery.requests) == MAX_REDELIVERY_REQUESTS
    assert decision.delivery.requests[-1].requested_by == OPERATOR
    assert decision.delivery.requests[0] == many.requests[1]

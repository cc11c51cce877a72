"""Status checks and the end of a session's lifetime. ETpay publishes no notification retry
schedule, so a session still PENDING is asked about with ETpay's status API: first a while after it
opened, then at doubling intervals, the last at its expiry; no result by then ends it EXPIRED.
Pure: no I/O.
"""

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from etpay.errors import InvalidNotification
from etpay.records import Notification, PaymentOutcome, payment_from_record
from payments.domain.clock import parse_iso
from payments.domain.orders import Order, PaymentSession, Status


@dataclass(frozen=True)
class CheckTask:
    """One status check, handed from the sweep to a worker (through the check queue)."""

    merchant_order_id: str
    session_token: str


def check_times(opened_at: datetime, expires_at: datetime, first_after: timedelta) -> list[datetime]:
    """When ETpay's status API is asked about a session: a first time `first_after` it opened (a
    notification may never come), then at doubling intervals, the last at its expiry. Bounded: at
    most about log2(lifetime / first_after) + 2 checks, none after the session ends."""
    times = []
    offset = step = first_after
    while opened_at + offset < expires_at:
        times.append(opened_at + offset)
        step *= 2
        offset += step
    times.append(expires_at)
    return times


@dataclass(frozen=True)
class DueCheck:
    """A session whose next status check is due, as the pending index lists it."""

    merchant_order_id: str
    session_token: str
    next_check_at: str  # as stored: the lease below is conditional on it
    opened_at: datetime
    expires_at: datetime
    checks_done: int  # checks already handed to a worker


def following_check(
    due: DueCheck, now: datetime, first_after: timedelta, lease: timedelta, retry: timedelta, max_retry: timedelta
) -> datetime:
    """When the check after the one being handed out now is due. It doubles as a lease: no sweep
    hands the session out again before then, so it is never later than the next scheduled check
    and never sooner than `lease` (a worker's time to do this one). After the final check (at
    expiry) the next is a retry, in case this one gets no answer from ETpay: `retry`, doubling,
    at most `max_retry`."""
    times = check_times(due.opened_at, due.expires_at, first_after)
    following = due.checks_done + 1
    if following < len(times):
        return max(times[following], now + lease)
    retries = following - len(times)
    return now + min(retry * (1 << min(retries, 30)), max_retry)


class CheckAction(enum.Enum):
    APPLY = "apply"  # ETpay has a result: decided like a notification (decide_notification)
    EXPIRE = "expire"  # its lifetime is over and ETpay has no result: the session ends EXPIRED
    WAIT = "wait"  # no result yet; the next check is already scheduled
    ENDED = "ended"  # the session ended meanwhile (a notification came): nothing to ask


@dataclass(frozen=True)
class CheckDecision:
    """What a status check does with a session."""

    action: CheckAction
    # For EXPIRE: whether the order follows its session to EXPIRED (its live session, order PENDING).
    expire_order: bool = False


def decide_status_check(
    order: Order, session: PaymentSession, result: Notification | None, now: datetime
) -> CheckDecision:
    """What ETpay's status answer (its decisive record for the session, None: no record) means for
    a session whose check was due."""
    if session.status is not Status.PENDING:
        return CheckDecision(CheckAction.ENDED)
    if result is not None and result.outcome is not PaymentOutcome.UNKNOWN:
        return CheckDecision(CheckAction.APPLY)
    if session.expires_at and now >= parse_iso(session.expires_at):
        return CheckDecision(
            CheckAction.EXPIRE,
            expire_order=order.session_token == session.session_token and order.status is Status.PENDING,
        )
    # An unpublished status word is kept for the record like a notification's; no result at all
    # waits for the next check.
    return CheckDecision(CheckAction.APPLY if result is not None else CheckAction.WAIT)


def decisive_result(session: PaymentSession, records: Iterable[Mapping[str, Any]]) -> Notification | None:
    """The record of ETpay's status answer that decides for this session: paid beats failed beats
    unknown (a payment ETpay reports anywhere in its answer is real money); None: no record of
    this session. Records that are not payment records are passed over."""
    results = []
    for record in records:
        try:
            result = payment_from_record(record, session_token=session.session_token)
        except InvalidNotification:
            continue
        if result.session_token == session.session_token:
            results.append(result)
    for outcome in (PaymentOutcome.PAID, PaymentOutcome.FAILED, PaymentOutcome.UNKNOWN):
        for result in results:
            if result.outcome is outcome:
                return result
    return None

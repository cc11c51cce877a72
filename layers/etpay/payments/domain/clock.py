"""The one source of time: a function returning the current moment as an aware UTC `datetime`.

A use case reads it once per decision and hands that moment to the store, so a decision and
the conditional write that carries it out agree on what "now" is; tests inject their own. Stored
timestamps are ISO 8601 UTC text with milliseconds and `Z` (they sort, and compare in DynamoDB, as
text); claim expiries and DynamoDB's TTL are whole epoch seconds derived from the same moment.
"""

import math
from collections.abc import Callable
from datetime import UTC, datetime

type Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """e.g. 2026-11-26T14:03:07.512Z"""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_seconds(moment: datetime) -> int:
    """Whole seconds since 1970, rounded down: an expiry in whole seconds has passed exactly when
    it is at most this."""
    return math.floor(moment.timestamp())


def parse_iso(text: str) -> datetime:
    """A stored timestamp (iso_utc's form) back as an aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)

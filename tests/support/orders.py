"""Orders written the way the use cases write them, for tests that need one in a given state."""

from collections.abc import Iterable
from datetime import datetime

from payments.adapters.order_store import OrderStore
from payments.config.settings import get_settings
from payments.domain.clock import iso_utc
from payments.domain.orders import ReviewReason
from payments.domain.reviews import raise_review


def flag_for_review(merchant_order_id: str, reasons: Iterable[ReviewReason], at: datetime) -> None:
    """Flag the order's current session for `reasons` at `at`, as a contradicting notification would,
    in the table the functions are configured with."""
    store = OrderStore(get_settings().require("table_name"))
    found = store.get_order_and_session(merchant_order_id)
    assert found is not None, merchant_order_id
    order, session = found
    store.flag_for_review(order, session, raise_review(order, frozenset(reasons), iso_utc(at)), at)

"""The review queue: GET /reviews (the orders a person must look at, oldest first),
POST /orders/{id}/review (the operator's resolution) and the overdue count the sweep publishes.
A resolution changes the order's review record only, never its money state.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

from payments.app import telemetry
from payments.app.ports import OrderStore, ReviewIndex
from payments.app.telemetry import logger
from payments.domain.clock import Clock, iso_utc, utc_now
from payments.domain.errors import ConcurrentUpdate, OrderBusy, OrderNotFound
from payments.domain.orders import Order, Resolution
from payments.domain.policy import MAX_DECISION_ATTEMPTS, REVIEW_OVERDUE_SECONDS, REVIEW_SHARDS
from payments.domain.reviews import QueuePage, QueuePosition, ShardPage, decide_resolution, merge_pages
from payments.domain.sessions import Refuse

# The shards are read in parallel with this many threads (GET /reviews, the overdue count).
REVIEW_QUERY_THREADS = 8


class Reviews:
    def __init__(self, orders: OrderStore, queue: ReviewIndex, clock: Clock = utc_now):
        self._orders = orders
        self._queue = queue
        self._clock = clock

    def page(self, after: dict[int, QueuePosition], limit: int) -> QueuePage:
        """A page of the orders with an open review, oldest first, from `after` (the positions a
        previous page's cursor held; empty: from the start). Every shard is read in parallel, each
        for `limit` + 1 entries: enough to fill the page from any one shard and to know if more follow."""

        def read(shard: int) -> ShardPage:
            entries, truncated = self._queue.open_reviews(shard, after.get(shard), limit + 1)
            return ShardPage(entries, truncated)

        with ThreadPoolExecutor(max_workers=REVIEW_QUERY_THREADS) as pool:
            pages = dict(zip(range(REVIEW_SHARDS), pool.map(read, range(REVIEW_SHARDS)), strict=True))
        return merge_pages(pages, after, limit)

    def resolve(self, merchant_order_id: str, resolution: Resolution, note: str, resolved_by: str) -> Order:
        """Record the operator's resolution of the order's open review: the order leaves the queue
        and `review.required` becomes false; its money state is not touched. A lost race (a reason
        raised, or another resolution recorded, since the read) is decided again: of two
        resolutions at once exactly one is recorded, and the other gets no_open_review."""
        for _ in range(MAX_DECISION_ATTEMPTS):
            order = self._orders.get_order(merchant_order_id)
            if order is None:
                raise OrderNotFound(f"no order {merchant_order_id}")
            now = self._clock()
            decision = decide_resolution(order, resolution, resolved_by, note, iso_utc(now))
            if isinstance(decision, Refuse):
                raise decision.error
            try:
                self._orders.resolve_review(order, decision, now)
            except ConcurrentUpdate:
                logger.info("review resolution lost a race; deciding again")
                continue
            resolved = decision.reviews[-1]
            telemetry.count(telemetry.REVIEW_RESOLVED)
            # The note is the operator's free text: it stays out of the log.
            logger.info(
                "review resolved",
                extra={
                    "review_number": resolved.number,
                    "resolution": resolution.value,
                    "review_reasons": sorted(reason.value for reason in resolved.reason_set),
                    "resolved_by": resolved_by,
                    "order_status": order.status.value,
                },
            )
            return replace(order, review_reasons=frozenset(), reviews=decision.reviews, updated_at=iso_utc(now))
        raise OrderBusy("the order is busy; retry the request")

    def overdue(self) -> int:
        """How many open reviews were opened more than REVIEW_OVERDUE_SECONDS ago."""
        before = self._clock() - timedelta(seconds=REVIEW_OVERDUE_SECONDS)
        with ThreadPoolExecutor(max_workers=REVIEW_QUERY_THREADS) as pool:
            counts = pool.map(
                lambda shard: self._queue.count_reviews_opened_before(shard, before), range(REVIEW_SHARDS)
            )
            return sum(counts)

"""The reconciler at scale: 100,000 orders on DynamoDB Local, the sandbox answering the status checks.

Data: orders open uniformly over one simulated hour. 30% are abandoned (the payer never pays, ETpay
never has a result), 1% are paid but their notification is lost (ETpay's status API says paid),
the rest get their notification (paid or failed) within ten minutes, as normal payments do.

What runs is the shipped code: the sweep (`PaymentsService.sweep`) once a simulated minute and the
workers (`PaymentsService.check`), `concurrency` at a time, against a real DynamoDB engine and the
sandbox over HTTP, on a simulated clock. Orders whose notification arrives are written in their
settled state in bulk instead of one request at a time: they leave the check index before their
first check is due, so the reconciler never reads them, and DynamoDB Local's ~600 writes a second
would otherwise make this run take most of an hour. Their index writes (one when their session
opened, one when it settled) are still counted in the spread.

Today's reconciler (before sessions expired: 50 sessions per 5-minute run, the longest-waiting
first, a checked session back to the end of the queue, never an end) is not run: its policy is
replayed on the same data, minute by minute, to the same figures.
"""

import heapq
import os
import random
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import urllib3
from bench_paths import ensure_paths

ensure_paths()
# Before the service's modules are imported (Powertools reads these then): a quiet service whose
# metrics are counted in memory, never printed.
os.environ.update(
    POWERTOOLS_SERVICE_NAME="reconcile-scale",
    POWERTOOLS_METRICS_NAMESPACE="EtpayPaymentsBench",
    POWERTOOLS_LOG_LEVEL="ERROR",
    POWERTOOLS_METRICS_DISABLED="true",
)

from aws_lambda_powertools import Logger  # noqa: E402

from etpay.client import EtpayClient
from etpay.credentials import Credentials
from local.emulator.dynamodb_local import DynamoDBLocal, client  # noqa: E402
from local.emulator.template import table_definitions  # noqa: E402
from local.etpay_sandbox import EtpaySandbox  # noqa: E402
from payments.adapters.check_index import CheckIndex
from payments.adapters.order_codec import ORDER_PREFIX, pending_shard
from payments.adapters.order_store import OrderStore
from payments.adapters.session_claims import SessionClaims
from payments.app import telemetry
from payments.app.reconciliation import CheckOutcome, CheckSession, Sweep
from payments.config.settings import DEFAULT_RECONCILE_AFTER_SECONDS, DEFAULT_SESSION_LIFETIME_SECONDS, Settings
from payments.domain.checks import CheckTask
from payments.domain.clock import iso_utc
from payments.domain.sessions import opened_session

TABLE = "etpay-orders-scale"
START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
OPENING_WINDOW = timedelta(hours=1)
AMOUNT = 50_000
# Today's reconciler, as the release before sessions expired shipped it.
OLD_BATCH, OLD_EVERY, OLD_AFTER = 50, timedelta(minutes=5), timedelta(minutes=15)
# How far the replay of today's reconciler looks: it never ends the abandoned sessions.
OLD_HORIZON = timedelta(days=7)
# A run that has not finished by then is reported as not finished.
MAX_SIMULATED = timedelta(hours=12)
SEED_THREADS = 16
# Workers at a time: a production-like ReconcileConcurrency (the template's default is 5), enough
# to keep DynamoDB Local busy.
CONCURRENCY = 8
# The service's loggers are children of the function's; here this one is their parent.
logger = Logger()
# Powertools' metric set is one per process and not made for threads (Lambda runs one invocation
# per process); the workers here are threads, and the run counts its outcomes itself.
telemetry.metrics.add_metric = lambda **_: None  # type: ignore[method-assign]
BATCH_WRITE_LIMIT = 25


@dataclass
class Order:
    order_id: str
    opens_at: datetime
    kind: str  # "abandoned", "lost" (paid, notification lost) or "normal"
    token: str = ""


@dataclass
class Figures:
    """One reconciler's figures on the data."""

    name: str
    simulated: timedelta | None  # until every abandoned session ended and every lost payment was paid
    wall_seconds: float | None
    lost_paid_after: timedelta | None  # until the last lost payment was PAID
    abandoned_ended: bool
    max_calls: int  # status calls for the most-asked session (today's: within OLD_HORIZON)
    read_units: float
    write_units: float
    busiest_key_share: float  # of the index's writes, on its busiest partition key value
    index_keys: int
    # How many index key values the orders' ids hash to: what index_keys is, spread perfectly.
    order_shards: int = 1
    calls_total: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class ScaleReport:
    orders: int
    abandoned: int
    lost: int
    concurrency: int
    ours: Figures
    today: Figures
    seed_seconds: float


def plan(orders: int, abandoned_share: float, lost_share: float, seed: int) -> list[Order]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible mix of orders, not a secret
    kinds = ["abandoned"] * round(orders * abandoned_share) + ["lost"] * round(orders * lost_share)
    kinds += ["normal"] * (orders - len(kinds))
    rng.shuffle(kinds)
    step = OPENING_WINDOW / orders
    # Ids from the same seeded draw: a run and its shard spread are the same every time.
    return [
        Order(f"SC-{index:06d}-{rng.getrandbits(24):06x}", START + index * step, kind) for index, kind in enumerate(kinds)
    ]


class CapacityMeter:
    """Read and write units DynamoDB reports for every request of a client (it is asked to:
    ReturnConsumedCapacity=INDEXES, the table's and each index's), per operation, and the index
    writes by partition key value."""

    def __init__(self) -> None:
        self.read_units = 0.0
        self.write_units = 0.0
        # operation -> [requests, the table's units, the indexes' units]
        self.by_operation: dict[str, list[float]] = {}
        self.index_writes: Counter[str] = Counter()
        # Units are counted only while the reconciler works (not while sessions are opened).
        self.counting = False
        self._lock = threading.Lock()

    def attach(self, dynamodb) -> None:
        dynamodb.meta.events.register("before-parameter-build.dynamodb", self._ask)
        dynamodb.meta.events.register("after-call.dynamodb", self._count)

    @staticmethod
    def _ask(params, model, **_):
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params["ReturnConsumedCapacity"] = "INDEXES"

    def _count(self, http_response, parsed, model, params=None, context=None, **_):
        if not self.counting:
            return
        consumed = parsed.get("ConsumedCapacity") or {}
        units = consumed.get("CapacityUnits", 0) or 0
        table = (consumed.get("Table") or {}).get("CapacityUnits", 0) or 0
        with self._lock:
            if model.name in ("GetItem", "Query", "Scan", "BatchGetItem"):
                self.read_units += units
            else:
                self.write_units += units
            totals = self.by_operation.setdefault(model.name, [0, 0.0, 0.0])
            totals[0] += 1
            totals[1] += table
            totals[2] += units - table

    def mean_table_units(self, operation: str) -> float:
        requests, table, _ = self.by_operation.get(operation, [0, 0.0, 0.0])
        return table / requests if requests else 1.0

    def count_index_write(self, order_id: str) -> None:
        with self._lock:
            self.index_writes[pending_shard(order_id)] += 1


def _index_write_hook(meter: CapacityMeter):
    """Counts each accepted UpdateItem that puts an order in the check index, moves it there or
    takes it out (its partition key value is the order's shard)."""

    def before_call(params, model, **_):
        if model.name != "UpdateItem":
            return
        expression = params.get("UpdateExpression", "")
        if "next_check_at" in expression or "pending_shard" in expression:
            meter.count_index_write(params["Key"]["pk"]["S"].removeprefix(ORDER_PREFIX))

    return before_call


class SimulatedClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def run(
    orders: int = 100_000,
    abandoned_share: float = 0.30,
    lost_share: float = 0.01,
    concurrency: int = CONCURRENCY,
    seed: int = 7,
    progress=lambda text: None,
) -> ScaleReport:
    data = plan(orders, abandoned_share, lost_share, seed)
    abandoned = sum(order.kind == "abandoned" for order in data)
    lost = sum(order.kind == "lost" for order in data)
    settings = Settings(table_name=TABLE, currency="CLP", max_order_amount=7_000_000)
    with (
        DynamoDBLocal() as engine,
        EtpaySandbox("scale-merchant", "scale-api-token-0123456789", port=0, keep_alive=True) as sandbox,
    ):
        dynamodb = client(engine.endpoint, max_pool_connections=max(SEED_THREADS, concurrency) * 2)
        dynamodb.create_table(TableName=TABLE, **table_definitions()["OrdersTable"])
        meter = CapacityMeter()
        repository = OrderStore(TABLE, dynamodb)
        checks = CheckIndex(TABLE, dynamodb)
        credentials = Credentials.from_mapping(sandbox.credentials())
        pool = urllib3.PoolManager(num_pools=2, maxsize=concurrency, retries=False)
        clock = SimulatedClock()
        service = Reconciler(
            Sweep(checks, timedelta(seconds=settings.reconcile_after_seconds), clock),
            CheckSession(repository, checks, lambda: EtpayClient(credentials, pool=pool), clock),
        )

        seeding = time.monotonic()
        settled = [order for order in data if order.kind == "normal"]
        _write_settled(dynamodb, settled)
        for order in settled:  # opened (into the index) and settled (out of it)
            meter.count_index_write(order.order_id)
            meter.count_index_write(order.order_id)
        seed_seconds = time.monotonic() - seeding
        progress(f"{len(settled)} settled orders written in {seed_seconds:.0f} s")

        # From here on every DynamoDB request is the stack's own: count it.
        meter.attach(dynamodb)
        dynamodb.meta.events.register("before-call.dynamodb", _index_write_hook(meter))
        pending = [order for order in data if order.kind != "normal"]
        ours = _simulate(clock, service, SessionClaims(TABLE, dynamodb), sandbox, pending, concurrency, meter, progress)

    calls = [sandbox.status_requests.get(order.token, 0) for order in pending]
    total_index_writes = sum(meter.index_writes.values())
    return ScaleReport(
        orders=orders,
        abandoned=abandoned,
        lost=lost,
        concurrency=concurrency,
        ours=Figures(
            name="sweep + workers (this release)",
            simulated=ours.done_after,
            wall_seconds=ours.reconciler_seconds if ours.done_after else None,
            lost_paid_after=ours.lost_paid_after,
            abandoned_ended=ours.expired == abandoned,
            max_calls=max(calls),
            calls_total=sum(calls),
            read_units=meter.read_units,
            write_units=meter.write_units,
            busiest_key_share=max(meter.index_writes.values()) / total_index_writes,
            index_keys=len(meter.index_writes),
            order_shards=len({pending_shard(order.order_id) for order in data}),
            notes=ours.notes,
        ),
        today=_replay_today(data, meter.mean_table_units("UpdateItem"), meter.mean_table_units("GetItem")),
        seed_seconds=seed_seconds,
    )


@dataclass(frozen=True)
class Reconciler:
    """The stack's reconciler: the sweep, and the workers' status check."""

    sweeper: Sweep
    checker: CheckSession

    def sweep(self, dispatch, has_time):
        return self.sweeper.run(dispatch, has_time)

    def check(self, task):
        return self.checker.check(task)


@dataclass
class _Progress:
    paid: int = 0
    expired: int = 0
    lost_paid_after: timedelta | None = None
    done_after: timedelta | None = None
    reconciler_seconds: float = 0.0  # wall-clock time of the sweeps and checks alone
    notes: list[str] = field(default_factory=list)


def _simulate(clock, service, claims, sandbox, pending, concurrency, meter, progress) -> _Progress:
    """A sweep and its checks every simulated minute, sessions opening at their time, until every
    pending session has ended."""
    state = _Progress()
    lost = sum(order.kind == "lost" for order in pending)
    to_open = list(pending)
    outcomes: Counter[CheckOutcome] = Counter()
    with (
        ThreadPoolExecutor(max_workers=SEED_THREADS) as openers,
        ThreadPoolExecutor(max_workers=concurrency) as workers,
    ):
        while clock.now - START <= MAX_SIMULATED:
            clock.now += timedelta(minutes=1)
            due_to_open = [order for order in to_open if order.opens_at <= clock.now]
            to_open = to_open[len(due_to_open) :]
            list(openers.map(lambda order: _open(claims, sandbox, order), due_to_open))
            queue: list[CheckTask] = []
            working = time.monotonic()
            meter.counting = True
            service.sweep(dispatch=queue.extend, has_time=lambda: True)
            for outcome in workers.map(service.check, queue):
                outcomes[outcome] += 1
            meter.counting = False
            state.reconciler_seconds += time.monotonic() - working
            state.paid = outcomes[CheckOutcome.PAID]
            state.expired = outcomes[CheckOutcome.EXPIRED]
            if state.lost_paid_after is None and state.paid >= lost:
                state.lost_paid_after = clock.now - START
            if state.paid + state.expired >= len(pending) and not to_open:
                state.done_after = clock.now - START
                break
            if (clock.now - START).seconds % (15 * 60) == 0:
                progress(f"simulated {clock.now - START}: {state.paid} paid, {state.expired} expired")
    if state.done_after is None:
        state.notes.append(f"not finished after {MAX_SIMULATED}: {dict(outcomes)}")
    return state


def _open(repository: SessionClaims, sandbox: EtpaySandbox, order: Order) -> None:
    """What POST /sessions does for the order, at its simulated time: the claim, ETpay's session
    (opened in the sandbox directly), the session stored. A lost payment's payer pays at once."""
    session = sandbox.open_session({"merchant_order_id": order.order_id, "order_amount": AMOUNT})
    order.token = session.token
    claim = uuid.uuid4().hex
    repository.claim_new_order(order.order_id, AMOUNT, "CLP", claim, order.opens_at)
    new_order, stored = opened_session(
        None,
        order.order_id,
        AMOUNT,
        "CLP",
        session.token,
        session.signature_token,
        sandbox.funnel_url(session.token),
        order.opens_at,
        timedelta(seconds=DEFAULT_SESSION_LIFETIME_SECONDS),
    )
    first_check = order.opens_at + timedelta(seconds=DEFAULT_RECONCILE_AFTER_SECONDS)
    repository.open_session(new_order, stored, claim, replaces=None, first_check=first_check)
    if order.kind == "lost":
        sandbox.complete(session.token, "paid", deliver=False)


def _write_settled(dynamodb, orders: list[Order]) -> None:
    """Orders whose notification came, in the state it left them (PAID or FAILED, out of the index)."""

    def item(order: Order, index: int) -> dict:
        token = "sess-" + uuid.uuid4().hex
        status = "PAID" if index % 2 else "FAILED"
        opened = iso_utc(order.opens_at)
        settled = iso_utc(order.opens_at + timedelta(minutes=1 + index % 10))
        session = {
            "currency": {"S": "CLP"},
            "signature_token": {"S": uuid.uuid4().hex + uuid.uuid4().hex},
            "status": {"S": status},
            "created_at": {"S": opened},
            "updated_at": {"S": settled},
            "expires_at": {"S": iso_utc(order.opens_at + timedelta(seconds=DEFAULT_SESSION_LIFETIME_SECONDS))},
            "payment_url": {"S": f"https://pmt.example/session/{token}"},
        }
        return {
            "pk": {"S": ORDER_PREFIX + order.order_id},
            "kind": {"S": "order"},
            "merchant_order_id": {"S": order.order_id},
            "order_amount": {"N": str(AMOUNT)},
            "currency": {"S": "CLP"},
            "status": {"S": status},
            "session_token": {"S": token},
            "payment_url": {"S": f"https://pmt.example/session/{token}"},
            "created_at": {"S": opened},
            "updated_at": {"S": settled},
            "sessions": {"M": {token: {"M": session}}},
        }

    batches = [orders[start : start + BATCH_WRITE_LIMIT] for start in range(0, len(orders), BATCH_WRITE_LIMIT)]

    def write(numbered: tuple[int, list[Order]]) -> None:
        offset, batch = numbered
        requests = [{"PutRequest": {"Item": item(order, offset + index)}} for index, order in enumerate(batch)]
        while requests:
            answer = dynamodb.batch_write_item(RequestItems={TABLE: requests})
            requests = answer.get("UnprocessedItems", {}).get(TABLE, [])

    with ThreadPoolExecutor(max_workers=SEED_THREADS) as pool:
        list(pool.map(write, [(index * BATCH_WRITE_LIMIT, batch) for index, batch in enumerate(batches)]))


def _replay_today(data: list[Order], write_units: float, read_units: float) -> Figures:
    """Today's reconciler on the same data: every 5 minutes the 50 longest-waiting PENDING
    sessions older than 15 minutes are asked about; a lost payment is then PAID, an abandoned
    session goes to the back of the queue. Normal orders leave the queue when their notification
    comes (within 10 minutes, before any check).

    Its units are priced like ours: a write costs the table what an UpdateItem of an order cost in
    the run (`write_units`), a consistent read what a GetItem did (`read_units`); its index
    (KEYS_ONLY, one partition) is charged 2 units when a write moves an order's sort key (the
    requeue: DynamoDB deletes and puts the index entry) and 1 when the order leaves it; its query
    of 50 keys, one page, half a unit (eventually consistent, under 4 KB)."""
    queue: list[tuple[datetime, int]] = []  # (pending_since, index): the sparse index, oldest first
    kinds = {}
    for index, order in enumerate(data):
        if order.kind != "normal":
            heapq.heappush(queue, (order.opens_at, index))
            kinds[index] = order.kind
    calls: Counter[int] = Counter()
    lost_left = sum(kind == "lost" for kind in kinds.values())
    lost_paid_after = None
    reads = writes = 0.0
    # Index writes: every order's session opened (1) and settled (1), and every requeue (1): all
    # on the one key value "PENDING".
    index_writes = 2 * sum(order.kind == "normal" for order in data) + len(kinds)
    now = START
    while now - START <= OLD_HORIZON and queue:
        now += OLD_EVERY
        batch = []
        while queue and len(batch) < OLD_BATCH and queue[0][0] < now - OLD_AFTER:
            batch.append(heapq.heappop(queue))
        reads += 0.5
        for _, index in batch:
            calls[index] += 1
            reads += read_units
            index_writes += 1
            if kinds[index] == "lost":
                writes += write_units + 1  # PAID: out of the index
                lost_left -= 1
                if lost_left == 0:
                    lost_paid_after = now - START
            else:
                writes += write_units + 2  # the requeue moves its index entry
                heapq.heappush(queue, (now, index))
    return Figures(
        name="today's (50 per 5-minute run)",
        simulated=None,
        wall_seconds=None,
        lost_paid_after=lost_paid_after,
        abandoned_ended=False,
        max_calls=max(calls.values()) if calls else 0,
        calls_total=sum(calls.values()),
        read_units=reads,
        write_units=writes,
        busiest_key_share=1.0,
        index_keys=1,
        notes=[
            f"replayed over {OLD_HORIZON.days} simulated days: abandoned sessions never end, and each is asked "
            "about again every few hours for as long as the replay runs",
            f"index writes in the replay: {index_writes:,}, all on one key value",
        ],
    )


def duration(value: timedelta | None) -> str:
    if value is None:
        return "never"
    hours, rest = divmod(int(value.total_seconds()), 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min"


def markdown(report: ScaleReport) -> str:
    ours, today = report.ours, report.today
    rows = [
        ("until every abandoned session is EXPIRED and every lost payment PAID (simulated)",
         duration(ours.simulated), "never: abandoned sessions never end"),
        ("... in wall-clock time on this machine", f"{ours.wall_seconds:.0f} s" if ours.wall_seconds else "-",
         "- (bound by its schedule, not by work)"),
        ("until the last lost payment is PAID (simulated)", duration(ours.lost_paid_after),
         duration(today.lost_paid_after)),
        ("ETpay status calls for the most-asked session", str(ours.max_calls),
         f"{today.max_calls} after {OLD_HORIZON.days} days, and growing"),
        ("ETpay status calls in all", f"{ours.calls_total:,}", f"{today.calls_total:,} in {OLD_HORIZON.days} days"),
        ("DynamoDB read units (table and index)", f"{ours.read_units:,.0f}",
         f"{today.read_units:,.0f} in {OLD_HORIZON.days} days"),
        ("DynamoDB write units (table and index)", f"{ours.write_units:,.0f}",
         f"{today.write_units:,.0f} in {OLD_HORIZON.days} days"),
        ("share of index writes on the busiest key value",
         f"{ours.busiest_key_share:.1%} (of {ours.index_keys} values)", "100% (one value, PENDING)"),
    ]  # fmt: skip
    lines = ["| measure | sweep + workers | today's reconciler |", "|---|---|---|"]
    lines += [f"| {measure} | {new} | {old} |" for measure, new, old in rows]
    notes = "\n".join(f"- {note}" for note in ours.notes + today.notes)
    return (
        f"{report.orders:,} orders opening over one simulated hour: {report.abandoned:,} abandoned, "
        f"{report.lost:,} paid with their notification lost, the rest notified within 10 minutes. "
        f"Workers: {report.concurrency} at a time (ReconcileConcurrency). The settled orders were written in "
        f"{report.seed_seconds:.0f} s before the run.\n\n" + "\n".join(lines) + ("\n\n" + notes if notes else "")
    )


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    result = run(orders=size, progress=lambda text: print(text, file=sys.stderr, flush=True))
    print(markdown(result))  # noqa: T201 - the CLI's own output

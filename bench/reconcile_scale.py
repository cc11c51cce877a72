"""The reconciler at scale: 100,000 orders on DynamoDB Local, the sandbox answering the status checks.

Orders open uniformly over one simulated hour: 30% abandoned (ETpay never has a result), 1% paid
with their notification lost (ETpay's status API says paid), the rest notified (paid or failed)
within ten minutes. The shipped sweep (`Sweep.run`) runs once a simulated minute and its checks
(`CheckSession.check`) `concurrency` at a time, on a real DynamoDB engine and the sandbox over HTTP.
The orders notified in time are written settled, in bulk: they leave the check index before their
first check is due, so the reconciler never reads them (DynamoDB Local's few hundred writes a second
would make it most of an hour); their two index writes each still count in the spread.

It runs in a process of its own (`in_subprocess`, for the bench and the test): Powertools quiet,
its metrics (not made for threads) never sent."""

import dataclasses
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import urllib3
from aws_lambda_powertools import Logger

from bench.functions import open_session
from etpay.client import EtpayClient
from etpay.credentials import Credentials
from local.emulator.dynamodb_local import DynamoDBLocal, client
from local.emulator.template import ROOT, table_definitions
from local.etpay_sandbox import EtpaySandbox
from payments.adapters.check_index import CheckIndex
from payments.adapters.dynamodb import to_item
from payments.adapters.order_codec import ORDER_PREFIX, pending_shard, session_values
from payments.adapters.order_store import OrderStore
from payments.adapters.session_claims import SessionClaims
from payments.app import telemetry
from payments.app.reconciliation import CheckOutcome, CheckSession, Sweep
from payments.config.settings import DEFAULT_RECONCILE_AFTER_SECONDS, DEFAULT_SESSION_LIFETIME_SECONDS, Settings
from payments.domain.checks import CheckTask
from payments.domain.clock import iso_utc
from payments.domain.orders import Status
from payments.domain.sessions import opened_session

# The process's environment: a quiet service whose metrics are counted in memory, never printed.
ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "reconcile-scale",
    "POWERTOOLS_METRICS_NAMESPACE": "EtpayPaymentsBench",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "POWERTOOLS_METRICS_DISABLED": "true",
}
TABLE = "etpay-orders-scale"
START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
OPENING_WINDOW = timedelta(hours=1)
AMOUNT = 50_000
LIFETIME = timedelta(seconds=DEFAULT_SESSION_LIFETIME_SECONDS)
FIRST_CHECK = timedelta(seconds=DEFAULT_RECONCILE_AFTER_SECONDS)
# A run that has not finished by then is reported as not finished.
MAX_SIMULATED = timedelta(hours=12)
SEED_THREADS = 16
# Workers at a time: a production-like ReconcileConcurrency (the template's default is 5), enough
# to keep DynamoDB Local busy.
CONCURRENCY = 8
# The service's loggers are children of the function's; here this one is their parent.
logger = Logger()
BATCH_WRITE_LIMIT = 25


@dataclass
class Order:
    order_id: str
    opens_at: datetime
    kind: str  # "abandoned", "lost" (paid, notification lost) or "normal"
    token: str = ""


@dataclass
class ScaleReport:
    orders: int
    abandoned: int
    lost: int
    concurrency: int
    seed_seconds: float = 0.0  # writing the orders notified in time, before the run
    simulated: timedelta | None = None  # until every abandoned session ended and every lost payment was paid
    wall_seconds: float = 0.0  # of the sweeps and checks alone
    lost_paid_after: timedelta | None = None  # until the last lost payment was PAID
    abandoned_ended: bool = False
    max_calls: int = 0  # ETpay status calls for the most-asked session
    calls_total: int = 0
    read_units: float = 0.0
    write_units: float = 0.0
    busiest_key_share: float = 1.0  # of the index's writes, on its busiest partition key value
    index_keys: int = 0
    # How many index key values the orders' ids hash to: what index_keys is, spread perfectly.
    order_shards: int = 0
    notes: list[str] = field(default_factory=list)


def plan(orders: int, abandoned_share: float, lost_share: float, seed: int) -> list[Order]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible mix of orders, not a secret
    kinds = ["abandoned"] * round(orders * abandoned_share) + ["lost"] * round(orders * lost_share)
    kinds += ["normal"] * (orders - len(kinds))
    rng.shuffle(kinds)
    step = OPENING_WINDOW / orders
    # Ids from the same seeded draw: a run and its shard spread are the same every time.
    return [
        Order(f"SC-{index:06d}-{rng.getrandbits(24):06x}", START + index * step, kind)
        for index, kind in enumerate(kinds)
    ]


class CapacityMeter:
    """Read and write units DynamoDB reports for every request of a client (it is asked to:
    ReturnConsumedCapacity=INDEXES, the table's and each index's), and the index writes by
    partition key value."""

    def __init__(self) -> None:
        self.read_units = 0.0
        self.write_units = 0.0
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
        units = (parsed.get("ConsumedCapacity") or {}).get("CapacityUnits", 0) or 0
        with self._lock:
            if model.name in ("GetItem", "Query", "Scan", "BatchGetItem"):
                self.read_units += units
            else:
                self.write_units += units

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


def run(orders: int, concurrency: int = CONCURRENCY, seed: int = 7, progress=lambda text: None) -> ScaleReport:
    data = plan(orders, abandoned_share=0.30, lost_share=0.01, seed=seed)
    kinds = Counter(order.kind for order in data)
    report = ScaleReport(orders, kinds["abandoned"], kinds["lost"], concurrency)
    settings = Settings(table_name=TABLE, currency="CLP", max_order_amount=7_000_000)
    with (
        DynamoDBLocal() as engine,
        EtpaySandbox("scale-merchant", "scale-api-token-0123456789", port=0, keep_alive=True) as sandbox,
    ):
        dynamodb = client(engine.endpoint, max_pool_connections=max(SEED_THREADS, concurrency) * 2)
        dynamodb.create_table(TableName=TABLE, **table_definitions()["OrdersTable"])
        meter = CapacityMeter()
        checks = CheckIndex(TABLE, dynamodb)
        credentials = Credentials.from_mapping(sandbox.credentials())
        pool = urllib3.PoolManager(num_pools=2, maxsize=concurrency, retries=False)
        clock = SimulatedClock()
        sweep = Sweep(checks, timedelta(seconds=settings.reconcile_after_seconds), clock)
        checker = CheckSession(OrderStore(TABLE, dynamodb), checks, lambda: EtpayClient(credentials, pool=pool), clock)

        seeding = time.monotonic()
        settled = [order for order in data if order.kind == "normal"]
        _write_settled(dynamodb, settled)
        for order in settled:  # opened (into the index) and settled (out of it)
            meter.count_index_write(order.order_id)
            meter.count_index_write(order.order_id)
        report.seed_seconds = time.monotonic() - seeding
        progress(f"{len(settled)} settled orders written in {report.seed_seconds:.0f} s")

        # From here on every DynamoDB request is the stack's own: count it.
        meter.attach(dynamodb)
        dynamodb.meta.events.register("before-call.dynamodb", _index_write_hook(meter))
        pending = [order for order in data if order.kind != "normal"]
        _simulate(report, clock, sweep, checker, SessionClaims(TABLE, dynamodb), sandbox, pending, meter, progress)

    calls = [sandbox.status_requests.get(order.token, 0) for order in pending]
    report.max_calls, report.calls_total = max(calls), sum(calls)
    report.read_units, report.write_units = meter.read_units, meter.write_units
    report.busiest_key_share = max(meter.index_writes.values()) / sum(meter.index_writes.values())
    report.index_keys = len(meter.index_writes)
    report.order_shards = len({pending_shard(order.order_id) for order in data})
    return report


def _simulate(report, clock, sweep, checker, claims, sandbox, pending, meter, progress) -> None:
    """A sweep and its checks every simulated minute, sessions opening at their time, until every
    pending session has ended."""
    to_open = list(pending)
    outcomes: Counter[CheckOutcome] = Counter()
    with (
        ThreadPoolExecutor(max_workers=SEED_THREADS) as openers,
        ThreadPoolExecutor(max_workers=report.concurrency) as workers,
    ):
        while clock.now - START <= MAX_SIMULATED:
            clock.now += timedelta(minutes=1)
            due_to_open = [order for order in to_open if order.opens_at <= clock.now]
            to_open = to_open[len(due_to_open) :]
            list(openers.map(lambda order: _open(claims, sandbox, order), due_to_open))
            queue: list[CheckTask] = []
            working = time.monotonic()
            meter.counting = True
            sweep.run(dispatch=queue.extend, has_time=lambda: True)
            outcomes.update(workers.map(checker.check, queue))
            meter.counting = False
            report.wall_seconds += time.monotonic() - working
            paid, expired = outcomes[CheckOutcome.PAID], outcomes[CheckOutcome.EXPIRED]
            if report.lost_paid_after is None and paid >= report.lost:
                report.lost_paid_after = clock.now - START
            if paid + expired >= len(pending) and not to_open:
                report.simulated = clock.now - START
                break
            if (clock.now - START).seconds % (15 * 60) == 0:
                progress(f"simulated {clock.now - START}: {paid} paid, {expired} expired")
    report.abandoned_ended = outcomes[CheckOutcome.EXPIRED] == report.abandoned
    if report.simulated is None:
        report.notes.append(f"not finished after {MAX_SIMULATED}: {dict(outcomes)}")


def _open(claims: SessionClaims, sandbox: EtpaySandbox, order: Order) -> None:
    """POST /sessions for the order at its simulated time; a lost payment's payer pays at once."""
    order.token = open_session(claims, sandbox, order.order_id, order.opens_at, LIFETIME, FIRST_CHECK).token
    if order.kind == "lost":
        sandbox.complete(order.token, "paid", deliver=False)


def _write_settled(dynamodb, orders: list[Order]) -> None:
    """Orders whose notification came, in the state it left them (PAID or FAILED, out of the index)."""

    def item(order: Order, index: int) -> dict[str, Any]:
        token, url = "sess-" + uuid.uuid4().hex, "https://pmt.example/session"
        _, session = opened_session(None, order.order_id, AMOUNT, "CLP", token, uuid.uuid4().hex * 2, url,
                                    order.opens_at, LIFETIME)  # fmt: skip
        settled = replace(session, status=Status.PAID if index % 2 else Status.FAILED,
                          updated_at=iso_utc(order.opens_at + timedelta(minutes=1 + index % 10)))  # fmt: skip
        return to_item({"pk": ORDER_PREFIX + order.order_id, "kind": "order", "merchant_order_id": order.order_id,
                        "order_amount": AMOUNT, "currency": "CLP", "status": settled.status.value,
                        "session_token": token, "payment_url": url, "created_at": settled.created_at,
                        "updated_at": settled.updated_at, "sessions": {token: session_values(settled)}})  # fmt: skip

    batches = [orders[start : start + BATCH_WRITE_LIMIT] for start in range(0, len(orders), BATCH_WRITE_LIMIT)]

    def write(numbered: tuple[int, list[Order]]) -> None:
        offset, batch = numbered
        requests = [{"PutRequest": {"Item": item(order, offset + index)}} for index, order in enumerate(batch)]
        while requests:
            answer = dynamodb.batch_write_item(RequestItems={TABLE: requests})
            requests = answer.get("UnprocessedItems", {}).get(TABLE, [])

    with ThreadPoolExecutor(max_workers=SEED_THREADS) as pool:
        list(pool.map(write, [(index * BATCH_WRITE_LIMIT, batch) for index, batch in enumerate(batches)]))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min"


def markdown(report: dict[str, Any]) -> str:
    """The run's section of docs/BENCHMARKS.md, from in_subprocess's report."""
    rows = [
        ("until every abandoned session is EXPIRED and every lost payment PAID (simulated)",
         duration(report["simulated"])),
        ("... the sweeps and checks in wall-clock time on this machine", f"{report['wall_seconds']:.0f} s"),
        ("until the last lost payment is PAID (simulated)", duration(report["lost_paid_after"])),
        ("ETpay status calls for the most-asked session", str(report["max_calls"])),
        ("ETpay status calls in all", f"{report['calls_total']:,}"),
        ("DynamoDB read units (table and index)", f"{report['read_units']:,.0f}"),
        ("DynamoDB write units (table and index)", f"{report['write_units']:,.0f}"),
        ("share of index writes on the busiest key value",
         f"{report['busiest_key_share']:.1%} (of {report['index_keys']} values)"),
    ]  # fmt: skip
    notes = "".join(f"\n- {note}" for note in report["notes"])
    return (
        f"{report['orders']:,} orders opening over one simulated hour: {report['abandoned']:,} abandoned, "
        f"{report['lost']:,} paid with their notification lost, the rest notified within 10 minutes. "
        f"Workers: {report['concurrency']} at a time (ReconcileConcurrency). The orders notified in time were "
        f"written in {report['seed_seconds']:.0f} s before the run.\n\n"
        + "\n".join(["| measure | sweep + workers |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)])
        + notes
    )


def in_subprocess(orders: int, progress: Callable[[str], None] = lambda text: None) -> dict[str, Any]:
    """run() in a process of its own (python -m bench.reconcile_scale): its report, as JSON values."""
    environment = os.environ | ENVIRONMENT | {"PYTHONPATH": f"{ROOT / 'layers' / 'etpay'}:{ROOT}"}
    with subprocess.Popen(  # noqa: S603 - this interpreter and the bench's own module
        [sys.executable, "-m", "bench.reconcile_scale", str(orders)], cwd=ROOT, env=environment,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        assert process.stderr is not None and process.stdout is not None
        said: deque[str] = deque(maxlen=40)
        for line in process.stderr:
            said.append(line)
            progress(line.rstrip())
        output = process.stdout.read()
    if process.returncode != 0 or not output:
        raise RuntimeError(f"the scale run failed ({process.returncode}):\n{''.join(said)}")
    report: dict[str, Any] = json.loads(output)
    return report


if __name__ == "__main__":
    if any(os.environ.get(name) != value for name, value in ENVIRONMENT.items()):
        raise SystemExit(f"run it with its environment: {ENVIRONMENT} (in_subprocess does)")
    # Powertools' metric set is one per process and not made for threads (Lambda runs one invocation
    # per process); the workers here are threads, and the run counts its outcomes itself. Only in
    # this process: importing the module (as a test does for in_subprocess) changes nothing.
    telemetry.metrics.add_metric = lambda **_: None  # type: ignore[method-assign]
    result = run(orders=int(sys.argv[1]), progress=lambda text: print(text, file=sys.stderr, flush=True))
    print(json.dumps(dataclasses.asdict(result), default=lambda value: value.total_seconds()))

"""POST /sessions and GET /orders/{id}: open (or hand out again) an ETpay session for an order, and
read an order. Knows nothing of API Gateway; speaks to ETpay and DynamoDB only through its ports.

Opening a session is a claim, then ETpay, then one write: the claim (a conditional write) gives this
request alone the right to ask ETpay for the order's next session; the session ETpay opened is
stored, and the claim released, in one conditional write. Any failure in between releases the claim.
"""

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from etpay.errors import EtpayResponseError, EtpayTimeout, EtpayUnavailable
from etpay.sessions import CreatedSession, SessionRequest
from payments.app import telemetry
from payments.app.ports import Etpay, NotificationKeys, OrderStore, SessionClaims
from payments.app.telemetry import logger
from payments.domain.checks import check_times
from payments.domain.clock import Clock, parse_iso, utc_now
from payments.domain.errors import (
    ConcurrentUpdate,
    EtpayFailed,
    EtpayTimedOut,
    OrderBusy,
    OrderNotFound,
    StorageUnavailable,
)
from payments.domain.orders import Order, Status, StoredOrder
from payments.domain.policy import MAX_DECISION_ATTEMPTS, MAX_SESSIONS_PER_ORDER
from payments.domain.sessions import (
    ClaimNext,
    Refuse,
    Reuse,
    SessionStart,
    decide_session_request,
    opened_session,
    request_in_progress,
    session_request,
)


@dataclass(frozen=True)
class SessionResult:
    """The order a session request left, and whether it opened a new session."""

    order: Order
    created: bool  # True: a new ETpay session was opened by this call


@dataclass(frozen=True)
class Claimed:
    """The claim on an order is ours: we may ask ETpay for its next session."""

    replaces: Order | None  # the order whose last session ended unpaid; None: a brand-new order


@dataclass(frozen=True)
class SessionTerms:
    """How this stack opens sessions (its deployment settings)."""

    currency: str
    lifetime: timedelta
    first_check_after: timedelta
    default_success_url: str | None = None
    default_cancellation_url: str | None = None
    # ETpay is not asked when less than this is left of the invocation: its own time cap plus one
    # whole attempt to store the session it opens.
    time_needed_seconds: float = 0.0


class OpenSession:
    def __init__(
        self,
        orders: OrderStore,
        claims: SessionClaims,
        terms: SessionTerms,
        etpay: Callable[[], Etpay],
        notification_keys: NotificationKeys,
        clock: Clock = utc_now,
    ):
        self._orders = orders
        self._claims = claims
        self._terms = terms
        # A factory, not a client: credentials are only read when ETpay is really needed.
        self._etpay = etpay
        self._notification_keys = notification_keys
        self._clock = clock

    def start_session(
        self,
        request: SessionStart,
        notification_url: str | None,
        seconds_left: Callable[[], float] = lambda: math.inf,
    ) -> SessionResult:
        order_id = request.merchant_order_id
        claim_id = uuid.uuid4().hex
        outcome = self._claim(request, claim_id)
        if isinstance(outcome, SessionResult):
            return outcome
        previous = outcome.replaces

        try:
            # Credentials are read only once ETpay is really needed; a failure releases the claim.
            client = self._etpay()
            if seconds_left() < self._terms.time_needed_seconds:
                # AWS was slow so far: an ETpay session opened now might never be stored before the
                # invocation is cut off, leaving the claim to block retries. Let the caller retry.
                logger.warning("too little time left to ask ETpay and store the session")
                raise StorageUnavailable("AWS answered too slowly; retry the request")
            created = self._ask_etpay(client, self._etpay_request(request, notification_url))
        except BaseException:
            self._claims.release_claim(order_id, claim_id, new_order=previous is None)
            raise

        new_order, session = opened_session(
            previous,
            order_id,
            request.order_amount,
            configured_currency=self._terms.currency,
            session_token=created.token,
            signature_token=created.signature_token,
            payment_url=client.credentials.funnel_url(created.token),
            now=self._clock(),
            lifetime=self._terms.lifetime,
        )
        opened = parse_iso(session.created_at)
        first_check = check_times(opened, parse_iso(session.expires_at), self._terms.first_check_after)[0]
        try:
            self._claims.open_session(
                new_order,
                session,
                claim_id,
                replaces=previous.session_token if previous else None,
                first_check=first_check,
            )
        except ConcurrentUpdate:
            # Our claim expired and another invocation took over; the session we just opened was
            # never shown to anyone, so no money can move through it.
            logger.warning("session claim lost while opening a session")
            return self._answer_for_busy_order(request)
        except BaseException:
            self._claims.release_claim(order_id, claim_id, new_order=previous is None)
            raise
        telemetry.count(telemetry.SESSION_CREATED)
        # DEBUG, as every routine success: the session.created event and the SessionCreated metric
        # record it, and at INFO the logs carry what went wrong. At INFO this one line was about a
        # quarter of POST /sessions' warm CPU beyond its bare handler (docs/BENCHMARKS.md compares them).
        logger.debug("payment session opened", extra={"order_status": Status.PENDING.value})
        return SessionResult(new_order, created=True)

    def get_order(self, merchant_order_id: str) -> Order:
        order = self._orders.get_order(merchant_order_id)
        if order is None:
            raise OrderNotFound(f"no order {merchant_order_id}")
        return order

    def _claim(self, request: SessionStart, claim_id: str) -> Claimed | SessionResult:
        """Carry out decide_session_request until it is settled: either the claim (the right to ask
        ETpay for the order's next session) is ours, or the answer needs no ETpay call. Each claim
        is a conditional write that, when refused, returns what is stored, and the first one
        assumes a new order: a new order costs one write, an existing one no extra read. A refusal
        (another request won a race, a crashed claim was taken over first) is decided again."""
        order_id, amount, currency = request.merchant_order_id, request.order_amount, self._terms.currency
        stored: StoredOrder | None = None
        for _ in range(MAX_DECISION_ATTEMPTS):
            now = self._clock()
            decision = decide_session_request(stored, amount, now, MAX_SESSIONS_PER_ORDER, currency)
            if isinstance(decision, Refuse):
                raise decision.error
            if isinstance(decision, Reuse):
                telemetry.count(telemetry.SESSION_REUSED)
                return SessionResult(decision.order, created=False)
            replaces = decision.replaces if isinstance(decision, ClaimNext) else None
            if replaces is None:
                stored = self._claims.claim_new_order(order_id, amount, currency, claim_id, now)
            else:
                stored = self._claims.claim_next_session(replaces, claim_id, now)
            if stored is None:
                return Claimed(replaces)
        raise OrderBusy("the order is busy; retry the request")

    def _answer_for_busy_order(self, request: SessionStart) -> SessionResult:
        """Our claim expired while ETpay answered and another request took the order over: answer
        from what is stored now, without asking ETpay again."""
        stored = self._claims.get_stored_order(request.merchant_order_id)
        decision = decide_session_request(
            stored, request.order_amount, self._clock(), MAX_SESSIONS_PER_ORDER, self._terms.currency
        )
        match decision:
            case Reuse(order):
                return SessionResult(order, created=False)
            case Refuse(error):
                raise error
            case _:
                raise request_in_progress(request.merchant_order_id)

    def _etpay_request(self, request: SessionStart, notification_url: str | None) -> SessionRequest:
        return session_request(
            request,
            notification_url,
            self._notification_keys.current() if notification_url else "",
            self._terms.default_success_url,
            self._terms.default_cancellation_url,
        )

    @staticmethod
    def _ask_etpay(client: Etpay, request: SessionRequest) -> CreatedSession:
        try:
            return client.initialize_session(request)
        except EtpayTimeout as error:
            telemetry.count(telemetry.ETPAY_TIMEOUT)
            logger.error("ETpay session creation timed out", extra={"problem": str(error)})
            raise EtpayTimedOut("ETpay did not answer in time; retry the request") from None
        except (EtpayUnavailable, EtpayResponseError) as error:
            telemetry.count(telemetry.ETPAY_ERROR)
            logger.error(
                "ETpay session creation failed",
                extra={"problem": str(error), "etpay_status": getattr(error, "status", None)},
            )
            raise EtpayFailed("ETpay could not create the payment session; retry the request") from None

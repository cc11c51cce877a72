"""The sandbox's state and behaviour: sessions, results, signed notifications, failure injection.

The HTTP side (`routes.py`) only parses requests and renders answers; everything ETpay would
decide is decided here, so the Python API and the HTTP API cannot disagree.
"""

import json
import logging
import secrets
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import jwt
import urllib3

from local.etpay_sandbox import rules
from local.etpay_sandbox.model import (
    Answer,
    ConnectionDropped,
    DeliveryFailed,
    DeliveryRefused,
    NothingToDeliver,
    SandboxSession,
    SessionFinished,
    UnknownSession,
    known_bank,
)
from local.etpay_sandbox.routes import SandboxRequestHandler

logger = logging.getLogger("etpay_sandbox")
# payment(): "the status the session recorded", as opposed to any raw value (None included).
_RECORDED = object()


@dataclass(frozen=True)
class _InjectedFailure:
    mode: str
    status: int
    delay: float
    retry_after: int | None = None


class _Server(ThreadingHTTPServer):
    """Knows its request threads and sockets, so stop() can join them and cut the stuck ones."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, sandbox: "EtpaySandbox"):
        self.sandbox = sandbox
        self._active: dict[threading.Thread, socket.socket] = {}
        self._active_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any) -> None:
        # A TCP server's request is its connection's socket (a datagram server's would be a pair).
        connection = request if isinstance(request, socket.socket) else request[1]
        thread = threading.Thread(
            target=self._serve_one, args=(connection, client_address), name="etpay-sandbox-request", daemon=True
        )
        with self._active_lock:
            self._active[thread] = connection
        thread.start()

    def _serve_one(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._active_lock:
                self._active.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out and hang up are part of the game (hang, slow): not an error.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            logger.debug("client went away: %s", type(sys.exc_info()[1]).__name__)
        else:
            logger.exception("the sandbox failed to answer a request")

    def finish_requests(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        for thread in list(self._in_flight()):
            thread.join(max(0.0, deadline - time.monotonic()))
        for thread, request in self._in_flight().items():
            try:
                request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            thread.join(1.0)

    def _in_flight(self) -> dict[threading.Thread, socket.socket]:
        with self._active_lock:
            return dict(self._active)


class EtpaySandbox:
    """A fake ETpay on 127.0.0.1: merchant API, payment funnel, status API and a control API."""

    def __init__(
        self,
        merchant_code: str = "sandbox-merchant",
        merchant_api_token: str = "sandbox-api-token",  # noqa: S107 - a local test credential
        host: str = "127.0.0.1",
        port: int = 0,
        merchant_name: str = "Sandbox Shop",
        currency: str = rules.DEFAULT_CURRENCY,
        keep_alive: bool = False,
    ):
        if host not in rules.LOOPBACK_HOSTS:
            raise ValueError("the sandbox only listens on 127.0.0.1")
        self.merchant_code = merchant_code
        self.merchant_api_token = merchant_api_token
        # Off by default: an idle kept-alive connection holds stop() for its grace period.
        self.keep_alive = keep_alive
        self.merchant_name = merchant_name
        # Chile or Mexico, by currency: the banks, the session fields and the claims of that country.
        self.country = rules.country_for(currency)
        self.currency = currency
        self.sessions: dict[str, SandboxSession] = {}
        self.initialize_requests: list[Any] = []
        self._failures: list[_InjectedFailure] = []
        self._status_failures: list[_InjectedFailure] = []
        # How often each session was asked about through the status API (a session's token: count).
        self.status_requests: dict[str, int] = {}
        # merchant_order_id -> (token, signature_token) that its next session will get.
        self._reserved: dict[str, tuple[str, str]] = {}
        self._lock = threading.RLock()
        # Each hang waits on the gate that was current when it started; release_hangs() opens it and
        # puts a closed one in its place, so it never lets through a hang injected afterwards.
        self._hang_gate = threading.Event()
        self._stopping = threading.Event()
        self._http = urllib3.PoolManager(
            retries=False,
            timeout=urllib3.Timeout(
                connect=rules.DELIVERY_CONNECT_TIMEOUT_SECONDS, read=rules.DELIVERY_READ_TIMEOUT_SECONDS
            ),
        )
        self._server = _Server((host, port), SandboxRequestHandler, self)
        self._thread: threading.Thread | None = None
        self._stopped = False

    # -- lifecycle -------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return self.base_url

    @property
    def pmt_url(self) -> str:
        return self.base_url

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> "EtpaySandbox":
        if self._stopped:
            raise RuntimeError("a stopped sandbox cannot start again; create a new one")
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": rules.SHUTDOWN_POLL_SECONDS},
                name="etpay-sandbox",
                daemon=True,
            )
            self._thread.start()
            logger.info("ETpay sandbox listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        self.release_hangs()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
        self._server.finish_requests(rules.STOP_GRACE_SECONDS)
        self._http.clear()
        logger.info("ETpay sandbox stopped")

    def __enter__(self) -> "EtpaySandbox":
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    def credentials(self) -> dict[str, str]:
        """What the merchant's Secrets Manager secret holds for this ETpay."""
        return {
            "merchant_code": self.merchant_code,
            "merchant_api_token": self.merchant_api_token,
            "api_url": self.api_url,
            "pmt_url": self.pmt_url,
        }

    def funnel_url(self, token: str) -> str:
        return f"{self.pmt_url}/session/{token}"

    # -- failure injection ---------------------------------------------------------------------------
    def fail_next_initialize(
        self, mode: str, count: int = 1, status: int = 500, delay: float = 0, retry_after: int | None = None
    ) -> None:
        """Make the next `count` calls to /session/initialize fail as `mode` says (see README.md)."""
        if mode not in rules.FAILURE_MODES:
            raise ValueError(f"mode must be one of {sorted(rules.FAILURE_MODES)}")
        if type(count) is not int or count < 1:
            raise ValueError("count must be a positive integer")
        if type(status) is not int or not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
        if delay < 0:
            raise ValueError("delay must not be negative")
        with self._lock:
            self._failures.extend(_InjectedFailure(mode, status, float(delay), retry_after) for _ in range(count))

    def fail_next_status_checks(self, count: int = 1, status: int = 429, retry_after: int | None = None) -> None:
        """The next `count` calls to /merchant/check_payment_status answer `status` (with
        Retry-After when given): ETpay telling the reconciler to slow down, or failing."""
        if type(count) is not int or count < 1:
            raise ValueError("count must be a positive integer")
        if type(status) is not int or not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status")
        with self._lock:
            self._status_failures.extend(_InjectedFailure("error", status, 0.0, retry_after) for _ in range(count))

    def release_hangs(self) -> None:
        """Let every request currently held by `hang` go on (it is then answered normally)."""
        with self._lock:
            gate, self._hang_gate = self._hang_gate, threading.Event()
        gate.set()

    def reserve_session(self, merchant_order_id: str, token: str, signature_token: str) -> None:
        """The next session opened for this order gets these tokens, so a notification signed
        in advance (events/notification.json) verifies against it. Once only."""
        with self._lock:
            self._reserved[merchant_order_id] = (token, signature_token)

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()
            self._status_failures.clear()

    # -- ETpay's merchant API --------------------------------------------------------------------------
    def initialize(self, body: Any) -> Answer:
        """POST /session/initialize. `body` is the parsed JSON (None when it was not JSON)."""
        with self._lock:
            self.initialize_requests.append(body)
            failure = self._failures.pop(0) if self._failures else None
            gate = self._hang_gate
        if failure is not None:
            injected = self._injected(failure, gate)
            if injected is not None:
                return injected
        if not isinstance(body, dict):
            return Answer(400, {"message": "the body must be a JSON object"})
        if body.get("merchant_code") != self.merchant_code or body.get("merchant_api_token") != self.merchant_api_token:
            return Answer(401, {"message": "invalid merchant credentials"})
        problem = rules.session_request_problem(body, self.country)
        if problem:
            return Answer(400, {"message": problem})
        session = self.open_session(body)
        return Answer(
            200,
            {"token": session.token, "signature_token": session.signature_token, "terms_url": self.country.terms_url},
        )

    def open_session(self, request: dict[str, Any]) -> SandboxSession:
        """A session as /session/initialize opens it for a valid `request` (ETpay's field names),
        without the HTTP round trip: the scale benchmark opens tens of thousands."""
        with self._lock:
            reserved = self._reserved.pop(request["merchant_order_id"], None)
        token, signature_token = reserved or (
            secrets.token_urlsafe(rules.SESSION_TOKEN_BYTES),
            secrets.token_urlsafe(rules.SIGNATURE_TOKEN_BYTES),
        )
        session = SandboxSession(
            token=token,
            signature_token=signature_token,
            merchant_order_id=request["merchant_order_id"],
            order_amount=request["order_amount"],
            request=request,
            user_bank=known_bank(request.get("user_bank_code"), self.country) or self.country.test_bank,
        )
        with self._lock:
            self.sessions[session.token] = session
        logger.info("session opened for order %s", session.merchant_order_id)
        return session

    def _injected(self, failure: _InjectedFailure, gate: threading.Event) -> Answer | None:
        logger.info("initialize: injected failure %s", failure.mode)
        if failure.mode == "error":
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            return Answer(failure.status, {"message": f"sandbox: injected {failure.status} error"}, headers)
        if failure.mode == "malformed":
            return Answer(200, rules.MALFORMED_BODY)
        if failure.mode == "incomplete":
            return Answer(200, {"token": secrets.token_urlsafe(rules.SESSION_TOKEN_BYTES), "terms_url": None})
        if failure.mode == "hang":
            if not self._stopping.is_set():
                gate.wait()
        elif failure.mode == "slow":
            self._stopping.wait(failure.delay)
        if self._stopping.is_set():
            raise ConnectionDropped
        return None  # released or slow: ETpay got there in the end, answer normally

    def check_payment_status(self, body: Any) -> Answer:
        """POST /merchant/check_payment_status: every session result matching all given keys."""
        if not isinstance(body, dict):
            return Answer(400, {"message": "the body must be a JSON object"})
        if (
            body.get("merchant_api_token") != self.merchant_api_token
            or body.get("merchant_code", self.merchant_code) != self.merchant_code
        ):
            return Answer(401, {"message": "invalid merchant credentials"})
        keys = {name: body[name] for name in ("payment_token", "merchant_order_id", "session_token") if name in body}
        if not keys:
            return Answer(400, {"message": "payment_token, merchant_order_id or session_token is required"})
        if not all(isinstance(value, str) and value for value in keys.values()):
            return Answer(400, {"message": "payment_token, merchant_order_id and session_token must be strings"})
        with self._lock:
            failure = self._status_failures.pop(0) if self._status_failures else None
            if "session_token" in keys:
                self.status_requests[keys["session_token"]] = self.status_requests.get(keys["session_token"], 0) + 1
                # The token names at most one session: no scan of every session (the scale bench
                # asks about tens of thousands).
                one = self.sessions.get(keys["session_token"])
                candidates = [one] if one is not None else []
            else:
                candidates = list(self.sessions.values())
            found = [
                self.payment(session)
                for session in candidates
                if session.finished
                and all(
                    {
                        "payment_token": session.payment_token,
                        "merchant_order_id": session.merchant_order_id,
                        "session_token": session.token,
                    }[name]
                    == value
                    for name, value in keys.items()
                )
            ]
        if failure is not None:
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            return Answer(failure.status, {"message": f"sandbox: injected {failure.status} error"}, headers)
        return Answer(200, found)

    # -- results and notifications -------------------------------------------------------------------
    def session(self, token: str) -> SandboxSession:
        try:
            return self.sessions[token]
        except KeyError:
            raise UnknownSession("no such sandbox session") from None

    def payment(self, session: SandboxSession, payment_status: Any = _RECORDED, /, **overrides: Any) -> dict[str, Any]:
        """The payment object ETpay signs into a notification and returns from the status API, with
        the values of the merchant's country (currency, banks, accounts)."""
        accounts = self.country.account_claims
        claims = {
            "session_token": session.token,
            "merchant_order_id": session.merchant_order_id,
            "merchant_amount": session.order_amount,
            "merchant_currency": self.currency,
            "merchant_name": self.merchant_name,
            "merchant_account": accounts["merchant_account"],
            "merchant_account_bank": accounts["merchant_account_bank"],
            "merchant_account_type": accounts["merchant_account_type"],
            "user_bank": session.user_bank,
            "user_rut": session.request.get("user_rut", accounts["user_rut"]),
            "user_account": accounts["user_account"],
            "payment_token": self._payment_token(session),
            "payment_status": session.payment_status if payment_status is _RECORDED else payment_status,
            "payment_process": rules.PAYMENT_PROCESS,
            "iat": int(time.time()),
        }
        claims.update(overrides)
        return claims

    def _payment_token(self, session: SandboxSession) -> str:
        # One payment per session: the id is made the first time anything needs it and then kept,
        # so a notification built ahead of complete() names the payment the status API reports.
        with self._lock:
            if session.payment_token is None:
                session.payment_token = rules.PAYMENT_TOKEN_PREFIX + secrets.token_urlsafe(rules.PAYMENT_TOKEN_BYTES)
            return session.payment_token

    def notification_jwt(self, token: str, /, outcome: Any = "paid", **claim_overrides: Any) -> str:
        """The notification ETpay would send for `outcome`, signed with the session's key; not sent."""
        session = self.session(token)
        claims = self.payment(session, rules.payment_status_for(outcome), **claim_overrides)
        return jwt.encode(claims, session.signature_token, algorithm=rules.JWT_ALGORITHM)

    def complete(
        self,
        token: str,
        outcome: Any = "paid",
        deliver: bool = True,
        user_bank: str | None = None,
        flow: str | None = None,
    ) -> dict[str, Any]:
        """The payer finishes in the funnel: record the result, sign it, notify the merchant. In
        Mexico `flow` is the one the payer used (target_flow, else their pick; SPEI by default)."""
        session = self.session(token)
        payment_status = rules.payment_status_for(outcome)
        with self._lock:
            if session.finished:
                raise SessionFinished(f"the session is already {session.status}")
            session.payment_status = payment_status
            session.status = rules.session_status_for(payment_status)
            if user_bank:
                session.user_bank = user_bank
            if self.country is rules.MEXICO:
                session.flow = session.target_flow or (flow if flow in rules.TARGET_FLOWS else rules.TARGET_FLOWS[0])
            notification = self.notification_jwt(token, payment_status)
            session.notifications.append(notification)
        logger.info("session for order %s is %s", session.merchant_order_id, session.status)
        result = {"jwt": notification, "delivery_status": None, "delivery_body": None, "delivery_error": None}
        if deliver:
            result.update(self._deliver_to_webhook(session, notification))
        return result

    def redeliver(self, token: str, index: int = -1) -> dict[str, Any]:
        """Send again a notification complete() built (ETpay may deliver more than once)."""
        session = self.session(token)
        try:
            notification = session.notifications[index]
        except IndexError:
            raise NothingToDeliver("no such notification for this session") from None
        if not session.webhook_url:
            raise NothingToDeliver("the session has no payment_webhook_url")
        result = {"jwt": notification, "delivery_status": None, "delivery_body": None, "delivery_error": None}
        result.update(self._deliver_to_webhook(session, notification))
        return result

    def deliver(self, notification: str, url: str) -> tuple[int, Any]:
        """POST `{"payment": <jwt>}` to `url` on this machine; the answer's status and (JSON) body."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.hostname not in rules.LOOPBACK_HOSTS:
            raise DeliveryRefused("the sandbox only delivers to http(s)://127.0.0.1 or localhost")
        try:
            response = self._http.request(
                "POST",
                url,
                body=json.dumps({"payment": notification}),
                headers={"Content-Type": "application/json"},
                redirect=False,
            )
        except urllib3.exceptions.HTTPError as error:
            raise DeliveryFailed(f"notification URL unreachable: {type(error).__name__}") from None
        try:
            body: Any = json.loads(response.data)
        except ValueError:
            body = response.data.decode(errors="replace")
        logger.info("notification delivered to %s: %s", parts.netloc, response.status)
        return response.status, body

    def _deliver_to_webhook(self, session: SandboxSession, notification: str) -> dict[str, Any]:
        url = session.webhook_url
        if not url:
            return {"delivery_error": "no payment_webhook_url"}
        try:
            status, body = self.deliver(notification, url)
        except DeliveryRefused as error:
            logger.warning("notification not delivered: %s", error)
            return {"delivery_error": str(error)}
        except DeliveryFailed as error:
            logger.warning("notification not delivered: %s", error)
            return {"delivery_error": str(error)}
        return {"delivery_status": status, "delivery_body": body}

    # -- control surface -------------------------------------------------------------------------------
    def describe(self, session: SandboxSession) -> dict[str, Any]:
        """A session as the control API lists it. It shows signature_token on purpose: it is a test
        surface; real ETpay never shows a session's key after /session/initialize."""
        return {
            "token": session.token,
            "signature_token": session.signature_token,
            "merchant_order_id": session.merchant_order_id,
            "order_amount": session.order_amount,
            "status": session.status,
            "payment_token": session.payment_token,
            "payment_status": session.payment_status,
            "flow": session.flow,
            "notifications": len(session.notifications),
            "funnel_url": self.funnel_url(session.token),
        }

    def describe_all(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self.describe(session) for session in self.sessions.values()]

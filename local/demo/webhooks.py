"""The merchant's webhook endpoint, on 127.0.0.1: what a merchant's own system would run. Every
webhook is checked with the `standardwebhooks` library, as the merchant would check it, given the
secret in its canonical form `whsec_<value>`; each arrival is reported (`payment.succeeded for
OC-1, signature ok`) and kept for tests and the demo.

Answers 204 to a webhook that verifies and 401 to one that does not. Tests and scenarios can make
it answer something else for the next webhooks (`answer_next`), hang (`hang_next`), or stop and
start again (down for a while). When the stack's clock is moved (`clock_offset`), the merchant's
clock is too: a webhook's timestamp is checked against the moved clock.
"""

import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from local.emulator.processes import serve_in_background, stop_serving

logger = logging.getLogger("local.webhooks")

SECRET_PREFIX = "whsec_"
# A body bigger than this is not one of our webhooks.
MAX_BODY_BYTES = 1024 * 1024
# How long a stopped receiver's port is retried on start() (another process may hold it briefly).
REBIND_SECONDS = 5.0
# standardwebhooks' own tolerance of a timestamp's distance from the receiver's clock.
TIMESTAMP_TOLERANCE_SECONDS = 5 * 60


@dataclass(frozen=True)
class ReceivedWebhook:
    id: str | None
    type: str | None
    merchant_order_id: str | None
    verified: bool
    problem: str | None
    body: str = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    received_at: float  # time.monotonic()

    def describe(self) -> str:
        check = "signature ok" if self.verified else f"signature NOT ok ({self.problem})"
        return f"{self.type} for {self.merchant_order_id}, {check}"


@dataclass
class _Answer:
    status: int
    hang_seconds: float = 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], receiver: "WebhookReceiver"):
        self.receiver = receiver
        self.down = False  # stopped: a kept-alive connection gets no answer either
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "MerchantWebhooks/1.0"
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the standard library's name
        pass  # each webhook is reported once, by the receiver

    def do_POST(self) -> None:  # noqa: N802 - the standard library's name
        if self.server.down:
            self.close_connection = True
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            return self._answer(400)
        answer = self.server.receiver.take(self.rfile.read(length), {k.lower(): v for k, v in self.headers.items()})
        if answer.hang_seconds:
            time.sleep(answer.hang_seconds)
        self._answer(answer.status)

    def _answer(self, status: int) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:
            pass  # the sender gave up waiting (a hang on purpose)


class WebhookReceiver:
    def __init__(
        self,
        port: int = 0,
        on_webhook: Callable[[ReceivedWebhook], None] | None = None,
        clock_offset: Callable[[], float] = float,
    ):
        self.requested_port = port
        self.on_webhook = on_webhook  # told of each webhook as it arrives (the live terminal prints it)
        self._clock_offset = clock_offset
        self._secret: str | None = None
        self._lock = threading.Condition()
        self._answers: list[_Answer] = []
        self.received: list[ReceivedWebhook] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0  # 0 until started; then kept, so a restart listens where the stack sends

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks"

    @property
    def running(self) -> bool:
        return self._server is not None

    def set_secret(self, secret: str) -> None:
        """The webhook secret as Secrets Manager holds it (with or without `whsec_`)."""
        self._secret = secret if secret.startswith(SECRET_PREFIX) else SECRET_PREFIX + secret

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> "WebhookReceiver":
        self._server = self._bind()
        self.port = int(self._server.server_address[1])
        self._thread = serve_in_background(self._server, "merchant-webhooks")
        return self

    def _bind(self) -> _Server:
        if not self.port:
            try:
                return _Server(("127.0.0.1", self.requested_port), self)
            except OSError:
                if not self.requested_port:
                    raise
                return _Server(("127.0.0.1", 0), self)  # the stack warns, saying what the move affects
        # Started before: the same port again (its URL is in the stack's configuration).
        deadline = time.monotonic() + REBIND_SECONDS
        while True:
            try:
                return _Server(("127.0.0.1", self.port), self)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop listening: senders then see their connection refused. start() listens again on the same port."""
        server, self._server = self._server, None
        if server is not None:
            server.down = True
            stop_serving(server, self._thread)
        self._thread = None

    # -- behaviour for tests and scenarios ---------------------------------------------------------
    def answer_next(self, status: int, times: int = 1) -> None:
        with self._lock:
            self._answers.extend(_Answer(status) for _ in range(times))

    def hang_next(self, seconds: float, times: int = 1) -> None:
        """Hold the next webhooks this long before answering 204 (longer than the sender waits)."""
        with self._lock:
            self._answers.extend(_Answer(204, hang_seconds=seconds) for _ in range(times))

    # -- receiving -------------------------------------------------------------------------------
    def take(self, body: bytes, headers: dict[str, str]) -> _Answer:
        webhook = self._check(body, headers)
        if self.on_webhook is not None:
            self.on_webhook(webhook)
        with self._lock:
            self.received.append(webhook)
            forced = self._answers.pop(0) if self._answers else None
            self._lock.notify_all()
        return forced or _Answer(204 if webhook.verified else 401)

    def _verify(self, text: str, headers: dict[str, str]) -> None:
        if self._secret is None:
            raise WebhookVerificationError("no secret to check with")
        offset = self._clock_offset()
        if not offset:
            Webhook(self._secret).verify(text, headers)
            return
        # The clock is moved: the timestamp is checked against the moved clock, the signature with the library.
        try:
            timestamp = int(headers["webhook-timestamp"])
            signatures = [s.split(",", 1)[1] for s in headers["webhook-signature"].split() if s.startswith("v1,")]
            expected = Webhook(self._secret).sign(headers["webhook-id"], datetime.fromtimestamp(timestamp, UTC), text)
        except (KeyError, ValueError, IndexError):
            raise WebhookVerificationError("Missing required headers") from None
        if abs(time.time() + offset - timestamp) > TIMESTAMP_TOLERANCE_SECONDS:
            raise WebhookVerificationError("Message timestamp too old or too new")
        if not any(hmac.compare_digest(expected.split(",", 1)[1], signature) for signature in signatures):
            raise WebhookVerificationError("No matching signature found")

    def _check(self, body: bytes, headers: dict[str, str]) -> ReceivedWebhook:
        text = body.decode("utf-8", errors="replace")
        problem = None
        try:
            self._verify(text, headers)
        except WebhookVerificationError as error:
            problem = str(error)
        try:
            payload = json.loads(text)
        except (ValueError, RecursionError):
            payload = None
        data = payload.get("data") if isinstance(payload, dict) else None
        order = data.get("order") if isinstance(data, dict) else None
        order_id = order.get("merchant_order_id") if isinstance(order, dict) else None
        kind = payload.get("type") if isinstance(payload, dict) else None
        return ReceivedWebhook(
            id=headers.get("webhook-id"),
            type=kind if isinstance(kind, str) else None,
            merchant_order_id=order_id if isinstance(order_id, str) else None,
            verified=problem is None,
            problem=problem,
            body=text,
            headers=headers,
            received_at=time.monotonic(),
        )

    def wait_for(
        self, matches: Callable[[ReceivedWebhook], bool], timeout: float, stopping: Callable[[], bool] = lambda: False
    ) -> ReceivedWebhook | None:
        """The first webhook received (now or within `timeout`) for which `matches` holds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = next((webhook for webhook in self.received if matches(webhook)), None)
                remaining = deadline - time.monotonic()
                if found is not None or remaining <= 0 or stopping():
                    return found
                self._lock.wait(min(remaining, 0.1))

    def of_order(self, merchant_order_id: str) -> list[ReceivedWebhook]:
        with self._lock:
            return [webhook for webhook in self.received if webhook.merchant_order_id == merchant_order_id]

"""The sandbox's state and its HTTP server (standard library only, plus PyJWT to sign)."""

import json
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import urllib3

from local.etpay_sandbox import pages

logger = logging.getLogger("etpay_sandbox")

ORDER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
FAILURE_MODES = frozenset({"error", "malformed", "incomplete", "hang", "slow"})
# Notifications go to our own stack on this machine; never wait long for it.
DELIVERY_TIMEOUT = urllib3.Timeout(connect=2.0, read=10.0)
MAX_BODY_BYTES = 64 * 1024
BANKS = (
    ("CL_TEST", "Banco de Prueba (test bank)"),
    ("cl_estado", "BancoEstado"),
    ("cl_santander", "Santander"),
    ("cl_bch", "Banco de Chile"),
    ("cl_bci", "Bci"),
    ("cl_falabella", "Banco Falabella"),
    ("cl_itau", "Itaú"),
    ("cl_scotiabank", "Scotiabank"),
)
OPTIONAL_TYPES = {
    "customer_email": str,
    "metadata": list,
    "user_bank_code": str,
    "user_rut": str,
    "is_rut_block": bool,
    "payment_completed_url": str,
    "payment_cancellation_url": str,
    "payment_webhook_url": str,
    "concat": str,
    "target_flow": str,
    "customer_phone": str,
}


@dataclass
class SandboxSession:
    token: str
    signature_token: str = field(repr=False)
    merchant_order_id: str
    order_amount: int
    request: dict[str, Any] = field(repr=False)
    status: str = "pending"  # pending | paid | failed
    payment_token: str | None = None
    payment_status: Any = None
    bank: str = "CL_TEST"
    notifications: list[str] = field(default_factory=list, repr=False)


@dataclass
class _Failure:
    mode: str
    status: int
    delay: float


class EtpaySandbox:
    def __init__(
        self,
        merchant_code: str = "sandbox-merchant",
        merchant_api_token: str = "sandbox-api-token",  # noqa: S107 - a local test credential
        host: str = "127.0.0.1",
        port: int = 0,
        merchant_name: str = "Sandbox Shop",
        currency: str = "CLP",
    ):
        if host not in LOOPBACK:
            raise ValueError("the sandbox only listens on loopback")
        self.merchant_code = merchant_code
        self.merchant_api_token = merchant_api_token
        self.merchant_name = merchant_name
        self.currency = currency
        self.sessions: dict[str, SandboxSession] = {}
        self.initialize_requests: list[dict[str, Any]] = []
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._http = urllib3.PoolManager(retries=False, timeout=DELIVERY_TIMEOUT)
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    api_url = pmt_url = base_url

    def start(self) -> "EtpaySandbox":
        self._thread = threading.Thread(target=self._server.serve_forever, name="etpay-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> "EtpaySandbox":
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    def credentials(self) -> dict[str, str]:
        """What the merchant's Secrets Manager secret holds for this 'ETpay'."""
        return {
            "merchant_code": self.merchant_code,
            "merchant_api_token": self.merchant_api_token,
            "api_url": self.api_url,
            "pmt_url": self.pmt_url,
        }

    # -- failure injection ------------------------------------------------------------------------
    def fail_next_initialize(self, mode: str, count: int = 1, status: int = 500, delay: float = 0) -> None:
        if mode not in FAILURE_MODES:
            raise ValueError(f"mode must be one of {sorted(FAILURE_MODES)}")
        with self._lock:
            self._failures.extend(_Failure(mode, status, delay) for _ in range(count))
        if mode == "hang":
            self._release.clear()

    def release_hangs(self) -> None:
        self._release.set()

    def _next_failure(self) -> _Failure | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    # -- ETpay's API ------------------------------------------------------------------------------
    def initialize(self, body: Any) -> tuple[int, Any]:
        with self._lock:
            self.initialize_requests.append(body)
        failure = self._next_failure()
        if failure:
            if failure.mode == "error":
                return failure.status, {"message": "sandbox: injected failure"}
            if failure.mode == "malformed":
                return 200, b"<html>this is not json"
            if failure.mode == "incomplete":
                return 200, {"token": secrets.token_urlsafe(16), "terms_url": None}
            if failure.mode == "hang":
                self._release.wait()
                return 504, {"message": "sandbox: released hang"}
            time.sleep(failure.delay)
        if not isinstance(body, dict):
            return 400, {"message": "body must be a JSON object"}
        if body.get("merchant_code") != self.merchant_code or body.get("merchant_api_token") != self.merchant_api_token:
            return 401, {"message": "invalid merchant credentials"}
        problem = _check_session_body(body)
        if problem:
            return 400, {"message": problem}
        session = SandboxSession(
            token=secrets.token_urlsafe(24),
            signature_token=secrets.token_urlsafe(32),
            merchant_order_id=body["merchant_order_id"],
            order_amount=body["order_amount"],
            request=body,
        )
        with self._lock:
            self.sessions[session.token] = session
        return 200, {"token": session.token, "signature_token": session.signature_token, "terms_url": None}

    def check_payment_status(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or body.get("merchant_api_token") != self.merchant_api_token:
            return 401, {"message": "invalid merchant credentials"}
        keys = {name: body.get(name) for name in ("payment_token", "merchant_order_id", "session_token")}
        keys = {name: value for name, value in keys.items() if value}
        if not keys:
            return 400, {"message": "payment_token, merchant_order_id or session_token is required"}
        found = [
            self.claims(session)
            for session in list(self.sessions.values())
            if session.status != "pending"
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
        return 200, found

    # -- payments ---------------------------------------------------------------------------------
    def claims(self, session: SandboxSession, **overrides: Any) -> dict[str, Any]:
        """Every claim of ETpay's example notification, with fake payer data."""
        values = {
            "session_token": session.token,
            "merchant_order_id": session.merchant_order_id,
            "merchant_amount": session.order_amount,
            "merchant_currency": self.currency,
            "merchant_name": self.merchant_name,
            "merchant_account": "000111222",
            "merchant_account_bank": "cl_estado",
            "merchant_account_type": "checking",
            "user_bank": session.bank,
            "user_rut": "111111111",
            "user_account": "000333444",
            "payment_token": session.payment_token,
            "payment_status": session.payment_status,
            "payment_process": "auto",
            "iat": int(time.time()),
        }
        values.update(overrides)
        return values

    def notification_jwt(self, token: str, outcome: Any = "paid", **overrides: Any) -> str:
        """A notification signed as ETpay signs it, for the session's current or a given outcome."""
        session = self._session(token)
        status = _payment_status(outcome)
        claims = self.claims(session, payment_status=status, **overrides)
        if claims["payment_token"] is None:
            claims["payment_token"] = "sbx-pay-" + secrets.token_hex(8)
        return jwt.encode(claims, session.signature_token, algorithm="HS256")

    def complete(self, token: str, outcome: Any = "paid", deliver: bool = True, bank: str | None = None) -> dict:
        """The payer finishes in the funnel: record the result, sign it, notify the merchant."""
        session = self._session(token)
        with self._lock:
            if session.status != "pending":
                raise ValueError(f"session is already {session.status}")
            session.payment_status = _payment_status(outcome)
            session.status = {True: "paid", False: "failed"}.get(session.payment_status, "pending")
            if session.status == "pending":
                session.status = "unknown"
            session.payment_token = "sbx-pay-" + secrets.token_hex(8)
            if bank:
                session.bank = bank
        token_jwt = jwt.encode(self.claims(session), session.signature_token, algorithm="HS256")
        session.notifications.append(token_jwt)
        result = {"jwt": token_jwt, "delivery_status": None, "delivery_body": None}
        url = session.request.get("payment_webhook_url")
        if deliver and url:
            result["delivery_status"], result["delivery_body"] = self._deliver_quietly(token_jwt, url)
        return result

    def redeliver(self, token: str, index: int = -1) -> dict:
        session = self._session(token)
        token_jwt = session.notifications[index]
        status, body = self.deliver(token_jwt, session.request["payment_webhook_url"])
        return {"jwt": token_jwt, "delivery_status": status, "delivery_body": body}

    def deliver(self, token_jwt: str, url: str) -> tuple[int, Any]:
        """POST `{"payment": jwt}` to a notification URL on this machine."""
        if urlsplit(url).hostname not in LOOPBACK:
            raise ValueError("the sandbox only delivers to loopback addresses")
        response = self._http.request(
            "POST", url, body=json.dumps({"payment": token_jwt}), headers={"Content-Type": "application/json"}
        )
        try:
            body: Any = json.loads(response.data)
        except ValueError:
            body = response.data.decode(errors="replace")
        return response.status, body

    def _deliver_quietly(self, token_jwt: str, url: str) -> tuple[int | None, Any]:
        try:
            return self.deliver(token_jwt, url)
        except ValueError:
            logger.warning("notification not delivered: %s is not on this machine", urlsplit(url).hostname)
        except urllib3.exceptions.HTTPError as error:
            logger.warning("notification delivery failed: %s", type(error).__name__)
        return None, None

    def _session(self, token: str) -> SandboxSession:
        try:
            return self.sessions[token]
        except KeyError:
            raise KeyError(f"no sandbox session {token[:8]}...") from None


def _payment_status(outcome: Any) -> Any:
    """ETpay's example uses booleans; anything else passes through raw."""
    return {"paid": True, "failed": False}.get(outcome, outcome) if isinstance(outcome, str) else outcome


def _check_session_body(body: dict[str, Any]) -> str | None:
    order_id = body.get("merchant_order_id")
    if not isinstance(order_id, str) or not ORDER_ID.match(order_id):
        return "merchant_order_id must be 1 to 64 alphanumeric characters"
    amount = body.get("order_amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 1:
        return "order_amount must be a positive integer"
    for name, kind in OPTIONAL_TYPES.items():
        if name in body and body[name] is not None and not isinstance(body[name], kind):
            return f"{name} has the wrong type"
    for item in body.get("metadata") or []:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("name"), str)
            and isinstance(item.get("value"), str)
            and isinstance(item.get("show"), bool)
        ):
            return "metadata items must be {name: str, value: str, show: bool}"
    if "concat" in body and len(body["concat"]) != 1:
        return "concat must be one character"
    return None


def _redirect_with_jwt(url: str, token_jwt: str, concat: str | None) -> str:
    joiner = "?" if "?" not in url else (concat or "&")
    return f"{url}{joiner}jwt={token_jwt}"


def _handler_for(sandbox: EtpaySandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "EtpaySandbox/1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            # Paths only: bodies carry the API token and JWTs.
            logger.debug("%s %s", self.command, self.path.split("?")[0])

        # -- plumbing ---------------------------------------------------------------------------
        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(min(length, MAX_BODY_BYTES))

        def _json_body(self) -> Any:
            try:
                return json.loads(self._body() or b"null")
            except ValueError:
                return None

        def _send(self, status: int, body: Any, content_type: str = "application/json", headers=None) -> None:
            if isinstance(body, bytes):
                data = body
            elif isinstance(body, str):
                data = body.encode()
            else:
                data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _html(self, status: int, html: str) -> None:
            self._send(status, html, "text/html; charset=utf-8")

        # -- routes -----------------------------------------------------------------------------
        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            path = urlsplit(self.path).path
            parts = [part for part in path.split("/") if part]
            if parts == ["_control", "health"]:
                return self._send(200, {"ok": True})
            if parts == ["_control", "sessions"]:
                return self._send(200, [_describe(s) for s in list(sandbox.sessions.values())])
            if len(parts) == 2 and parts[0] == "session":
                session = sandbox.sessions.get(parts[1])
                if session is None:
                    return self._html(404, pages.not_found())
                return self._html(200, pages.funnel(sandbox, session, BANKS))
            return self._send(404, {"message": "not found"})

        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            path = urlsplit(self.path).path
            parts = [part for part in path.split("/") if part]
            if parts == ["session", "initialize"]:
                status, body = sandbox.initialize(self._json_body())
                return self._send(status, body)
            if parts == ["merchant", "check_payment_status"]:
                status, body = sandbox.check_payment_status(self._json_body())
                return self._send(status, body)
            if len(parts) == 3 and parts[0] == "session" and parts[2] in ("pay", "cancel"):
                return self._funnel_action(parts[1], parts[2])
            if parts and parts[0] == "_control":
                return self._control(parts[1:])
            return self._send(404, {"message": "not found"})

        def _funnel_action(self, token: str, action: str) -> None:
            session = sandbox.sessions.get(token)
            if session is None:
                return self._html(404, pages.not_found())
            form = parse_qs(self._body().decode(errors="replace"))
            bank = (form.get("bank") or ["CL_TEST"])[0]
            try:
                result = sandbox.complete(token, "paid" if action == "pay" else "failed", bank=bank)
            except ValueError:
                return self._html(409, pages.result(session, "This payment is already finished."))
            target = session.request.get(
                "payment_completed_url" if action == "pay" else "payment_cancellation_url"
            )
            if target:
                location = _redirect_with_jwt(target, result["jwt"], session.request.get("concat"))
                return self._send(303, b"", "text/plain", {"Location": location})
            message = "Payment approved." if action == "pay" else "Payment cancelled."
            return self._html(200, pages.result(session, message))

        def _control(self, parts: list[str]) -> None:
            body = self._json_body() or {}
            try:
                if parts == ["initialize-failures"]:
                    sandbox.fail_next_initialize(
                        body.get("mode", "error"),
                        int(body.get("count", 1)),
                        int(body.get("status", 500)),
                        float(body.get("delay", 0)),
                    )
                    return self._send(200, {"ok": True})
                if parts == ["release-hangs"]:
                    sandbox.release_hangs()
                    return self._send(200, {"ok": True})
                if parts == ["deliver"]:
                    status, reply = sandbox.deliver(body["jwt"], body["url"])
                    return self._send(200, {"delivery_status": status, "delivery_body": reply})
                if len(parts) == 3 and parts[0] == "sessions":
                    token, verb = parts[1], parts[2]
                    if verb == "complete":
                        result = sandbox.complete(token, body.get("outcome", "paid"), bool(body.get("deliver", True)))
                        return self._send(200, result)
                    if verb == "redeliver":
                        return self._send(200, sandbox.redeliver(token, int(body.get("index", -1))))
                    if verb == "notification":
                        jwt_ = sandbox.notification_jwt(token, body.get("outcome", "paid"), **body.get("overrides", {}))
                        return self._send(200, {"jwt": jwt_})
            except KeyError as error:
                return self._send(404, {"message": str(error)})
            except (ValueError, TypeError, IndexError) as error:
                return self._send(400, {"message": str(error)})
            return self._send(404, {"message": "no such control"})

    return Handler


def _describe(session: SandboxSession) -> dict[str, Any]:
    # A test control surface: it shows the signature_token on purpose (real ETpay never would).
    return {
        "token": session.token,
        "signature_token": session.signature_token,
        "merchant_order_id": session.merchant_order_id,
        "order_amount": session.order_amount,
        "status": session.status,
        "payment_token": session.payment_token,
    }


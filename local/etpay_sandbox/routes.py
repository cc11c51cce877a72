"""HTTP in and out: parse a request, call one sandbox method, render its answer.

Sandbox errors become HTTP statuses here and nowhere else (`CONTROL_ERRORS`).
"""

import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from local.etpay_sandbox import pages, rules
from local.etpay_sandbox.model import (
    Answer,
    ConnectionDropped,
    DeliveryFailed,
    DeliveryRefused,
    NothingToDeliver,
    SandboxServer,
    SessionFinished,
    UnknownSession,
    known_bank,
)

logger = logging.getLogger("etpay_sandbox.http")
# GET /session/{token}/result: the payer's page after Pay / Cancel when the merchant gave no URL.
RESULT = "result"

CONTROL_ERRORS: tuple[tuple[type[Exception], int], ...] = (
    (UnknownSession, 404),
    (SessionFinished, 409),
    (NothingToDeliver, 409),
    (DeliveryRefused, 400),
    (DeliveryFailed, 502),
)


class BadRequest(Exception):
    """The request itself is unusable (not JSON, a missing or mistyped control field)."""


class BodyTooLarge(Exception):
    pass


def redirect_with_jwt(url: str, notification: str, concat: str | None) -> str:
    """ETpay appends the JWT to the merchant's URL, with `concat` when the URL already has a query."""
    joiner = (concat or "&") if "?" in url else "?"
    return f"{url}{joiner}{rules.REDIRECT_JWT_PARAMETER}={notification}"


class SandboxRequestHandler(BaseHTTPRequestHandler):
    server_version = "EtpaySandbox/1.0"
    timeout = rules.REQUEST_READ_TIMEOUT_SECONDS

    @property
    def sandbox(self) -> Any:
        """The EtpaySandbox serving this request (not imported here: sandbox.py imports this module)."""
        return cast(SandboxServer, self.server).sandbox

    # Headers and body go out as separate writes: with Nagle on, a kept-alive connection stalls on
    # the client's delayed ACK (~40 ms a request).
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        if self.sandbox.keep_alive:
            self.protocol_version = "HTTP/1.1"  # what a real HTTPS API offers pooling clients

    def log_message(self, format: str, *args: Any) -> None:
        # Method and path only: bodies carry merchant_api_token, redirects and bodies carry JWTs.
        logger.debug("%s %s", self.command, urlsplit(self.path).path)

    # -- dispatch ----------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch(self._get)

    def do_POST(self) -> None:
        self._dispatch(self._post)

    def do_PUT(self) -> None:
        self._dispatch(self._elsewhere)

    def do_DELETE(self) -> None:
        self._dispatch(self._elsewhere)

    def do_PATCH(self) -> None:
        self._dispatch(self._elsewhere)

    def _dispatch(self, route: Callable[[list[str]], None]) -> None:
        parts = [part for part in urlsplit(self.path).path.split("/") if part]
        try:
            route(parts)
        except ConnectionDropped:
            self.close_connection = True
        except BodyTooLarge:
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"message": "request body too large"})
        except BadRequest as error:
            self._json(400, {"message": str(error)})
        except tuple(kind for kind, _ in CONTROL_ERRORS) as error:
            status = next(code for kind, code in CONTROL_ERRORS if isinstance(error, kind))
            self._json(status, {"message": str(error)})

    def _get(self, parts: list[str]) -> None:
        if parts == ["_control", "health"]:
            return self._json(200, {"ok": True})
        if parts == ["_control", "sessions"]:
            return self._json(200, self.sandbox.describe_all())
        if len(parts) == 3 and parts[:2] == ["_control", "sessions"]:
            return self._json(200, self.sandbox.describe(self.sandbox.session(parts[2])))
        if len(parts) == 2 and parts[0] == "session":
            return self._funnel(parts[1])
        if len(parts) == 3 and parts[0] == "session" and parts[2] == RESULT:
            return self._result(parts[1])
        if len(parts) == 3 and parts[0] == "session" and parts[2] in ("pay", "cancel"):
            # A reload of the page the Pay / Cancel form posted to, as a GET: back to the funnel,
            # which shows the result once there is one.
            return self._see_other(f"/session/{parts[1]}")
        return self._elsewhere(parts)

    def _post(self, parts: list[str]) -> None:
        if parts == ["session", "initialize"]:
            return self._answer(self.sandbox.initialize(self._json_body(strict=False)))
        if parts == ["merchant", "check_payment_status"]:
            return self._answer(self.sandbox.check_payment_status(self._json_body(strict=False)))
        if len(parts) == 3 and parts[0] == "session" and parts[2] in ("pay", "cancel"):
            return self._funnel_action(parts[1], paid=parts[2] == "pay")
        if parts[:1] == ["_control"]:
            return self._control(parts[1:])
        return self._elsewhere(parts)

    def _elsewhere(self, parts: list[str]) -> None:
        self._json(404, {"message": "not found"})

    # -- the funnel ----------------------------------------------------------------------------------------
    def _funnel(self, token: str) -> None:
        session = self.sandbox.sessions.get(token)
        if session is None:
            return self._html(404, pages.not_found())
        return self._html(200, pages.funnel(self.sandbox, session))

    def _funnel_action(self, token: str, paid: bool) -> None:
        session = self.sandbox.sessions.get(token)
        if session is None:
            return self._html(404, pages.not_found())
        form = parse_qs(self._body().decode(errors="replace"))
        banks, flows = form.get("bank"), form.get("flow")
        bank = known_bank(banks[0] if banks else None, self.sandbox.country)
        try:
            result = self.sandbox.complete(
                token, "paid" if paid else "failed", user_bank=bank, flow=flows[0] if flows else None
            )
        except SessionFinished:
            return self._html(409, pages.already_finished(self.sandbox, session))
        target = session.request.get("payment_completed_url" if paid else "payment_cancellation_url")
        if not target:
            # Post/redirect/get: the result has a URL of its own, so a reload shows it again
            # instead of posting the form a second time.
            return self._see_other(f"/session/{token}/{RESULT}")
        self._see_other(redirect_with_jwt(target, result["jwt"], session.request.get("concat")))

    def _result(self, token: str) -> None:
        session = self.sandbox.sessions.get(token)
        if session is None:
            return self._html(404, pages.not_found())
        if not session.finished:
            return self._see_other(f"/session/{token}")
        return self._html(200, pages.result(self.sandbox, session))

    # -- the control API ------------------------------------------------------------------------------------
    def _control(self, parts: list[str]) -> None:
        body = self._json_body(strict=True)
        if parts == ["health"]:
            return self._json(200, {"ok": True})
        if parts == ["initialize-failures"]:
            try:
                self.sandbox.fail_next_initialize(
                    _field(body, "mode", str, "error"),
                    _field(body, "count", int, 1),
                    _field(body, "status", int, 500),
                    float(_field(body, "delay", (int, float), 0)),
                    _field(body, "retry_after", int, None),
                )
            except ValueError as error:
                raise BadRequest(str(error)) from None
            return self._json(200, {"ok": True})
        if parts == ["release-hangs"]:
            self.sandbox.release_hangs()
            return self._json(200, {"ok": True})
        if parts == ["deliver"]:
            status, reply = self.sandbox.deliver(_field(body, "jwt", str), _field(body, "url", str))
            return self._json(200, {"delivery_status": status, "delivery_body": reply})
        if len(parts) == 3 and parts[0] == "sessions":
            token, action = parts[1], parts[2]
            if action == "complete":
                outcome = body.get("outcome", "paid")
                deliver = _field(body, "deliver", bool, True)
                return self._json(200, self.sandbox.complete(token, outcome, deliver=deliver))
            if action == "redeliver":
                return self._json(200, self.sandbox.redeliver(token, _field(body, "index", int, -1)))
            if action == "notification":
                overrides = _field(body, "overrides", dict, {})
                notification = self.sandbox.notification_jwt(token, body.get("outcome", "paid"), **overrides)
                return self._json(200, {"jwt": notification})
        return self._json(404, {"message": "no such control endpoint"})

    # -- plumbing -------------------------------------------------------------------------------------------
    def _body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise BadRequest("invalid Content-Length") from None
        if length > rules.MAX_BODY_BYTES:
            self.close_connection = True
            raise BodyTooLarge
        return self.rfile.read(length) if length > 0 else b""

    def _json_body(self, strict: bool) -> Any:
        """The parsed JSON body. Not JSON: None for ETpay's endpoints (they answer 400 themselves),
        a 400 for the control API. An empty control body is `{}`."""
        raw = self._body()
        if strict and not raw.strip():
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            if strict:
                raise BadRequest("the body must be JSON") from None
            return None
        if strict and not isinstance(value, dict):
            raise BadRequest("the body must be a JSON object")
        return value

    def _answer(self, answer: Answer) -> None:
        if isinstance(answer.body, bytes):
            return self._send(answer.status, answer.body, "text/html; charset=utf-8", answer.headers)
        return self._send(answer.status, json.dumps(answer.body).encode(), "application/json", answer.headers)

    def _see_other(self, location: str) -> None:
        self._send(303, b"", "text/plain; charset=utf-8", {"Location": location})

    def _json(self, status: int, body: Any) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _html(self, status: int, page: str) -> None:
        self._send(status, page.encode(), "text/html; charset=utf-8")

    def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


_REQUIRED = object()


def _field(body: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = _REQUIRED) -> Any:
    if name not in body:
        if default is _REQUIRED:
            raise BadRequest(f"{name} is required")
        return default
    value = body[name]
    # bool is an int to Python, never to this API.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise BadRequest(f"{name} has the wrong type")
    return value

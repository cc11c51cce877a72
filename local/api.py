"""The template's REST API on 127.0.0.1, as API Gateway's Lambda proxy integration serves it:
each request becomes a REST (v1) proxy event for the function that owns its route, and the
function's proxy response becomes the HTTP answer.

Served at the root, without the stage prefix (like `sam local start-api`), and without the
deployed API's authorization (AWS_IAM / API key): locally, every route is open.
"""

import base64
import binascii
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local.events import api_gateway_event
from local.functions import FunctionTimeout, InvocationError
from local.serving import serve_in_background, stop_serving
from local.template import Route

logger = logging.getLogger("local.api")

# API Gateway's own limit on a request payload.
MAX_REQUEST_BYTES = 10 * 1024 * 1024
# A keep-alive connection left idle this long is closed, so stop() never waits on a browser.
IDLE_CONNECTION_SECONDS = 5.0
# API Gateway's own answers when no function result can be returned.
MISSING_ROUTE = (403, {"message": "Missing Authentication Token"}, "MissingAuthenticationTokenException")
FUNCTION_FAILED = (502, {"message": "Internal server error"}, None)
FUNCTION_TIMED_OUT = (504, {"message": "Endpoint request timed out"}, None)
TOO_LARGE = (413, {"message": "Request Too Long"}, None)
BAD_REQUEST = (400, {"message": "Bad Request"}, None)

Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]


class BadProxyResponse(ValueError):
    pass


@dataclass(frozen=True)
class CompiledRoute:
    route: Route
    pattern: re.Pattern[str]
    static_segments: int  # more literal segments win, as in API Gateway

    @classmethod
    def of(cls, route: Route) -> "CompiledRoute":
        parts, static = [], 0
        for segment in route.path.strip("/").split("/"):
            greedy = re.fullmatch(r"\{(\w+)\+\}", segment)
            named = re.fullmatch(r"\{(\w+)\}", segment)
            if greedy:
                parts.append(f"(?P<{greedy.group(1)}>.+)")
            elif named:
                parts.append(f"(?P<{named.group(1)}>[^/]+)")
            else:
                parts.append(re.escape(segment))
                static += 1
        return cls(route, re.compile("/" + "/".join(parts)), static)


class RouteTable:
    def __init__(self, routes: list[Route]):
        self._routes = sorted((CompiledRoute.of(route) for route in routes), key=lambda c: -c.static_segments)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for compiled in self._routes:
            if compiled.route.method not in (method, "ANY"):
                continue
            found = compiled.pattern.fullmatch(path)
            if found:
                return compiled.route, {name: unquote(value) for name, value in found.groupdict().items()}
        return None


def http_response(proxy: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """A Lambda proxy response as status, headers and body; BadProxyResponse if it is not one."""
    if not isinstance(proxy, dict) or not isinstance(proxy.get("statusCode"), int):
        raise BadProxyResponse("the function returned no statusCode")
    headers: dict[str, list[tuple[str, str]]] = {}
    for name, values in (proxy.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = [(name, str(value)) for value in (values or [])]
    for name, value in (proxy.get("headers") or {}).items():
        headers.setdefault(name.lower(), []).append((name, str(value)))
    body = proxy.get("body") or ""
    if not isinstance(body, str):
        raise BadProxyResponse("the function returned a body that is not a string")
    if proxy.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadProxyResponse("the function returned invalid base64") from None
    else:
        data = body.encode()
    flat = [pair for values in headers.values() for pair in values if pair[0].lower() != "content-length"]
    return proxy["statusCode"], flat, data


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Exchange:
    """One request the API answered over HTTP, as an observer (the live terminal) sees it. The
    bodies are there to read an order id from, never to print: they carry tokens and payer data."""

    method: str
    path: str  # without the query string
    status: int
    route: Route | None  # None: no route of the template matched
    path_parameters: dict[str, str]
    request_body: bytes = field(repr=False)
    response_body: bytes = field(repr=False)


Observer = Callable[[Exchange], None]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], api: "LocalApi"):
        self.api = api
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server  # the server that built this handler: it knows its API
    protocol_version = "HTTP/1.1"
    server_version = "LocalApiGateway/1.0"
    timeout = IDLE_CONNECTION_SECONDS

    def log_message(self, format: str, *args: Any) -> None:
        pass  # each request is logged once, in _serve, without its query string

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_OPTIONS(self) -> None:
        self._serve()

    def _serve(self) -> None:
        started = time.monotonic()
        parts = urlsplit(self.path)
        path = parts.path or "/"
        api: LocalApi = self.server.api
        raw, refused = self._read_body()
        if refused is not None:
            answer, matched = refused, None
        else:
            answer, matched = api.dispatch(self.command, path, parts.query, raw, dict(self.headers.items()))
        if api.observer is not None:
            # Before the answer goes out, so what the observer prints comes before whatever the
            # caller does next.
            route, parameters = matched or (None, {})
            api.observer(Exchange(self.command, path, answer.status, route, parameters, raw, answer.data))
        self._send(answer)
        # Path only: query strings and bodies can carry tokens.
        logger.info("%s %s -> %d (%d ms)", self.command, path, answer.status, (time.monotonic() - started) * 1000)

    def _read_body(self) -> tuple[bytes, Answer | None]:
        """The request's body, or API Gateway's refusal of it."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            return b"", _gateway_error(*BAD_REQUEST)
        if length > MAX_REQUEST_BYTES:
            self.close_connection = True
            return b"", _gateway_error(*TOO_LARGE)
        return (self.rfile.read(length) if length > 0 else b""), None

    def _send(self, answer: Answer) -> None:
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.data)


def _gateway_error(status: int, body: dict[str, str], error_type: str | None) -> Answer:
    headers = [("Content-Type", "application/json")]
    if error_type:
        headers.append(("x-amzn-ErrorType", error_type))
    return Answer(status, headers, json.dumps(body).encode())


def _header(headers: dict[str, str], name: str) -> str | None:
    """HTTP header names are case-insensitive."""
    return next((value for key, value in headers.items() if key.lower() == name.lower()), None)


def _event_body(raw: bytes) -> str | bytes | None:
    """API Gateway passes text through and base64-encodes anything that is not UTF-8."""
    if not raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


class LocalApi:
    """An HTTP server on 127.0.0.1 that hands each route's requests to `invoke(function, event)`.

    `observer`, if given, sees every exchange answered over HTTP, in the request's thread, just
    before the answer is sent; it must not raise."""

    def __init__(
        self,
        routes: list[Route],
        invoke: Invoke,
        port: int = 0,
        stage: str = "sandbox",
        observer: Observer | None = None,
    ):
        self.routes = RouteTable(routes)
        self.invoke = invoke
        self.stage = stage
        self.observer = observer
        self.requested_port = port
        self._server = _bind(port, self)
        self._thread: threading.Thread | None = None

    def call(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
        """What the API answers a request made from this process: no HTTP, and no observer sees it."""
        answer, _ = self.dispatch(method, path, "", body, headers or {})
        return answer

    def dispatch(
        self, method: str, path: str, query: str, raw: bytes, headers: dict[str, str]
    ) -> tuple[Answer, tuple[Route, dict[str, str]] | None]:
        """The answer to one request, and the route (with its path parameters) that took it."""
        matched = self.routes.match(method, path)
        if matched is None:
            return _gateway_error(*MISSING_ROUTE), None
        route, path_parameters = matched
        event = api_gateway_event(
            method,
            route.path,
            path,
            _event_body(raw),
            headers,
            path_parameters or None,
            query=dict(parse_qsl(query, keep_blank_values=True)) or None,
            domain=_header(headers, "Host") or self.host_and_port,
            stage=self.stage,
        )
        try:
            status, response_headers, data = http_response(self.invoke(route.function, event))
        except FunctionTimeout:
            logger.error("%s timed out", route.function)
            return _gateway_error(*FUNCTION_TIMED_OUT), matched
        except InvocationError as error:
            logger.error("%s failed: %s", route.function, error)
            return _gateway_error(*FUNCTION_FAILED), matched
        except BadProxyResponse as error:
            logger.error("%s: malformed Lambda proxy response: %s", route.function, error)
            return _gateway_error(*FUNCTION_FAILED), matched
        response_headers.append(("x-amzn-RequestId", event["requestContext"]["requestId"]))
        return Answer(status, response_headers, data), matched

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def host_and_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host_and_port}"

    def start(self) -> "LocalApi":
        self._thread = serve_in_background(self._server, "local-api")
        return self

    def stop(self) -> None:
        stop_serving(self._server, self._thread)
        self._thread = None


def _bind(port: int, api: LocalApi) -> _Server:
    """The requested port, or any free one when it is taken (LocalStack warns about that)."""
    try:
        return _Server(("127.0.0.1", port), api)
    except OSError:
        if port == 0:
            raise
        return _Server(("127.0.0.1", 0), api)

"""The template's REST API on 127.0.0.1, as API Gateway's Lambda proxy integration serves it:
each request becomes a REST (v1) proxy event (`api_gateway_event`, also used by tests and
scripts/make_events.py) for the function that owns its route, and the function's proxy response
becomes the HTTP answer.

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
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local.emulator.functions import FunctionTimeout, InvocationError
from local.emulator.processes import bind, serve_in_background, stop_serving
from local.emulator.template import Route

logger = logging.getLogger("local.api")

# API Gateway's own limit on a request payload.
MAX_REQUEST_BYTES = 10 * 1024 * 1024
# A keep-alive connection left idle this long is closed, so stop() never waits on a browser.
IDLE_CONNECTION_SECONDS = 5.0
# API Gateway's own answers when no function result can be returned.
MISSING_ROUTE = (403, "Missing Authentication Token", "MissingAuthenticationTokenException")
FUNCTION_FAILED = (502, "Internal server error", None)
FUNCTION_TIMED_OUT = (504, "Endpoint request timed out", None)
TOO_LARGE = (413, "Request Too Long", None)
BAD_REQUEST = (400, "Bad Request", None)
DEFAULT_DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"

Invoke = Callable[[str, dict[str, Any]], Any]


def api_gateway_event(
    method: str,
    resource: str,
    path: str,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    base64_body: bool = False,
    domain: str = DEFAULT_DOMAIN,
    stage: str = "sandbox",
    source_ip: str = "127.0.0.1",
    request_id: str | None = None,
) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event, built the way API Gateway builds it for Lambda."""
    encoded = isinstance(body, bytes) or base64_body
    if encoded:
        raw = body.encode() if isinstance(body, str) else (body or b"")
        body = base64.b64encode(raw).decode()
    headers = headers or {}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "domainName": domain,
            "requestId": request_id or str(uuid.uuid4()),
            "accountId": "123456789012",
            "apiId": domain.split(".")[0],
            "identity": {"sourceIp": source_ip},
        },
        "body": body,
        "isBase64Encoded": encoded,
    }


class BadProxyResponse(ValueError):
    pass


class RouteTable:
    """The routes, the ones with more literal segments first, as API Gateway matches them."""

    def __init__(self, routes: list[Route]):
        compiled = []
        for route in routes:
            parts, static = [], 0
            for segment in route.path.strip("/").split("/"):
                variable = re.fullmatch(r"\{(\w+)(\+?)\}", segment)
                if variable:
                    parts.append(f"(?P<{variable.group(1)}>{'.+' if variable.group(2) else '[^/]+'})")
                else:
                    parts.append(re.escape(segment))
                    static += 1
            compiled.append((static, route, re.compile("/" + "/".join(parts))))
        self._routes = [(route, pattern) for _, route, pattern in sorted(compiled, key=lambda c: -c[0])]

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route, pattern in self._routes:
            found = pattern.fullmatch(path) if route.method in (method, "ANY") else None
            if found:
                return route, {name: unquote(value) for name, value in found.groupdict().items()}
        return None

    def paths(self) -> set[str]:
        return {route.path for route, _ in self._routes}


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
    try:
        data = base64.b64decode(body, validate=True) if proxy.get("isBase64Encoded") else body.encode()
    except (binascii.Error, ValueError):
        raise BadProxyResponse("the function returned invalid base64") from None
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


def _gateway_error(status: int, message: str, error_type: str | None) -> Answer:
    headers = [("Content-Type", "application/json")] + ([("x-amzn-ErrorType", error_type)] if error_type else [])
    return Answer(status, headers, json.dumps({"message": message}).encode())


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"
    server_version = "LocalApiGateway/1.0"
    timeout = IDLE_CONNECTION_SECONDS

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the standard library's name
        pass  # each request is logged once, in _serve, without its query string

    def _serve(self) -> None:
        started = time.monotonic()
        parts = urlsplit(self.path)
        path = parts.path or "/"
        api = self.server.api
        raw, refused = self._read_body()
        answer, matched = (
            (refused, None) if refused else api.dispatch(self.command, path, parts.query, raw, dict(self.headers))
        )
        if api.observer is not None:
            # Before the answer goes out, so what it prints comes before whatever the caller does next.
            route, parameters = matched or (None, {})
            try:
                api.observer(Exchange(self.command, path, answer.status, route, parameters, raw, answer.data))
            except Exception:  # noqa: BLE001 - what the terminal shows must never cost the caller an answer
                logger.exception("the API's observer failed on %s %s", self.command, path)
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.data)
        # Path only: query strings and bodies can carry tokens.
        logger.info("%s %s -> %d (%d ms)", self.command, path, answer.status, (time.monotonic() - started) * 1000)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve  # noqa: N815

    def _read_body(self) -> tuple[bytes, Answer | None]:
        """The request's body, or API Gateway's refusal of it."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_REQUEST_BYTES:
            self.close_connection = True
            return b"", _gateway_error(*(BAD_REQUEST if length < 0 else TOO_LARGE))
        return (self.rfile.read(length) if length > 0 else b""), None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], api: "LocalApi"):
        self.api = api
        super().__init__(address, _Handler)


class LocalApi:
    """An HTTP server on 127.0.0.1 that hands each route's requests to `invoke(function, event)`.

    `observer`, if given, sees every exchange answered over HTTP, in the request's thread, just
    before the answer is sent."""

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
        self._server = bind(lambda address: _Server(address, self), port)
        self._thread: threading.Thread | None = None

    def call(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
        """What the API answers a request made from this process: no HTTP, and no observer sees it."""
        return self.dispatch(method, path, "", body, headers or {})[0]

    def dispatch(
        self, method: str, path: str, query: str, raw: bytes, headers: dict[str, str]
    ) -> tuple[Answer, tuple[Route, dict[str, str]] | None]:
        """The answer to one request, and the route (with its path parameters) that took it."""
        matched = self.routes.match(method, path)
        if matched is None:
            return _gateway_error(*MISSING_ROUTE), None
        route, path_parameters = matched
        try:
            body: str | bytes | None = raw.decode() if raw else None  # API Gateway base64-encodes what is not UTF-8
        except UnicodeDecodeError:
            body = raw
        host = next((value for key, value in headers.items() if key.lower() == "host"), None)
        event = api_gateway_event(
            method,
            route.path,
            path,
            body,
            headers,
            path_parameters or None,
            query=dict(parse_qsl(query, keep_blank_values=True)) or None,
            domain=host or self.host_and_port,
            stage=self.stage,
        )
        try:
            status, response_headers, data = http_response(self.invoke(route.function, event))
        except FunctionTimeout:
            logger.error("%s timed out", route.function)
            return _gateway_error(*FUNCTION_TIMED_OUT), matched
        except (InvocationError, BadProxyResponse) as error:
            logger.error("%s failed: %s", route.function, error)
            return _gateway_error(*FUNCTION_FAILED), matched
        response_headers.append(("x-amzn-RequestId", event["requestContext"]["requestId"]))
        return Answer(status, response_headers, data), matched

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

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

"""What API Gateway checks of a SigV4 request, on our side of the wire: a recording HTTP server on
127.0.0.1 that keeps every request as it arrived (forwarding it to the real API, e.g. the local
stack, or answering what a test queued), and `signature_problems`, which recomputes the signature
from the request as received with botocore's own SigV4 code and the caller's known credentials."""

import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)
# What the server itself writes, rather than relays.
HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "keep-alive", "date", "server"}


@dataclass
class Received:
    method: str
    target: str  # the path and query, as sent
    headers: dict[str, str]  # names in lower case
    body: bytes = field(repr=False)

    @property
    def path(self) -> str:
        return self.target.split("?")[0]


def signature_problems(request: Received, credentials: ReadOnlyCredentials, region: str) -> list[str]:
    """Why API Gateway would refuse the request's signature ([] when it is good): botocore's SigV4
    steps, run over what arrived, with only the headers the signature names."""
    match = AUTHORIZATION.fullmatch(request.headers.get("authorization", ""))
    if match is None:
        return [f"no SigV4 Authorization header: {sorted(request.headers)}"]
    problems = []
    signed = match["signed"].split(";")
    if (match["key"], match["region"], match["service"]) != (credentials.access_key, region, "execute-api"):
        problems.append(f"signed as {match['key']} for {match['service']} in {match['region']}")
    if not {"host", "x-amz-date"} <= set(signed) or match["date"] != request.headers.get("x-amz-date", "")[:8]:
        problems.append(f"host and x-amz-date must be signed, and the dates agree: {signed}")
    token = request.headers.get("x-amz-security-token")
    if credentials.token and ("x-amz-security-token" not in signed or token != credentials.token):
        problems.append("the session token is not carried and signed")
    missing = [name for name in signed if name not in request.headers]
    if missing:
        return [*problems, f"signed headers that did not arrive: {missing}"]
    rebuilt = AWSRequest(
        method=request.method,
        url=f"http://{request.headers['host']}{request.target}",
        data=request.body,
        headers={name: request.headers[name] for name in signed},
    )
    rebuilt.context["timestamp"] = request.headers["x-amz-date"]
    signer = SigV4Auth(credentials, "execute-api", region)
    expected = signer.signature(signer.string_to_sign(rebuilt, signer.canonical_request(rebuilt)), rebuilt)
    if expected != match["signature"]:
        problems.append("the signature does not match the request as received")
    return problems


@dataclass
class Canned:
    status: int
    body: bytes
    headers: dict[str, str]


class RecordingServer:
    """An HTTP server on 127.0.0.1 keeping every request; it answers what a test queued
    (`answer_next`), else forwards the request to `upstream` and relays its answer."""

    def __init__(self, upstream: str | None = None):
        self.upstream = upstream.rstrip("/") if upstream else None
        self.received: list[Received] = []
        self._canned: deque[Canned] = deque()
        self._http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2.0, read=30.0))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer_next(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self._canned.append(Canned(status, data, {"Content-Type": "application/json", **(headers or {})}))

    def answer(self, request: Received) -> Canned:
        self.received.append(request)
        if self._canned:
            return self._canned.popleft()
        if self.upstream is None:
            return Canned(502, b'{"message": "nothing upstream"}', {"Content-Type": "application/json"})
        forwarded = {name: value for name, value in request.headers.items() if name not in ("host", "content-length")}
        response = self._http.request(
            request.method, self.upstream + request.target, body=request.body or None, headers=forwarded, redirect=False
        )
        relayed = {name: value for name, value in response.headers.items() if name.lower() not in HOP_HEADERS}
        return Canned(response.status, response.data, relayed)

    def __enter__(self) -> "RecordingServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.clear()


def _handler(server: RecordingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the standard library's name
            pass

        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            canned = server.answer(Received(self.command, self.path, headers, body))
            self.send_response(canned.status)
            for name, value in canned.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(canned.body)))
            self.end_headers()
            self.wfile.write(canned.body)

        do_GET = do_POST = _serve

    return Handler


# The operator's AWS identity in the tests: distinctive values, so that a test can look for each
# in everything the CLI printed.
OPERATOR = ReadOnlyCredentials(
    "AKIAOPSTESTOPERATOR1", "ops-test-secret-access-key-never-printed", "ops-test-session-token-never-printed"
)


def sign_as(monkeypatch: Any, credentials: ReadOnlyCredentials = OPERATOR) -> ReadOnlyCredentials:
    """The AWS_* variables of an operator with temporary credentials (as SSO or a role gives)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials.secret_key)
    monkeypatch.setenv("AWS_SESSION_TOKEN", credentials.token or "")
    return credentials


def secrets_of(credentials: ReadOnlyCredentials) -> list[str]:
    """What no output may hold: the credentials, and any part of a signature or its header."""
    parts = [credentials.access_key, credentials.secret_key, credentials.token]
    return [part for part in parts if part] + ["AWS4-HMAC-SHA256", "Signature="]

"""The API, called over HTTPS with urllib3, each request signed with SigV4 (service execute-api) by
botocore's own signer. No retries and no redirects: a resolution is sent once, and a signed request
never follows a redirect elsewhere."""

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from ops.target import Target

SERVICE = "execute-api"
# API Gateway gives an integration 29 s: a read that takes longer will not be answered.
CONNECT_SECONDS = 5.0
READ_SECONDS = 35.0
TIMEOUT = urllib3.Timeout(connect=CONNECT_SECONDS, read=READ_SECONDS)
USER_AGENT = "etpay-ops"


@dataclass(eq=False)
class ApiError(Exception):
    """An answer other than the one expected: its status, the API's `error` code and message (or,
    for API Gateway's own answers, its error type), and the request it answered."""

    status: int
    code: str
    message: str
    request: str  # "GET /sandbox/reviews": the method and the URL's path, never its query
    fields: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.request} -> {self.status} {self.code}: {self.message}"


class NoAnswer(Exception):
    """The request got no HTTP answer (refused, timed out, TLS)."""


class BadAnswer(Exception):
    """The API answered with the expected status, but not with what the contract says."""


# The header API Gateway reads an API key from.
API_KEY_HEADER = "x-api-key"
# The review routes: SigV4 in every ApiAuth mode, never an API key.
REVIEW_PATHS = re.compile(r"^/reviews$|^/orders/[^/]+/review$")


class OperatorApi:
    """`api_key`: with ApiAuth=API_KEY the merchant's routes (orders, events, redelivery) take the
    stack's API key, not SigV4; it is sent on those routes only, never on the review routes."""

    def __init__(self, target: Target, http: urllib3.PoolManager | None = None, api_key: str | None = None):
        self.target = target
        self._http = http or urllib3.PoolManager(retries=False, timeout=TIMEOUT)
        self._api_key = api_key

    def get(self, path: str, query: dict[str, str] | None = None) -> Any:
        return self._call("GET", path, query or {}, None, 200)

    def post(self, path: str, body: dict[str, Any] | None, expected: int) -> Any:
        return self._call("POST", path, {}, body, expected)

    def signed_headers(self, method: str, url: str, body: bytes) -> dict[str, str]:
        """What the request carries: SigV4's Authorization, X-Amz-Date (and X-Amz-Security-Token
        for temporary credentials), over the method, the URL, the host and the body."""
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if body:
            headers["Content-Type"] = "application/json"
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(self.target.identity.credentials(), SERVICE, self.target.region).add_auth(request)
        return dict(request.headers.items())

    def _call(self, method: str, path: str, query: dict[str, str], body: dict[str, Any] | None, expected: int) -> Any:
        url = self.target.base_url + path + (f"?{urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else b""
        headers = self.signed_headers(method, url, data)
        if self._api_key and not REVIEW_PATHS.match(path):
            headers[API_KEY_HEADER] = self._api_key
        request = f"{method} {urlsplit(url).path}"
        try:
            response = self._http.request(
                method, url, body=data or None, headers=headers, redirect=False, retries=False, timeout=TIMEOUT
            )
        except urllib3.exceptions.HTTPError as error:
            raise NoAnswer(f"{request}: no answer from {self.target.base_url}: {_why(error)}") from None
        try:
            answer = json.loads(response.data) if response.data else None
        except ValueError:
            answer = None
        if response.status != expected or not isinstance(answer, dict):
            raise _error(response.status, answer, response.headers, request)
        return answer


def _error(status: int, answer: Any, headers: Any, request: str) -> ApiError:
    if not isinstance(answer, dict):
        return ApiError(status, f"http_{status}", "the answer is not the API's JSON", request)
    if isinstance(answer.get("error"), str):
        fields = answer.get("fields")
        found = {str(k): str(v) for k, v in fields.items()} if isinstance(fields, dict) else {}
        return ApiError(status, answer["error"], str(answer.get("message", "")), request, found)
    # API Gateway's own answers (IAM refusals, throttling, a missing route): {"message": ...} or
    # {"Message": ...}, the kind in the x-amzn-ErrorType header.
    message = answer.get("message", answer.get("Message", ""))
    kind = str(headers.get("x-amzn-ErrorType", "")).split(":")[0] or f"http_{status}"
    return ApiError(status, kind, str(message), request)


def _why(error: urllib3.exceptions.HTTPError) -> str:
    # Most specific first: a NewConnectionError is a ConnectTimeoutError to urllib3.
    if isinstance(error, urllib3.exceptions.NameResolutionError):
        return "the host name does not resolve"
    if isinstance(error, urllib3.exceptions.NewConnectionError):
        return "the connection was refused or the host cannot be reached"
    if isinstance(error, urllib3.exceptions.ConnectTimeoutError):
        return f"no connection within {CONNECT_SECONDS:g} s"
    if isinstance(error, urllib3.exceptions.ReadTimeoutError):
        return f"no answer within {READ_SECONDS:g} s"
    if isinstance(error, urllib3.exceptions.SSLError):
        return "TLS failed (certificate or protocol)"
    return type(error).__name__

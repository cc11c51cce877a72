"""The merchant's webhook endpoint over HTTP (payments.app.ports.WebhookPoster): one POST per
attempt, never retried (the queue's schedule retries), never redirected (a 3xx is not delivered).

Each attempt has a deadline for the whole of it: connecting, sending, and the merchant's whole
answer. Socket timeouts alone bound each read, not the attempt: an endpoint sending a byte every
few seconds would hold an attempt for minutes, and the delivery function's timeout would then fail
its whole batch. At the deadline a watchdog shuts the attempt's socket, which ends any read or
write it is blocked in; the attempt is a timeout, retried on the schedule.
"""

import socket
import threading
from collections.abc import Mapping
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from payments.domain.webhooks import CONNECTION_ERROR, TIMEOUT, TLS_ERROR, WEBHOOK_BATCH_SIZE, AttemptOutcome

# A webhook counts as delivered when the merchant answers 2xx within this, connecting included: the
# whole attempt, well under the delivery function's 30 s (all of a batch's attempts run at once).
WEBHOOK_TIMEOUT_SECONDS = 10
# The merchant's answer is not used: at most this much of it is read.
WEBHOOK_MAX_RESPONSE_BYTES = 4096

# The attempt the current thread is making (a batch's webhooks are sent from threads of their own).
_current = threading.local()


class _Attempt:
    """One attempt's sockets, and the watchdog that shuts them at its deadline."""

    def __init__(self, seconds: float):
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> "_Attempt":
        _current.attempt = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _current.attempt = None

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


def _watched(connection: HTTPConnection) -> None:
    attempt = getattr(_current, "attempt", None)
    if attempt is not None:
        attempt.watch(connection.sock)


class _DeadlineHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is None:
            self.connect()
        _watched(self)
        super().request(*args, **kwargs)


class _DeadlineHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is None:
            self.connect()
        _watched(self)
        super().request(*args, **kwargs)


class _DeadlineHTTPPool(HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


def deadline_pool() -> urllib3.PoolManager:
    pool = urllib3.PoolManager(num_pools=2, maxsize=WEBHOOK_BATCH_SIZE, retries=False)
    pool.pool_classes_by_scheme = {"http": _DeadlineHTTPPool, "https": _DeadlineHTTPSPool}
    return pool


class WebhookSender:
    def __init__(self, timeout_seconds: float = WEBHOOK_TIMEOUT_SECONDS, pool: urllib3.PoolManager | None = None):
        self._seconds = timeout_seconds
        self._timeout = urllib3.Timeout(connect=timeout_seconds, read=timeout_seconds, total=timeout_seconds)
        self._pool = pool or deadline_pool()

    def post(self, url: str, body: str, headers: Mapping[str, str]) -> AttemptOutcome:
        with _Attempt(self._seconds) as attempt:
            outcome = self._post(url, body, headers)
        if attempt.expired and not outcome.delivered:
            # Whatever the shut socket raised, what happened is the deadline.
            return AttemptOutcome(False, status_code=outcome.status_code, error=TIMEOUT)
        return outcome

    def _post(self, url: str, body: str, headers: Mapping[str, str]) -> AttemptOutcome:
        try:
            response = self._pool.request(
                "POST",
                url,
                body=body.encode(),
                headers=dict(headers),
                timeout=self._timeout,
                retries=False,
                redirect=False,
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as error:
            return AttemptOutcome(False, error=_error_kind(error))
        status = response.status
        try:
            # The answer itself means nothing to us; a little is read so the connection can be reused.
            complete = len(response.read(WEBHOOK_MAX_RESPONSE_BYTES + 1)) <= WEBHOOK_MAX_RESPONSE_BYTES
        except urllib3.exceptions.HTTPError:
            complete = False
        if complete:
            response.release_conn()
        else:
            response.close()
        # The status is the answer: a 2xx whose body broke off or never ended was still received.
        return AttemptOutcome(200 <= status < 300, status_code=status)


def _error_kind(error: Exception) -> str:
    """What kept an attempt from getting an HTTP answer."""
    reason = getattr(error, "reason", None) if isinstance(error, urllib3.exceptions.MaxRetryError) else error
    if isinstance(reason, urllib3.exceptions.SSLError):
        return TLS_ERROR
    # urllib3 makes a refused or unresolvable connection a kind of connect timeout: not for us.
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        return CONNECTION_ERROR
    if isinstance(reason, urllib3.exceptions.TimeoutError):
        return TIMEOUT
    return CONNECTION_ERROR

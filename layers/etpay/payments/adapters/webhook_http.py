"""The merchant's webhook endpoint over HTTP (payments.app.ports.WebhookPoster): one POST per
attempt, never retried (the queue's schedule retries), never redirected (a 3xx is not delivered).
"""

from collections.abc import Mapping

import urllib3

from payments.domain.webhooks import CONNECTION_ERROR, TIMEOUT, TLS_ERROR, WEBHOOK_BATCH_SIZE, AttemptOutcome

# A webhook counts as delivered when the merchant answers 2xx within this, connecting included.
WEBHOOK_TIMEOUT_SECONDS = 10
# The merchant's answer is not used: at most this much of it is read.
WEBHOOK_MAX_RESPONSE_BYTES = 4096


class WebhookSender:
    def __init__(self, timeout_seconds: float = WEBHOOK_TIMEOUT_SECONDS, pool: urllib3.PoolManager | None = None):
        self._timeout = urllib3.Timeout(connect=timeout_seconds, read=timeout_seconds, total=timeout_seconds)
        self._pool = pool or urllib3.PoolManager(num_pools=2, maxsize=WEBHOOK_BATCH_SIZE, retries=False)

    def post(self, url: str, body: str, headers: Mapping[str, str]) -> AttemptOutcome:
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

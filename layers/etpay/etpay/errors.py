"""One exception per way an ETpay operation can fail, so callers can tell them apart.

Messages never carry credentials, tokens or payer data: they may end up in logs.
"""


class EtpayError(Exception):
    """Base of every ETpay client error."""


class InvalidCredentials(EtpayError):
    """The credentials are missing or malformed (checked before any call)."""


class EtpayUnavailable(EtpayError):
    """ETpay refused the call, answered non-2xx, or could not be reached."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class EtpayRateLimited(EtpayUnavailable):
    """ETpay asked us to slow down: a 429, or any refusal carrying Retry-After. `retry_after` is
    the wait it asked for in seconds (None: it did not say)."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message, status)
        self.retry_after = retry_after


class EtpayResponseError(EtpayError):
    """ETpay answered 2xx with a body we cannot use."""


class EtpayTimeout(EtpayError):
    """ETpay did not answer in time. For session creation the outcome is unknown."""


class InvalidNotification(EtpayError):
    """A notification JWT that must not be trusted. `reason` is for logs only, never for replies."""

    def __init__(self, reason: str):
        super().__init__("invalid notification")
        self.reason = reason

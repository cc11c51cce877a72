"""X-Ray tracing for the functions, only when it is on. Powertools' Tracer loads the X-Ray SDK (and
patches botocore) even when tracing is disabled: a function traced by nobody pays that at every
cold start. Tracing is on when the template's `Tracing` parameter is Active (TRACING_MODE; unset
counts as Active, the default) and POWERTOOLS_TRACE_DISABLED is not set (the local stack and the
tests set it); otherwise the functions get decorators that do nothing.
"""

import os
from collections.abc import Callable
from typing import Any, Protocol, overload


class Tracing(Protocol):
    """What the functions use of Powertools' Tracer (its signatures)."""

    def capture_lambda_handler(
        self,
        lambda_handler: Callable[..., Any] | None = None,
        capture_response: bool | None = None,
        capture_error: bool | None = None,
    ) -> Callable[..., Any]: ...

    @overload
    def capture_method[F: Callable[..., Any]](self, method: F) -> F: ...

    @overload
    def capture_method[F: Callable[..., Any]](
        self, method: None = None, capture_response: bool | None = None, capture_error: bool | None = None
    ) -> Callable[[F], F]: ...


class Untraced:
    """Tracer's decorators, doing nothing: `@capture_method` and `@capture_method(...)` alike."""

    def capture_lambda_handler(
        self,
        lambda_handler: Callable[..., Any] | None = None,
        capture_response: bool | None = None,
        capture_error: bool | None = None,
    ) -> Callable[..., Any]:
        if lambda_handler is not None:
            return lambda_handler
        return _unchanged

    @overload
    def capture_method[F: Callable[..., Any]](self, method: F) -> F: ...

    @overload
    def capture_method[F: Callable[..., Any]](
        self, method: None = None, capture_response: bool | None = None, capture_error: bool | None = None
    ) -> Callable[[F], F]: ...

    def capture_method(
        self,
        method: Callable[..., Any] | None = None,
        capture_response: bool | None = None,
        capture_error: bool | None = None,
    ) -> Callable[..., Any]:
        return method if method is not None else _unchanged


def _unchanged[F: Callable[..., Any]](function: F) -> F:
    return function


def tracing_disabled() -> bool:
    if os.environ.get("TRACING_MODE", "Active") != "Active":
        return True
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in ("1", "true", "yes")


def tracer() -> Tracing:
    if tracing_disabled():
        return Untraced()
    # Imported only when tracing is on: it loads the X-Ray SDK.
    from aws_lambda_powertools import Tracer

    tracing: Tracing = Tracer()
    return tracing

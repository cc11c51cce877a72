"""Tracing follows the template's `Tracing` parameter: Powertools' Tracer (and the X-Ray SDK) only
when it is Active and nobody turned it off."""

import aws_lambda_powertools
import pytest

from payments.config import tracing


@pytest.mark.parametrize(
    ("mode", "disabled", "traced"),
    [
        (None, None, True),  # the default: Active
        ("Active", None, True),
        ("Active", "true", False),  # the local stack and the tests
        ("PassThrough", None, False),
        ("PassThrough", "false", False),
    ],
)
def test_tracing_is_on_only_when_active_and_not_disabled(monkeypatch, mode, disabled, traced):
    for name, value in (("TRACING_MODE", mode), ("POWERTOOLS_TRACE_DISABLED", disabled)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)

    # Powertools' real Tracer would patch botocore for the whole test process: a stand-in.
    monkeypatch.setattr(aws_lambda_powertools, "Tracer", StandInTracer)

    assert tracing.tracing_disabled() is not traced
    assert isinstance(tracing.tracer(), StandInTracer if traced else tracing.Untraced)


class StandInTracer:
    pass

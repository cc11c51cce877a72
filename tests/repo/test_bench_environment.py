"""make bench runs the built functions with an environment of its own (bench/stack.py). A variable
the template adds must reach it, or the benchmark measures a function that refuses every request
(it did: the notification key's secret was missing, and every cold POST /sessions answered 503)."""

import sys
from pathlib import Path

import pytest

from local.emulator.template import function_environment

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
# bench/ is on sys.path at run time only (above); mypy's mypy_path does not hold it.
from coldstart import SERVICE  # type: ignore[import-not-found]  # noqa: E402
from stack import BenchStack  # type: ignore[import-not-found]  # noqa: E402

# What the benchmark leaves to the function's default, and why that measures the same code.
LEFT_TO_DEFAULTS = {
    "DEFAULT_SUCCESS_URL": "empty in the template's default too: ETpay's onboarding default",
    "DEFAULT_CANCELLATION_URL": "empty in the template's default too: ETpay's onboarding default",
    "SESSION_LIFETIME_SECONDS": "the template's default is the code's default",
    "POWERTOOLS_TRACER_CAPTURE_ERROR": "tracing is off: there is no X-Ray daemon here",
    "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "tracing is off: there is no X-Ray daemon here",
}


@pytest.mark.parametrize("function", sorted(SERVICE))
def test_the_benchmark_gives_each_function_every_variable_of_the_template(function):
    bench = BenchStack.__new__(BenchStack)
    bench.aws_endpoint = "http://127.0.0.1:1"
    bench.reconcile_queue_url = "http://127.0.0.1:1/123456789012/queue"

    given = set(bench.function_environment(SERVICE[function]))

    assert set(function_environment(function)) - given - set(LEFT_TO_DEFAULTS) == set()

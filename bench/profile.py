"""Where a function's warm invocations spend their CPU: `python -m bench.profile FUNCTION...`
(`make profile FUNCTIONS="PaymentsFunction NotificationsFunction"`) runs the function in this
process on the bench's stack (moto and the ETpay sandbox, the template's environment, tracing on as
deployed, or off with --untraced, as the bench compares it with its bare baseline), warms it up,
then profiles many invocations and prints the functions that took the CPU, library code included.
The bench's own event-making is left out of the profile.

The profiler is the standard library's, on this thread's CPU clock: a warm invocation is mostly
waiting on AWS and ETpay, which a wall-clock sampler (pyinstrument) shows as time in recv, and the
ETpay sandbox's threads run in this process, whose CPU is not the function's.

What the warm CPU ratios of docs/BENCHMARKS.md come from: look here for what our code adds over its
bare baseline's."""

import argparse
import contextlib
import cProfile
import importlib
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.functions import BY_NAME
from bench.stack import BenchStack
from local.emulator.template import ROOT


class Context:
    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench-request"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 25_000


def profile(stack: BenchStack, name: str, invocations: int, warmups: int, lines: int, traced: bool = True) -> str:
    function = BY_NAME[name]
    saved = dict(os.environ)
    os.environ.update(stack.environment(name, traced))
    sys.path.insert(0, str(ROOT / "functions" / function.code))
    sys.modules.pop("app", None)
    # The handler's logs and metrics go where Lambda's would not be read: written, as in Lambda.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        try:
            app: Any = importlib.import_module("app")
            profiler, cpu_s = cProfile.Profile(), 0.0
            for index in range(warmups + invocations):
                # Each event made just before its invocation, outside the profile: a sweep's event
                # replaces the check the sweep before it leased, and would find none made ahead.
                event = function.event(stack)
                started = time.thread_time()
                if index >= warmups:
                    profiler.enable()
                answer = app.lambda_handler(event, Context())
                profiler.disable()
                if index >= warmups:
                    cpu_s += time.thread_time() - started
                assert function.expected(answer), f"{name} answered {str(answer)[:300]}"
            cpu_ms = cpu_s * 1000 / invocations
        finally:
            sys.path.remove(str(ROOT / "functions" / function.code))
            sys.modules.pop("app", None)
            os.environ.clear()
            os.environ.update(saved)
    report = io.StringIO()
    report.write(
        f"{cpu_ms:.2f} ms of this thread's CPU per invocation, profiled (the profiler's own cost included; "
        "the work of threads the function starts is in the profile, not in this figure)\n"
    )
    statistics = pstats.Stats(profiler, stream=report).strip_dirs()
    statistics.sort_stats("cumulative").print_stats(lines)
    statistics.sort_stats("tottime").print_stats(lines)
    return report.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("functions", nargs="+", choices=sorted(BY_NAME), metavar="FUNCTION")
    parser.add_argument("--invocations", type=int, default=300)
    parser.add_argument("--warmups", type=int, default=20)
    parser.add_argument("--lines", type=int, default=40, help="functions listed, by cumulative and own time")
    parser.add_argument("--untraced", action="store_true", help="tracing off, as the bench compares with bare")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir, BenchStack(Path(workdir)) as stack:
        for name in arguments.functions:
            tracing = "off" if arguments.untraced else "on"
            print(f"== {name}: {arguments.invocations} warm invocations, tracing {tracing}")
            traced = not arguments.untraced
            print(profile(stack, name, arguments.invocations, arguments.warmups, arguments.lines, traced))


if __name__ == "__main__":
    main()

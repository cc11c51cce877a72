"""One Lambda execution environment, measured: run as a script by a bare interpreter
(`python -S -P -B lambda_runner.py [--inspect]`, without site-packages nor the script's directory)
whose PYTHONPATH is Lambda's: the function's directory, the layer, then the packages Lambda's
runtime ships. The standard library only: everything else must come from that path, as in Lambda.

It imports `app`, then runs `app.lambda_handler` on each event read from stdin (a JSON line each)
until stdin closes, and answers on stdout with JSON lines: the import's figures, each event's, then
its peak RSS. The handler's own output (its logs) goes to stderr. With --inspect, also the AWS
requests (botocore's operations) of the import (a function that reads its secrets ahead reads them
there) and of each event, and at the end the modules loaded from the path (not the standard
library's): what tests/repo/test_cold_start_budget.py holds to budgets.
"""

import importlib
import json
import os
import sys
import time

inspect = sys.argv[1:] == ["--inspect"]
results = os.fdopen(os.dup(1), "w", encoding="utf-8")
os.dup2(2, 1)
calls: list[str] = []


class CountCalls:
    """Wraps botocore's one door to AWS as soon as the handler (or a library) imports it, so
    clients made at import are counted too; the runner itself imports no botocore."""

    def find_spec(self, name, path=None, target=None):
        if name != "botocore.client":
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.loader is not None
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            call = module.BaseClient._make_api_call

            def counted(client, operation, params):
                calls.append(f"{client.meta.service_model.service_name}:{operation}")
                return call(client, operation, params)

            module.BaseClient._make_api_call = counted

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


class Context:
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "bench")
    function_version = "$LATEST"
    memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
    invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
    aws_request_id = "bench-request"
    log_group_name = f"/aws/lambda/{function_name}"
    log_stream_name = "bench"

    def __init__(self) -> None:
        self.deadline = time.monotonic() + int(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "25"))

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


def send(message: dict) -> None:
    results.write(json.dumps(message) + "\n")
    results.flush()


def project_or_third_party(module: str) -> bool:
    """Not the standard library's, nor an alias such as multiprocessing's __mp_main__."""
    top = module.partition(".")[0]
    return not top.startswith("__") and top not in sys.stdlib_module_names and top not in sys.builtin_module_names


if inspect:
    sys.meta_path.insert(0, CountCalls())
loaded_before = set(sys.modules)
wall, cpu = time.perf_counter(), time.process_time()
app = importlib.import_module("app")
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
send({"ms": wall * 1000, "cpu_ms": cpu * 1000, "file": app.__file__, "calls": sorted(calls)})
for line in sys.stdin:
    event = json.loads(line)
    calls.clear()
    wall, cpu = time.perf_counter(), time.process_time()
    response = app.lambda_handler(event, Context())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    sys.stdout.flush()  # the handler's log lines, before the driver measures how many bytes it wrote
    send({"ms": wall * 1000, "cpu_ms": cpu * 1000, "response": response, "calls": sorted(calls)})
loaded = sorted(module for module in set(sys.modules) - loaded_before if project_or_third_party(module))
# The peak resident set of this process's own memory (getrusage's would include the forking driver's,
# which Linux carries over exec).
with open("/proc/self/status", encoding="ascii") as status:
    peak_kb = int(next(line for line in status if line.startswith("VmHWM:")).split()[1])
send({"maxrss_kb": peak_kb, "modules": loaded if inspect else []})

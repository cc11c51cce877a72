"""One cold start, the way Lambda runs it: a fresh interpreter (`-I -S`: the standard library only)
whose path is the function dir, the layer, then the runtime packages. Imports the handler module,
serves one event, and writes timings to a JSON file. Standard library only: everything else must
come from the paths given, as in Lambda.

usage: python -I -S cold_runner.py RESULT_JSON EVENT_JSON RUNTIME_DIR PATH [PATH ...]
"""

import json
import resource
import sys
import time

started = time.perf_counter()
result_path, event_path, runtime_dir, *code_paths = sys.argv[1:]
sys.path[:0] = code_paths
sys.path.append(runtime_dir)


class Context:
    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench-cold-request"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 20_000


with open(event_path, encoding="utf-8") as handle:
    event = json.load(handle)
modules_before = len(sys.modules)
print("BENCH-PHASE import", file=sys.stderr, flush=True)
t0, c0 = time.perf_counter(), time.process_time()
import app  # noqa: E402

t1, c1 = time.perf_counter(), time.process_time()
modules_after_import = len(sys.modules)
print("BENCH-PHASE first-request", file=sys.stderr, flush=True)
response = app.lambda_handler(event, Context())
t2, c2 = time.perf_counter(), time.process_time()
print("BENCH-PHASE done", file=sys.stderr, flush=True)

with open(result_path, "w", encoding="utf-8") as handle:
    json.dump(
        {
            "import_ms": (t1 - t0) * 1000,
            "import_cpu_ms": (c1 - c0) * 1000,
            "first_ms": (t2 - t1) * 1000,
            "first_cpu_ms": (c2 - c1) * 1000,
            "before_import_ms": (t0 - started) * 1000,
            "status": response.get("statusCode") if isinstance(response, dict) else None,
            "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "modules_imported": modules_after_import - modules_before,
            "modules_total": len(sys.modules) - modules_before,
            "app_file": app.__file__,
        },
        handle,
    )

"""One Lambda execution environment: imports a function's handler once, then runs one event at a
time, as Lambda does, for as long as its parent keeps stdin open.

Run by `local/functions.py` as `python -I -B lambda_worker.py --result-fd N ...`. `-I` keeps the
developer's PYTHONPATH, user site-packages and current directory out, so the function sees only
what Lambda would give it: its own code, the layer, then the runtime's packages (boto3).

Protocol, JSON lines:
- stdin, one per invocation: {"event": {...}, "request_id": "...", "deadline_ms": <epoch ms>}
- the result fd: first {"ready": true} (or {"ready": false, "error": {...}} when the import
  failed), then one {"result": <handler return>} or {"error": {...}} per invocation.
stdout and stderr are the function's log, exactly what Lambda would send to CloudWatch; results
never share them, so a `print` in a handler cannot corrupt the protocol.

Standard library only: this file runs before the function's own sys.path exists.
"""

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from typing import Any


class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_version = "$LATEST"
    identity = None
    client_context = None

    def __init__(self, function_name: str, memory_mb: int, region: str, request_id: str, deadline_ms: int):
        self.function_name = function_name
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{function_name}"
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/[$LATEST]{os.getpid()}"
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(kind: str, exc: BaseException | None = None) -> dict[str, Any]:
    error = {"errorType": kind}
    if exc is not None:
        error["errorType"] = type(exc).__name__
        error["errorMessage"] = str(exc)
    return error


def _send(channel, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message, separators=(",", ":")) + "\n")
    channel.flush()


def _load_handler(spec: str):
    module_name, _, function_name = spec.rpartition(".")
    module = importlib.import_module(module_name)
    return getattr(module, function_name)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--result-fd", type=int, required=True)
    parser.add_argument("--code-dir", required=True)
    parser.add_argument("--layer-dir", action="append", default=[])
    parser.add_argument("--handler", required=True)
    args = parser.parse_args()

    results = os.fdopen(args.result_fd, "w", encoding="utf-8")
    # Lambda's order: the function's code, then its layers, then the runtime's own packages.
    sys.path[:0] = [args.code_dir, *args.layer_dir]
    os.chdir(args.code_dir)

    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local-function")
    memory_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
    region = os.environ.get("AWS_REGION", "us-east-1")

    try:
        handler = _load_handler(args.handler)
    except Exception as exc:  # noqa: BLE001 - an init error is reported, like Lambda's Runtime.ImportModuleError
        traceback.print_exc()
        _send(results, {"ready": False, "error": _error("Runtime.ImportModuleError", exc)})
        return 1
    _send(results, {"ready": True})

    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        context = LambdaContext(function_name, memory_mb, region, request["request_id"], request["deadline_ms"])
        try:
            result = handler(request["event"], context)
        except Exception as exc:  # noqa: BLE001 - the handler failed: Lambda logs it and returns an error
            traceback.print_exc()
            _send(results, {"error": _error("Unhandled", exc)})
            continue
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        try:
            _send(results, {"result": result})
        except (TypeError, ValueError) as exc:
            _send(results, {"error": _error("Runtime.MarshalError", exc)})
    return 0  # stdin closed: the parent is done with this environment (or gone)


if __name__ == "__main__":
    sys.exit(main())

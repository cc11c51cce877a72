"""One Lambda execution environment: imports a function's handler once, then runs one event at a
time, as Lambda does, for as long as its parent keeps stdin open.

Run by `functions.py` as `python -I -B worker.py --result-fd N ...`. `-I` keeps the developer's
PYTHONPATH, user site-packages and current directory out, so the function sees only what Lambda
would give it: its own code, the layer, then the runtime's packages (boto3).

Protocol, JSON lines:
- stdin, one per invocation: {"event": {...}, "request_id": "...", "deadline_ms": <epoch ms>,
  "clock_offset": <seconds, optional>}
- the result fd: first {"ready": true} (or {"ready": false, "error": {...}} when the import
  failed), then one {"result": <handler return>} or {"error": {...}} per invocation.
stdout and stderr are the function's log, exactly what Lambda would send to CloudWatch; results
never share them, so a `print` in a handler cannot corrupt the protocol.

A clock offset (the local stack's clock moved, e.g. past a session's expiry) runs the handler
under `time_machine.travel`: `datetime.now` and `time.time` read that much later, ticking on.
"""

import argparse
import importlib
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import IO, Any


class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_version = "$LATEST"
    identity = None
    client_context = None

    def __init__(
        self, name: str, memory_mb: int, region: str, request_id: str, deadline_ms: int, now: Callable[[], float]
    ):
        self.function_name = name
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{name}"
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = f"local/[$LATEST]{os.getpid()}"
        self._deadline_ms = deadline_ms
        self._now = now  # the real clock: the deadline is real time, whatever the function's clock says

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(self._now() * 1000))


def _error(exc: BaseException) -> dict[str, str]:
    return {"errorType": type(exc).__name__, "errorMessage": str(exc)}


def _send(channel: IO[str], message: dict[str, Any]) -> None:
    channel.write(json.dumps(message, separators=(",", ":")) + "\n")
    channel.flush()


@contextmanager
def _moved_clock(offset: float) -> Iterator[None]:
    import time_machine

    with time_machine.travel(time.time() + offset, tick=True):
        yield


def _real_time() -> Callable[[], float]:
    """This machine's clock, even under a moved one."""
    try:
        from time_machine import escape_hatch
    except ImportError:
        return time.time
    return lambda: escape_hatch.time.time() if escape_hatch.is_travelling() else time.time()


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this stops
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
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local-function")
    memory_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
    region = os.environ.get("AWS_REGION", "us-east-1")
    now = _real_time()
    try:
        module_name, _, function_name = args.handler.rpartition(".")
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as exc:  # noqa: BLE001 - an init error is reported, like Lambda's Runtime.ImportModuleError
        traceback.print_exc()
        _send(results, {"ready": False, "error": _error(exc)})
        return 1
    _send(results, {"ready": True})

    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        context = LambdaContext(name, memory_mb, region, request["request_id"], request["deadline_ms"], now)
        offset = float(request.get("clock_offset") or 0)
        try:
            with _moved_clock(offset) if offset else nullcontext():
                result = handler(request["event"], context)
        except Exception as exc:  # noqa: BLE001 - the handler failed: Lambda logs it and returns an error
            traceback.print_exc()
            _send(results, {"error": _error(exc)})
            continue
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        try:
            _send(results, {"result": result})
        except (TypeError, ValueError) as exc:
            _send(results, {"error": _error(exc)})
    return 0  # stdin closed: the parent is done with this environment (or gone)


if __name__ == "__main__":
    sys.exit(main())

"""`python -m local`: the docker-free local stack (`make local`).

Starts the ETpay sandbox, the AWS emulator and the template's API on 127.0.0.1, pays one demo
order end to end over HTTP, then keeps serving, with a second order left for you to pay in a
browser, until Ctrl-C or SIGTERM. `--demo-only` runs the demo and exits 0 (paid) or 1.
`python -m local scenario NAME` plays one scenario (local/demo/scenarios.py) on a stack of its
own and exits 0 (PASS) or 1. While it serves, the terminal shows one line per API request and per
scheduled reconciliation, for every order (local/demo/terminal.py).

A Ctrl-C at any moment stops whatever was starting or running, prints one line and leaves no
process behind. Nothing secret is printed at any log level: log lines go through `redact`.
"""

import argparse
import importlib.util
import logging
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

# What `python -m local` imports beyond the standard library: the project's venv has them all.
NEEDED = ("boto3", "moto", "yaml", "urllib3", "jwt", "standardwebhooks", "time_machine")
COUNTRY_NAMES = {"CLP": "Chile", "MXN": "Mexico"}
STOPPED = "Stopped: the local stack and every process it started have ended."
# A test hook: the CLI waits at this point (start, stage1 ... stage3, ready, serving) until stopped,
# so a test can interrupt it exactly there.
PAUSE_AT = os.environ.get("LOCAL_PAUSE_AT", "")
# Secrets and payer data, wherever a library's log line might carry them.
SECRET_PATTERNS = [
    (re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*"), "<jwt>"),
    (re.compile(r"whsec_[\w+/=-]+"), "whsec_<secret>"),
    (re.compile(r"([?&](?:key|jwt|token)=)[^&\s\"']+"), r"\1<secret>"),
    (
        re.compile(
            r"(\\?[\"'](?:merchant_api_token|signature_token|payment_token|SecretString|secret|user_rut|rut|"
            r"customer_phone|user_account|merchant_account|jwt|payment|key)\\?[\"']\s*:\s*)"
            r"(\\?[\"']).*?(?<!\\)\2"
        ),
        r"\1\2<secret>\2",
    ),
]


class Output:
    """The CLI's lines. After a Ctrl-C nothing more is printed but the one line saying it stopped."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._lock = threading.Lock()

    def say(self, text: str = "") -> None:
        with self._lock:
            if not self.stopping.is_set():
                print(text, flush=True)  # noqa: T201 - the CLI's own output

    def reached(self, point: str) -> None:
        if point == PAUSE_AT:
            self.stopping.wait()

    def last(self, text: str) -> None:
        with self._lock:
            print(text, flush=True)  # noqa: T201


def redact(text: str) -> str:
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from local.demo.merchant import DEFAULT_MERCHANT_PORT
    from local.demo.scenarios import SCENARIOS
    from local.stack import DEFAULT_API_PORT, DEFAULT_AWS_PORT, DEFAULT_SANDBOX_PORT, DEFAULT_WEBHOOK_PORT

    parser = argparse.ArgumentParser(prog="python -m local", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("command", nargs="*", metavar="scenario NAME", help=f"play a scenario: {', '.join(SCENARIOS)}")
    for name, default, what in (
        ("api", DEFAULT_API_PORT, "the API"),
        ("sandbox", DEFAULT_SANDBOX_PORT, "the ETpay sandbox"),
        ("aws", DEFAULT_AWS_PORT, "the AWS emulator"),
        ("merchant", DEFAULT_MERCHANT_PORT, "the shop's page ETpay sends the payer back to"),
        ("webhook", DEFAULT_WEBHOOK_PORT, "the merchant's webhook receiver"),
    ):
        parser.add_argument(f"--{name}-port", type=int, default=default, help=f"{what}; 0 picks a free port")
    parser.add_argument(
        "--currency",
        choices=["CLP", "MXN"],
        default="CLP",
        help="the stack's Currency, and so ETpay's market: CLP (Chile, the default) or MXN (Mexico: MX banks, "
        "SPEI and CoDi); make local COUNTRY=mx",
    )
    parser.add_argument("--demo-only", action="store_true", help="run the demo payment and exit 0 (paid) or 1")
    parser.add_argument("--no-demo", action="store_true", help="only serve")
    parser.add_argument(
        "--persist",
        action="store_true",
        help="keep the tables (orders, events) in DynamoDB Local's files (--state-dir), across restarts",
    )
    parser.add_argument("--state-dir", type=Path, help="where --persist keeps them (default: .local/state)")
    parser.add_argument(
        "--schedule-every",
        type=float,
        metavar="SECONDS",
        help="run the template's scheduled functions (the reconciliation) this often instead of on their "
        "own schedule; 0: never",
    )
    parser.add_argument("--log-dir", type=Path, help="the functions' and moto's logs (default: .local/logs)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    if args.command and (args.command[0] != "scenario" or len(args.command) != 2 or args.command[1] not in SCENARIOS):
        parser.error(f"the one command is `scenario NAME`, NAME one of: {', '.join(SCENARIOS)}")
    return args


def _set_up_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    # Libraries log request bodies and URLs (secrets, keys) at DEBUG: never below WARNING here. The
    # stack's own loggers say only what a person needs; their request lines come with DEBUG.
    quiet = ["botocore", "boto3", "urllib3", "s3transfer"]
    if level != "DEBUG":
        quiet += ["local", "etpay_sandbox"]
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    out = Output()
    stack: Any = None

    def stop(signum: int, _frame: FrameType | None) -> None:
        # Only flags: whatever runs stops at its next step, and the stack stops every process it started.
        out.stopping.set()
        logging.disable(logging.CRITICAL)
        if stack is not None:
            stack.request_stop()

    # First: a shell starts background jobs with SIGINT ignored, and Python keeps that.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        out.say(
            f"{sys.executable} lacks {', '.join(missing)}: run `make local` (it sets up the project's venv) "
            "or `.venv/bin/python -m local`"
        )
        return 2
    args = parse_args(argv)
    scenario = args.command[1] if args.command else None
    out.say(
        f"Starting the local stack{f' for scenario {scenario}' if scenario else ''} (Ctrl-C stops it at any moment)"
    )
    out.reached("start")
    stages = iter(range(1, 10))

    def stage(text: str) -> None:
        out.say(f"  {text}")
        out.reached(f"stage{next(stages)}")

    try:
        from local.emulator.template import ROOT
        from local.stack import LocalStack, LocalStackError

        _set_up_logging(args.log_level)
        options: dict[str, Any] = {
            "log_dir": args.log_dir or ROOT / ".local" / "logs",
            "log_level": args.log_level,
            "parameters": {"Currency": args.currency},
            "on_stage": stage,
        }
        if scenario:  # a stack of its own, next to any other: free ports, nothing kept
            stack = LocalStack.on_free_ports(**options)
        else:
            ports = ("api", "sandbox", "aws", "merchant", "webhook")
            options |= {f"{name}_port": getattr(args, f"{name}_port") for name in ports}
            state = args.state_dir or ROOT / ".local" / "state"
            stack = LocalStack(persist=state if args.persist else None, **options)
        if out.stopping.is_set():
            stack.request_stop()
        return _run(args, stack, out, scenario)
    except LocalStackError as error:
        if out.stopping.is_set():
            return 0
        out.say(f"The local stack could not start: {error} (logs: {stack.log_dir if stack else '.local/logs'})")
        return 1
    except Exception as error:  # noqa: BLE001 - a stop cuts anything short; else one line, no traceback
        if out.stopping.is_set():  # whatever a stop cut short under way
            return 0
        out.say(f"The local stack failed: {type(error).__name__}: {redact(str(error))}")
        return 1
    finally:
        # A second Ctrl-C must not cut the clean-up short and leave processes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if stack is not None:
            stack.stop()
        if out.stopping.is_set():
            out.last(STOPPED)


def _run(args: argparse.Namespace, stack: Any, out: Output, scenario: str | None) -> int:
    from local.demo.scenarios import run_scenario
    from local.demo.terminal import LiveTerminal

    started = time.monotonic()
    terminal = LiveTerminal(out.say, stack.call, stack.invoke, api_url=lambda: stack.api_url)
    stack.on_request = terminal.observe
    stack.events.receiver.on_webhook = terminal.webhook
    stack.on_invocation = terminal.invoked
    stack.start()
    out.say(f"Local stack ready in {time.monotonic() - started:.1f} s")
    _say_where(stack, out, brief=scenario is not None)
    out.reached("ready")
    if scenario:
        return 0 if run_scenario(scenario, stack, out.say) or out.stopping.is_set() else 1
    from local.demo.serve import demo_and_serve

    return demo_and_serve(args, stack, terminal, out.say, out.stopping, out.reached)


def _say_where(stack: Any, out: Output, brief: bool) -> None:
    busy = {fallback.actual: fallback.requested for fallback in stack.port_fallbacks}

    def moved(port: int | None) -> str:
        return f"  (port {busy[port]} was busy: see the warning above)" if port in busy else ""

    api, sandbox, merchant, webhooks = stack.api, stack.sandbox, stack.merchant, stack.webhooks
    out.say(f"  API            {api.url}{moved(api.port)}")
    out.say(f"  ETpay sandbox  {sandbox.base_url}  (control API under /_control){moved(sandbox.port)}")
    if brief:
        return
    out.say(f"  AWS (moto)     {stack.aws_url}{moved(stack.aws.port)}")
    out.say(f"  merchant page  {merchant.url}/orders/<id>/completed{moved(merchant.port)}")
    out.say(f"  webhooks       {webhooks.url}  (the merchant's receiver, checks signatures){moved(webhooks.port)}")
    out.say(f"  logs           {stack.log_dir}")
    out.say(f"  currency       {stack.currency} (ETpay {COUNTRY_NAMES[stack.currency]}; --currency changes it)")
    if stack.persist is None:
        out.say("  state          in memory: orders are gone when it stops (make local PERSIST=1 keeps them)")
    else:
        since = "kept from the last run" if stack.kept_tables else "new"
        out.say(
            f"  state          orders survive a restart: DynamoDB Local's files in {stack.persist} ({since}); "
            "make local-reset starts clean"
        )
    out.say()


if __name__ == "__main__":
    sys.exit(main())

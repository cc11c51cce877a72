"""`python -m local`: the docker-free local stack (`make local`).

Starts the ETpay sandbox, the AWS emulator and the template's API on 127.0.0.1, pays one demo
order end to end over HTTP, then keeps serving, with a second order left for you to pay in a
browser, until Ctrl-C or SIGTERM. `--demo-only` runs the demo and exits 0 (paid) or 1.
While it serves, the terminal shows one line per API request (notifications included) and per
scheduled reconciliation, for every order (local/terminal.py).
"""

import argparse
import functools
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from local.aws import EmulatorError
from local.demo import DEMO_ORDERS, DemoClient, DemoFailed, DemoResult, run_demo
from local.functions import InvocationError
from local.merchant import DEFAULT_MERCHANT_PORT
from local.stack import DEFAULT_API_PORT, DEFAULT_AWS_PORT, DEFAULT_SANDBOX_PORT, LocalStack, LocalStackError
from local.stack_events import DEFAULT_WEBHOOK_PORT
from local.template import ROOT, rate_seconds
from local.terminal import LiveTerminal

DEFAULT_LOG_DIR = ROOT / ".local" / "logs"
COUNTRY_NAMES = {"CLP": "Chile", "MXN": "Mexico"}


class Stopped(Exception):
    """SIGINT or SIGTERM arrived: leave whatever is running and stop the stack."""


def say(text: str = "") -> None:
    print(text, flush=True)  # noqa: T201 - the CLI's own output


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.splitlines()[0])
    parser.add_argument("--api-port", type=int, default=DEFAULT_API_PORT, help="0 picks a free port")
    parser.add_argument("--sandbox-port", type=int, default=DEFAULT_SANDBOX_PORT, help="0 picks a free port")
    parser.add_argument("--aws-port", type=int, default=DEFAULT_AWS_PORT, help="0 picks a free port")
    parser.add_argument(
        "--merchant-port",
        type=int,
        default=DEFAULT_MERCHANT_PORT,
        help="the shop's page ETpay sends the payer back to; 0 picks a free port",
    )
    parser.add_argument(
        "--webhook-port", type=int, default=DEFAULT_WEBHOOK_PORT, help="the merchant receiver (0: free port)"
    )
    parser.add_argument(
        "--currency",
        choices=sorted(DEMO_ORDERS),
        default="CLP",
        help="the stack's Currency, and so ETpay's market: CLP (Chile, the default) or MXN (Mexico: MX banks, "
        "SPEI and CoDi); make local COUNTRY=mx",
    )
    parser.add_argument("--demo-only", action="store_true", help="run the demo payment and exit 0 (paid) or 1")
    parser.add_argument("--no-demo", action="store_true", help="only serve")
    parser.add_argument(
        "--schedule-every",
        type=float,
        metavar="SECONDS",
        help="run the template's scheduled functions (the reconciliation) this often instead of on their "
        "own schedule; 0: never",
    )
    parser.add_argument("--log-dir", type=Path, default=DEFAULT_LOG_DIR, help="the functions' and moto's logs")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


def _raise_stopped(*_: object) -> None:
    raise Stopped


def _every(seconds: float, run: Callable[[], None], stop: threading.Event) -> None:
    while not stop.wait(seconds):
        try:
            run()
        except LocalStackError:
            return  # the stack is stopping


def serve(args: argparse.Namespace, stack: LocalStack, terminal: LiveTerminal) -> int:
    started = time.monotonic()
    stack.start()
    say(f"Local stack ready in {time.monotonic() - started:.1f} s")
    busy = {fallback.actual: fallback.requested for fallback in stack.port_fallbacks}

    def moved(port: int | None) -> str:
        return f"  (port {busy[port]} was busy: see the warning above)" if port in busy else ""

    api, sandbox, aws, merchant = stack.running()
    say(f"  API            {api.url}{moved(api.port)}")
    say(f"  ETpay sandbox  {sandbox.base_url}  (control API under /_control){moved(sandbox.port)}")
    say(f"  AWS (moto)     {aws.endpoint_url}{moved(aws.port)}")
    say(f"  merchant page  {merchant.url}/orders/<id>/completed{moved(merchant.port)}")
    say(f"  webhooks       {stack.webhooks.url}  (the merchant's receiver; signatures checked with standardwebhooks)")
    say(f"  logs           {stack.log_dir}")
    say(f"  currency       {stack.currency} (ETpay {COUNTRY_NAMES[stack.currency]}; --currency changes it)")
    say()
    client = DemoClient(api.url, sandbox.base_url)
    stop = threading.Event()
    try:
        return _demo_and_serve(args, stack, client, Serving(terminal, stop))
    finally:
        stop.set()
        # Its keep-alive connections would otherwise hold the servers' stop() for their grace time.
        client.close()


@dataclass(frozen=True)
class Serving:
    terminal: LiveTerminal
    stop: threading.Event  # set: the scheduled runs end


def _start_schedules(args: argparse.Namespace, stack: LocalStack, serving: Serving) -> None:
    """Run each scheduled function of the template (the reconciliation) as EventBridge would."""
    for function, expression in stack.schedules().items():
        if args.schedule_every is not None:
            seconds, why = args.schedule_every, f"--schedule-every; template.yaml says {expression}"
        else:
            seconds, why = rate_seconds(expression), f"template.yaml: {expression}; --schedule-every changes it"
        if seconds is None:
            say(f"{function} runs only with --schedule-every SECONDS: {expression} is not a rate()")
            continue
        if seconds <= 0:
            say(f"{function} does not run ({why})")
            continue
        say(f"{function} runs every {seconds:g} s ({why})")
        run = functools.partial(serving.terminal.scheduled, function)
        threading.Thread(
            target=_every, args=(seconds, run, serving.stop), name=f"schedule-{function}", daemon=True
        ).start()


def _say_what_to_try(stack: LocalStack, pending: DemoResult | None) -> None:
    """Ready-to-paste commands, with this run's ports and, after the demo, its pending order's
    real session token."""
    api, sandbox = stack.api_url, stack.sandbox_url
    body = json.dumps({"merchant_order_id": "OC-1", **DEMO_ORDERS[stack.currency]})
    new_order = f"curl -s -XPOST {api}/sessions -d '{body}'"
    if pending is None:
        order, token = "OC-1", "<session_token>"
        say("Open an order:")
        say(f"  {new_order}")
        say("pay it with curl, as the funnel's Pay button would (<session_token>: from that answer):")
    else:
        order, token = pending.pending_order_id, pending.pending_session_token
        say(f"Pay the second order, {order}, yourself: open this in a browser, pick a bank and press Pay")
        say(f"  {pending.pending_payment_url}")
        say("ETpay then sends you back to the shop's page, which shows the order turn PAID:")
        say(f"  {stack.running().merchant.return_urls(order)['payment_completed_url']}")
        say("or pay it with curl, as the funnel's Pay button would:")
    say(f'  curl -s -XPOST {sandbox}/_control/sessions/{token}/complete -d \'{{"outcome": "paid"}}\'')
    say("and read it as the merchant's backend does:")
    say(f"  curl -s {api}/orders/{order}")
    if pending is not None:
        say("Open an order of your own:")
        say(f"  {new_order}")
    say()


def _demo_and_serve(args: argparse.Namespace, stack: LocalStack, client: DemoClient, serving: Serving) -> int:
    pending = None
    if not args.no_demo:
        say("Demo payment:")
        try:
            pending = run_demo(client, say, stack.running().merchant.return_urls, stack.webhooks, stack.currency)
        except DemoFailed as error:
            say(f"DEMO FAILED: {error}")
            say(f"The functions' logs are in {stack.log_dir}")
            return 1
        say(f"Demo OK: the {stack.currency} order was paid end to end.")
    if args.demo_only:
        return 0
    if pending is not None:
        say()
    _say_what_to_try(stack, pending)
    _start_schedules(args, stack, serving)
    say("Serving. Below: one line per API request and per reconciliation. Ctrl-C stops everything.")
    while True:
        time.sleep(3600)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The stack's own loggers only say what a person needs (the live terminal prints a line per
    # request); their own request lines, with timings, go with --log-level DEBUG.
    if args.log_level != "DEBUG":
        for name in (
            "local.api",
            "local.aws",
            "local.functions",
            "local.stack",
            "local.events",
            "local.event_sources",
            "local.webhooks",
            "etpay_sandbox",
            "botocore",
        ):
            logging.getLogger(name).setLevel(logging.WARNING)
    # Set explicitly: a shell starts background jobs with SIGINT ignored, and Python keeps that.
    signal.signal(signal.SIGINT, _raise_stopped)
    signal.signal(signal.SIGTERM, _raise_stopped)
    stack = LocalStack(
        args.api_port,
        args.sandbox_port,
        args.aws_port,
        merchant_port=args.merchant_port,
        log_dir=args.log_dir,
        log_level=args.log_level,
        webhook_port=args.webhook_port,
        parameters={"Currency": args.currency},
    )
    terminal = LiveTerminal(say, stack.call, stack.invoke, api_url=lambda: stack.api_url)
    stack.on_request = terminal.observe
    stack.events.receiver.on_webhook = terminal.webhook
    stack.on_invocation = terminal.invoked
    try:
        return serve(args, stack, terminal)
    except Stopped:
        say("\nStopping ...")
        return 0
    except (LocalStackError, EmulatorError, InvocationError) as error:
        say(f"The local stack could not start: {error} (logs: {stack.log_dir})")
        return 1
    finally:
        # A second Ctrl-C must not cut the clean-up short and leave processes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())

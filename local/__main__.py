"""`python -m local`: the docker-free local stack (`make local`).

Starts the ETpay sandbox, the AWS emulator and the template's API on 127.0.0.1, pays one demo
order end to end over HTTP, then keeps serving, with a second order left for you to pay in a
browser, until Ctrl-C or SIGTERM. `--demo-only` runs the demo and exits 0 (paid) or 1.
"""

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from local.aws import EmulatorError
from local.demo import DemoClient, DemoFailed, run_demo
from local.functions import InvocationError
from local.stack import DEFAULT_API_PORT, DEFAULT_AWS_PORT, DEFAULT_SANDBOX_PORT, LocalStack, LocalStackError
from local.stack_events import DEFAULT_WEBHOOK_PORT
from local.template import ROOT
from local.webhook_receiver import ReceivedWebhook

DEFAULT_LOG_DIR = ROOT / ".local" / "logs"
# How often the second order is looked at while a person pays it in a browser.
WATCH_INTERVAL_SECONDS = 1.0


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
        "--webhook-port", type=int, default=DEFAULT_WEBHOOK_PORT, help="the merchant receiver (0: free port)"
    )
    parser.add_argument("--demo-only", action="store_true", help="run the demo payment and exit 0 (paid) or 1")
    parser.add_argument("--no-demo", action="store_true", help="only serve")
    parser.add_argument("--log-dir", type=Path, default=DEFAULT_LOG_DIR, help="the functions' and moto's logs")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


def report_webhook(webhook: ReceivedWebhook) -> None:
    """The merchant's receiver, as each webhook arrives."""
    say(f"   [merchant webhook] {webhook.describe()}")


def _raise_stopped(*_: object) -> None:
    raise Stopped


def _watch(client: DemoClient, order_id: str, stop: threading.Event) -> None:
    """Say when the order a person is paying in the browser leaves PENDING."""
    while not stop.wait(WATCH_INTERVAL_SECONDS):
        try:
            reply = client.get_order(order_id)
        except DemoFailed:
            continue
        status = reply.body.get("status") if isinstance(reply.body, dict) else None
        if reply.status == 200 and status != "PENDING":
            say(f"\nGET /orders/{order_id} -> {status}: the notification from your browser payment arrived.")
            return


def serve(args: argparse.Namespace, stack: LocalStack) -> int:
    started = time.monotonic()
    stack.start()
    say(f"Local stack ready in {time.monotonic() - started:.1f} s")
    say(f"  API            {stack.api_url}")
    say(f"  ETpay sandbox  {stack.sandbox.base_url}  (control API under /_control)")
    say(f"  AWS (moto)     {stack.aws_url}")
    say(f"  webhooks       {stack.webhooks.url}  (the merchant's receiver; signatures checked with standardwebhooks)")
    say(f"  logs           {stack.log_dir}")
    say()
    client = DemoClient(stack.api_url, stack.sandbox.base_url)
    stop_watching = threading.Event()
    try:
        return _demo_and_serve(args, stack, client, stop_watching)
    finally:
        stop_watching.set()
        # Its keep-alive connections would otherwise hold the servers' stop() for their grace time.
        client.close()


def _demo_and_serve(args: argparse.Namespace, stack: LocalStack, client: DemoClient, stop: threading.Event) -> int:
    pending = None
    if not args.no_demo:
        say("Demo payment:")
        try:
            pending = run_demo(client, say, stack.webhooks)
        except DemoFailed as error:
            say(f"DEMO FAILED: {error}")
            say(f"The functions' logs are in {stack.log_dir}")
            return 1
        say("Demo OK: the order was paid end to end.")
    if args.demo_only:
        return 0

    say()
    if pending is not None:
        say("Pay the second order yourself: open this in a browser, pick a bank and press Pay")
        say(f"  {pending.pending_payment_url}")
        say("and watch it turn PAID:")
        say(f"  curl {stack.api_url}/orders/{pending.pending_order_id}")
        threading.Thread(target=_watch, args=(client, pending.pending_order_id, stop), daemon=True).start()
        say()
    say("Serving. Ctrl-C stops everything.")
    while True:
        time.sleep(3600)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The stack's own loggers only say what a person needs; request lines go with --log-level DEBUG.
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
        log_dir=args.log_dir,
        log_level=args.log_level,
        webhook_port=args.webhook_port,
        on_webhook=report_webhook,
    )
    try:
        return serve(args, stack)
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

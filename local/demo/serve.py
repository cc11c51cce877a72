"""What `make local` does once the stack is up: the demo payment, the commands to try (with this
run's real ports and tokens), the scenarios, the template's schedules, then serving until a stop."""

import argparse
import functools
import json
import threading
from collections.abc import Callable
from typing import Any

from local.demo.payment import DEMO_ORDERS, DemoClient, DemoFailed, DemoResult, run_demo
from local.demo.scenarios import describe
from local.demo.terminal import LiveTerminal
from local.emulator.template import rate_seconds

Say = Callable[[str], None]


def demo_and_serve(
    args: argparse.Namespace,
    stack: Any,
    terminal: LiveTerminal,
    say: Say,
    stopping: threading.Event,
    reached: Callable[[str], None] = lambda _: None,
) -> int:
    client = DemoClient(stack.api_url, stack.sandbox_url)
    schedules = threading.Event()
    try:
        pending = None
        if not args.no_demo:
            say("Demo payment:")
            try:
                pending = run_demo(
                    client, say, stack.merchant.return_urls, stack.webhooks, stack.currency, stopping.is_set
                )
            except DemoFailed as error:
                if stopping.is_set():
                    return 0
                say(f"DEMO FAILED: {error}")
                say(f"The functions' logs are in {stack.log_dir}")
                return 1
            say(f"Demo OK: the {stack.currency} order was paid end to end.")
        if args.demo_only or stopping.is_set():
            return 0
        say("")
        _say_what_to_try(stack, pending, say)
        _start_schedules(args, stack, terminal, say, schedules)
        say("Serving. Below: one line per API request and per reconciliation. Ctrl-C stops everything.")
        reached("serving")
        while not stopping.wait(1.0):
            pass
        return 0
    finally:
        schedules.set()  # the scheduled runs end
        client.close()  # its keep-alive connections would otherwise hold the servers' stop()


def _start_schedules(
    args: argparse.Namespace, stack: Any, terminal: LiveTerminal, say: Say, stopping: threading.Event
) -> None:
    """Run each scheduled function of the template (the reconciliation) as EventBridge would."""
    for function, expression in stack.schedules().items():
        if args.schedule_every is not None:
            seconds, why = args.schedule_every, f"--schedule-every; template.yaml says {expression}"
        else:
            seconds, why = rate_seconds(expression), f"template.yaml: {expression}; --schedule-every changes it"
        if seconds is None:
            say(f"{function} runs only with --schedule-every SECONDS: {expression} is not a rate()")
        elif seconds <= 0:
            say(f"{function} does not run ({why})")
        else:
            say(f"{function} runs every {seconds:g} s ({why})")
            run = functools.partial(terminal.scheduled, function)
            threading.Thread(
                target=_every, args=(seconds, run, stopping), name=f"schedule-{function}", daemon=True
            ).start()


def _every(seconds: float, run: Callable[[], None], stopping: threading.Event) -> None:
    while not stopping.wait(seconds):
        try:
            run()
        except RuntimeError:
            return  # the stack is stopping (LocalStackError)


def _say_what_to_try(stack: Any, pending: DemoResult | None, say: Say) -> None:
    """Ready-to-paste commands, with this run's ports and, after the demo, its pending order's
    real session token; then the scenarios, each a command of its own."""
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
        say(f"  {stack.merchant.return_urls(order)['payment_completed_url']}")
        say("or pay it with curl, as the funnel's Pay button would:")
    say(f'  curl -s -XPOST {sandbox}/_control/sessions/{token}/complete -d \'{{"outcome": "paid"}}\'')
    say("and read it as the merchant's backend does:")
    say(f"  curl -s {api}/orders/{order}")
    if pending is not None:
        say("Open an order of your own:")
        say(f"  {new_order}")
    say("Scenarios, each on a stack of its own next to this one (step by step, then PASS or FAIL):")
    for name, text in describe():
        say(f"  make scenario NAME={name:<18} {text}")
    say("")

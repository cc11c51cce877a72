"""`python -m ops`: the arguments, the command, and for whatever goes wrong one line on stderr
(`ops: ...`, never a traceback) and a non-zero exit status: 1 when the API, AWS or the network
said no (or the operator did), 2 when the input was refused before anything was sent, 130 on
Ctrl-C."""

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn, TextIO

from botocore.exceptions import BotoCoreError

from ops import commands, rules
from ops.client import ApiError, BadAnswer, NoAnswer, OperatorApi
from ops.commands import Console, NotDone
from ops.render import clean
from ops.target import ENVIRONMENT_VARIABLE, Target, TargetError, find_target

EXIT_FAILED = 1
EXIT_REFUSED = 2
EXIT_INTERRUPTED = 130
MAX_MESSAGE_CHARS = 400
POLICY = "the stack's OperatorApiPolicy (the managed policy of its output OperatorApiPolicyArn)"
# With ApiAuth=API_KEY, the merchant's routes (orders, events, redelivery) take the stack's API key:
# read from the environment only, never from the command line (where ps and the shell's history
# would show it).
API_KEY_VARIABLE = "ETPAY_OPS_API_KEY"


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """argparse, whose mistakes are one line like every other error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """Options every command takes, before or after its name (given after it, they win)."""
    unset: Any = argparse.SUPPRESS if suppress else None
    api_help = f"the API's base URL, stage included (the stack's ApiBaseUrl; else {ENVIRONMENT_VARIABLE})"
    parser.add_argument("--api", metavar="URL", default=unset, help=api_help)
    parser.add_argument("--stack", metavar="NAME", default=unset, help="read the API's URL from this stack's outputs")
    parser.add_argument("--profile", metavar="NAME", default=unset, help="the AWS profile to sign with")
    parser.add_argument("--region", metavar="REGION", default=unset, help="the AWS region (else the API URL's)")
    parser.add_argument("--json", action="store_true", default=unset or False, help="machine-readable output")


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


def parser() -> Parser:
    main = Parser(prog="python -m ops", description="The operators' command line of the ETpay payments API (SigV4).")
    _common(main, suppress=False)
    commands_ = main.add_subparsers(dest="command", required=True, metavar="COMMAND")
    reviews = commands_.add_parser("reviews", help="the review queue, oldest review first (every page)")
    reviews.add_argument("--limit", type=_positive, help="list at most this many orders")
    reviews.add_argument("--cursor", help="start at this next_cursor (of reviews --json --limit)")
    resolve = commands_.add_parser("resolve", help="record the resolution of an order's open review")
    resolve.add_argument("order_id", metavar="ORDER_ID")
    resolve.add_argument("--resolution", required=True, choices=rules.RESOLUTIONS)
    resolve.add_argument(
        "--note", required=True, help=f"what was done and why (1 to {rules.MAX_NOTE_CHARS} characters)"
    )
    resolve.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    order = commands_.add_parser("order", help="an order, its reviews, its events and their webhook delivery")
    order.add_argument("order_id", metavar="ORDER_ID")
    redeliver = commands_.add_parser("redeliver", help="send an event's webhook again")
    redeliver.add_argument("event_id", metavar="EVENT_ID")
    for command in (reviews, resolve, order, redeliver):
        _common(command, suppress=True)
    return main


def check(args: argparse.Namespace) -> None:
    """What the API would refuse, refused before the API is looked for (rules.Refused)."""
    if args.command == "reviews" and args.cursor is not None:
        rules.cursor(args.cursor)
    if args.command in ("resolve", "order"):
        rules.order_id(args.order_id)
    if args.command == "resolve":
        rules.resolution(args.resolution)
        rules.note(args.note)
    if args.command == "redeliver":
        rules.event_id(args.event_id)


def run(args: argparse.Namespace, target: Target, console: Console, api_key: str | None = None) -> None:
    api = OperatorApi(target, api_key=api_key)
    if args.command == "reviews":
        commands.reviews(api, console, args.limit, args.cursor)
    elif args.command == "resolve":
        commands.resolve(api, console, args.order_id, args.resolution, args.note, args.yes)
    elif args.command == "order":
        commands.order(api, console, args.order_id)
    else:
        commands.redeliver(api, console, args.event_id)


def explain(error: ApiError, target: Target | None) -> str:
    """The API's error code and message; for a 403, what the operator's identity lacks."""
    text = str(error)
    if error.fields:
        text += " (" + "; ".join(f"{name}: {rule}" for name, rule in sorted(error.fields.items())) + ")"
    if error.status == 403:
        if error.code.startswith("MissingAuthenticationToken"):
            text += " - API Gateway says so for a path it lacks: is the API URL the stack's ApiBaseUrl, stage included?"
        policy = f"{POLICY}: {target.policy_arn}" if target and target.policy_arn else POLICY
        text += f" - the operator's AWS identity needs {policy} attached"
        if not error.request.split(" ")[-1].endswith(("/reviews", "/review")):
            text += f" (on a stack with ApiAuth=API_KEY, this route takes its API key: set {API_KEY_VARIABLE})"
    return text


def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    answers: TextIO | None = None,
) -> int:
    """Run one command; its exit status. Results go to `out`, questions and errors to `err`."""
    out, err, answers = out or sys.stdout, err or sys.stderr, answers or sys.stdin
    target: Target | None = None

    def fail(message: str, status: int) -> int:
        line = clean(message)
        print(f"ops: {line[: MAX_MESSAGE_CHARS * 2]}", file=err)
        return status

    try:
        args = parser().parse_args(argv)
        check(args)
        target = find_target(args.api, args.stack, os.environ, args.profile, args.region)
        run(args, target, Console(out, err, answers, args.json), os.environ.get(API_KEY_VARIABLE) or None)
    except UsageError as error:
        return fail(f"{error} (python -m ops --help)", EXIT_REFUSED)
    except rules.Refused as error:
        return fail(f"refused, nothing was sent: {error}", EXIT_REFUSED)
    except ApiError as error:
        error.message = error.message[:MAX_MESSAGE_CHARS]
        return fail(explain(error, target), EXIT_FAILED)
    except (TargetError, NoAnswer, BadAnswer, NotDone) as error:
        return fail(str(error), EXIT_FAILED)
    except BotoCoreError as error:
        return fail(f"AWS: {error}", EXIT_FAILED)
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_INTERRUPTED)
    return 0

"""Each function against its bare baseline, on the trees of bench/trees.py: cold starts (a fresh
process per run: import, then the first request), warm invocations (one process, its requests
after a warm-up), and what the import and the first requests ask of AWS and load (inspected once,
untimed). Side by side and interleaved, so drift on the machine hits every side alike: cold runs
are shuffled in every round, warm invocations alternate between the sides' processes.

The sides (SIDES): ours with tracing off, which is what the bare baseline is compared with (it
traces nothing); ours with tracing on, as the template deploys it, which the memory sizes and the
costs are modelled on and which shows what the X-Ray SDK costs; and the bare baseline."""

import contextlib
import random
import statistics
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.costs import item_bytes
from bench.execution import Execution
from bench.functions import FUNCTIONS, Function
from bench.stack import BenchStack
from bench.trees import MODES, Tree

# "ours": tracing off (POWERTOOLS_TRACE_DISABLED, as a stack deployed without tracing runs);
# "traced": ours as the template deploys it (Tracing: Active); "baseline": bench/baseline/.
SIDES = ("ours", "traced", "baseline")
# Ours traced starts cold as built only (what is deployed); its precompiled tree would say nothing new.
TRACED_MODES = ("as built",)
# What each measure returns: function -> side -> figures (cold starts: mode -> function -> side -> figures).
type Figures = dict[str, dict[str, dict[str, Any]]]


def run(function: Function, side: str, tree: Tree, stack: BenchStack, log: Path, events: int = 1,
        inspect: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:  # fmt: skip
    """One execution environment of `function` (or its baseline) serving `events` events, each
    checked: what its import, each invocation and its end reported."""
    with start(function, side, tree, stack, log, inspect) as ex:
        invocations = [invoke(function, side, ex, stack, log) for _ in range(events)]
        return ex.imported, invocations, ex.close()


def start(function: Function, side: str, tree: Tree, stack: BenchStack, log: Path, inspect: bool = False) -> Execution:
    environment = stack.environment(function.name, traced=side == "traced")
    return Execution(tree.paths(function, side), tree.runtime, environment, log, inspect)


def invoke(function: Function, side: str, ex: Execution, stack: BenchStack, log: Path) -> dict[str, Any]:
    """One invocation on a fresh event, checked; its figures and the log bytes it wrote."""
    event, logged = function.event(stack), ex.log_bytes()
    answer = ex.invoke(event) | {"log_bytes": ex.log_bytes() - logged}
    if not function.expected(answer["response"]):
        raise RuntimeError(f"{function.name} ({side}) answered {str(answer['response'])[:500]}; see {log}")
    return answer


def cold_starts(trees: dict[str, Tree], stack: BenchStack, workdir: Path, runs: int) -> dict[str, Figures]:
    """Per mode, per (function, side): the medians of `runs` fresh processes, after one discarded round."""
    plan = [(mode, function, side) for mode in MODES for function in FUNCTIONS for side in SIDES
            if side != "traced" or mode in TRACED_MODES]  # fmt: skip
    samples: dict[tuple[str, str, str], list[dict[str, float]]] = {}
    rng = random.Random(5)  # noqa: S311 - shuffles the order of runs, not a secret
    for round_number in range(runs + 1):
        rng.shuffle(plan)
        for mode, function, side in plan:
            imported, (first,), end = run(function, side, trees[mode], stack, workdir / f"cold-{function.code}.log")
            if round_number:
                samples.setdefault((mode, function.name, side), []).append(
                    {"import_ms": imported["ms"], "import_cpu_ms": imported["cpu_ms"], "first_ms": first["ms"],
                     "first_cpu_ms": first["cpu_ms"], "maxrss_kb": end["maxrss_kb"]}
                )  # fmt: skip
        print(f"  cold starts: round {round_number}/{runs} done", file=sys.stderr, flush=True)
    found: dict[str, Figures] = {mode: {} for mode in MODES}
    for (mode, function_name, side), runs_ in samples.items():
        medians = {name: statistics.median(run[name] for run in runs_) for name in runs_[0]}
        found[mode].setdefault(function_name, {})[side] = medians
    return found


def warm(tree: Tree, stack: BenchStack, workdir: Path, requests: int, rounds: int = 8, warmup: int = 5,
         functions: Sequence[Function] = FUNCTIONS, sides: Sequence[str] = SIDES) -> Figures:  # fmt: skip
    """Per (function, side): median wall and CPU time of `requests` warm invocations over `rounds`
    rounds. In each, one process per side, all alive at once, each warmed up by `warmup` untimed
    invocations, then invoked in turn (one event each, every other turn in reverse order): drift on
    the machine hits every side alike, and a process's own layout, which moves its figures by
    10-30%, is averaged over the rounds."""
    found: Figures = {}
    for function in functions:
        samples: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
        for _ in range(rounds):
            with contextlib.ExitStack() as running:
                logs = {side: workdir / f"warm-{function.code}-{side}.log" for side in sides}
                executions = {
                    side: running.enter_context(start(function, side, tree, stack, logs[side])) for side in sides
                }
                for turn in range(warmup + max(1, requests // rounds)):
                    for side in sides if turn % 2 == 0 else reversed(sides):
                        answer = invoke(function, side, executions[side], stack, logs[side])
                        if turn >= warmup:
                            samples[side].append(answer)
        for side, invocations in samples.items():
            found.setdefault(function.name, {})[side] = {
                "requests": len(invocations),
                "ms": statistics.median(answer["ms"] for answer in invocations),
                "cpu_ms": statistics.median(answer["cpu_ms"] for answer in invocations),
                "log_bytes": statistics.fmean(answer["log_bytes"] for answer in invocations),
            }
        print(f"  warm: {function.name} done", file=sys.stderr, flush=True)
    return found


CALLS = ("import_calls", "first_calls", "warm_calls")


def inspect(tree: Tree, stack: BenchStack, workdir: Path) -> Figures:
    """Per (function, side): the AWS requests of its import, of its first request and of a warm
    one, and how many modules of its own, its layer's and the runtime's it had loaded by then.
    Stops unless every side makes the same requests."""
    found: Figures = {}
    for function in FUNCTIONS:
        for side in SIDES:
            log = workdir / f"inspect-{function.code}.log"
            imported, (first, second), end = run(function, side, tree, stack, log, events=2, inspect=True)
            found.setdefault(function.name, {})[side] = {
                "import_calls": dict(Counter(imported["calls"])),
                "first_calls": dict(Counter(first["calls"])),
                "warm_calls": dict(Counter(second["calls"])),
                "modules": len(end["modules"]),
            }
        sides = found[function.name]
        for side in ("traced", "baseline"):
            if any(sides[side][calls] != sides["ours"][calls] for calls in CALLS):
                raise RuntimeError(f"{function.name}: {side} and ours (untraced) make different AWS requests: "
                                   f"{sides[side]} != {sides['ours']}")  # fmt: skip
    return found


def largest_items(stack: BenchStack, tables: Sequence[str] = ("OrdersTable", "EventsTable")) -> dict[str, int]:
    """Per table: the size of its largest item, as DynamoDB bills it, after the runs (every item the
    measured functions wrote is still there): what a write or a read of one costs in capacity units."""
    dynamodb, found = stack.client("dynamodb"), {}
    for table in tables:
        pages = dynamodb.get_paginator("scan").paginate(TableName=stack.refs[table])
        found[table] = max((item_bytes(item) for page in pages for item in page["Items"]), default=0)
    return found

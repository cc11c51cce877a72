"""Each function against its bare baseline, on the trees of bench/trees.py: cold starts (a fresh
process per run: import, then the first request), warm invocations (one process, its requests
after a warm-up), and what the first request asks of AWS and loads (inspected once, untimed).
Side by side and interleaved, so drift on the machine hits both alike: cold runs are shuffled in
every round, warm rounds alternate which side goes first."""

import random
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.execution import Execution
from bench.functions import FUNCTIONS, Function
from bench.stack import BenchStack
from bench.trees import MODES, Tree

SIDES = ("ours", "baseline")
# What each measure returns: function -> side -> figures (cold starts: mode -> function -> side -> figures).
type Figures = dict[str, dict[str, dict[str, Any]]]


def run(function: Function, side: str, tree: Tree, stack: BenchStack, log: Path, events: int = 1,
        inspect: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:  # fmt: skip
    """One execution environment of `function` (or its baseline) serving `events` events, each
    checked: what its import, each invocation and its end reported."""
    with Execution(tree.paths(function, side), tree.runtime, stack.environment(function.name), log, inspect) as ex:
        invocations = []
        for _ in range(events):
            event, logged = function.event(stack), ex.log_bytes()
            answer = ex.invoke(event) | {"log_bytes": ex.log_bytes() - logged}
            if not function.expected(answer["response"]):
                raise RuntimeError(f"{function.name} ({side}) answered {str(answer['response'])[:500]}; see {log}")
            invocations.append(answer)
        return ex.imported, invocations, ex.close()


def cold_starts(trees: dict[str, Tree], stack: BenchStack, workdir: Path, runs: int) -> dict[str, Figures]:
    """Per mode, per (function, side): the medians of `runs` fresh processes, after one discarded round."""
    plan = [(mode, function, side) for mode in MODES for function in FUNCTIONS for side in SIDES]
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


def warm(tree: Tree, stack: BenchStack, workdir: Path, requests: int, rounds: int = 2, warmup: int = 5) -> Figures:
    """Per (function, side): median wall and CPU time of `requests` warm invocations, in `rounds`
    processes per side, each after `warmup` untimed invocations."""
    found: Figures = {}
    for function in FUNCTIONS:
        samples: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
        for index in range(rounds):
            for side in SIDES if index % 2 == 0 else reversed(SIDES):
                log = workdir / f"warm-{function.code}.log"
                _, invocations, _ = run(function, side, tree, stack, log, warmup + max(1, requests // rounds))
                samples[side] += invocations[warmup:]
        for side, invocations in samples.items():
            found.setdefault(function.name, {})[side] = {
                "requests": len(invocations),
                "ms": statistics.median(answer["ms"] for answer in invocations),
                "cpu_ms": statistics.median(answer["cpu_ms"] for answer in invocations),
                "log_bytes": statistics.fmean(answer["log_bytes"] for answer in invocations),
            }
        print(f"  warm: {function.name} done", file=sys.stderr, flush=True)
    return found


def inspect(tree: Tree, stack: BenchStack, workdir: Path) -> Figures:
    """Per (function, side): the AWS requests of its first request and of a warm one, and how many
    modules of its own, its layer's and the runtime's it had loaded by then."""
    found: Figures = {}
    for function in FUNCTIONS:
        for side in SIDES:
            log = workdir / f"inspect-{function.code}.log"
            _, (first, second), end = run(function, side, tree, stack, log, events=2, inspect=True)
            found.setdefault(function.name, {})[side] = {
                "first_calls": dict(Counter(first["calls"])),
                "warm_calls": dict(Counter(second["calls"])),
                "modules": len(end["modules"]),
            }
        ours, baseline = found[function.name]["ours"], found[function.name]["baseline"]
        if (ours["first_calls"], ours["warm_calls"]) != (baseline["first_calls"], baseline["warm_calls"]):
            raise RuntimeError(f"{function.name}'s baseline no longer makes our AWS requests: {ours} != {baseline}")
    return found

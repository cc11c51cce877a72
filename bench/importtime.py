"""Where a cold start's import time goes: `python -X importtime` on the same fresh-process runs as
the cold-start table, split into the handler import and imports made during the first request."""

import re
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from coldstart import Variant, run_once
from stack import BenchStack
from trees import Tree

LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")
PHASE = re.compile(r"^BENCH-PHASE (\S+)$")


@dataclass(frozen=True)
class Import:
    module: str
    self_ms: float
    cumulative_ms: float
    depth: int
    phase: str  # "import" (the handler module) or "first-request" (lazy imports while serving)
    parent: str | None


def parse(stderr: str) -> list[Import]:
    """-X importtime prints children before their parent; depth is the indentation."""
    phase = "startup"
    pending: list[tuple[str, float, float, int, str]] = []
    for line in stderr.splitlines():
        marker = PHASE.match(line)
        if marker:
            phase = marker.group(1)
            continue
        match = LINE.match(line)
        if match:
            self_us, cumulative_us, indent, module = match.groups()
            pending.append((module, int(self_us) / 1000, int(cumulative_us) / 1000, (len(indent) - 1) // 2, phase))
    imports = []
    # A module's parent is the next line after it with a smaller depth.
    for index, (module, self_ms, cumulative_ms, depth, phase_) in enumerate(pending):
        parent = next((later[0] for later in pending[index + 1 :] if later[3] < depth), None)
        imports.append(Import(module, self_ms, cumulative_ms, depth, phase_, parent))
    return [item for item in imports if item.phase in ("import", "first-request")]


def profile(variant: Variant, tree: Tree, stack: BenchStack, workdir: Path, repeats: int) -> dict[str, Import]:
    """Median self/cumulative time per module over `repeats` fresh processes."""
    runs = []
    for _ in range(repeats):
        _, stderr = run_once(variant, tree, stack, workdir, extra=("-X", "importtime"))
        runs.append({item.module: item for item in parse(stderr)})
    merged = {}
    for module, first in runs[0].items():
        seen = [run[module] for run in runs if module in run]
        merged[module] = Import(
            module,
            statistics.median(item.self_ms for item in seen),
            statistics.median(item.cumulative_ms for item in seen),
            first.depth,
            first.phase,
            first.parent,
        )
    return merged


def top_package(module: str) -> str:
    return module.split(".")[0]


def by_package(profile_: dict[str, Import]) -> dict[str, dict[str, float]]:
    """Self time summed per top-level package and phase: a breakdown without double counting."""
    totals: dict[str, dict[str, float]] = defaultdict(lambda: {"import": 0.0, "first-request": 0.0, "modules": 0})
    for item in profile_.values():
        totals[top_package(item.module)][item.phase] += item.self_ms
        totals[top_package(item.module)]["modules"] += 1
    return totals


def package_comparison(
    ours: dict[str, Import], baseline: dict[str, Import], ours_precompiled: dict[str, Import], limit: int = 14
) -> list[dict]:
    ours_packages, baseline_packages = by_package(ours), by_package(baseline)
    precompiled_packages = by_package(ours_precompiled)
    rows = []
    for package, times in ours_packages.items():
        base = baseline_packages.get(package, {"import": 0.0, "first-request": 0.0, "modules": 0})
        ours_total = times["import"] + times["first-request"]
        base_total = base["import"] + base["first-request"]
        rows.append(
            {
                "package": package,
                "ours_ms": ours_total,
                "ours_first_request_ms": times["first-request"],
                "ours_modules": times["modules"],
                "ours_precompiled_ms": sum(
                    precompiled_packages.get(package, {}).get(phase, 0.0) for phase in ("import", "first-request")
                ),
                "baseline_ms": base_total,
                "baseline_modules": base["modules"],
                "excess_ms": ours_total - base_total,
            }
        )
    rows.sort(key=lambda row: -row["excess_ms"])
    return rows[:limit]


def ours_only_roots(ours: dict[str, Import], baseline: dict[str, Import], limit: int = 20) -> list[Import]:
    """Modules the baseline never imports whose importer the baseline does import (or that the
    handler imports directly): the entry points of everything only we load, by cumulative time."""
    roots = [
        item
        for module, item in ours.items()
        if module not in baseline and (item.parent is None or item.parent in baseline or item.depth == 1)
    ]
    roots.sort(key=lambda item: -item.cumulative_ms)
    return roots[:limit]


def first_level(profile_: dict[str, Import], baseline: dict[str, Import], limit: int = 25) -> list[Import]:
    """The modules ours imports that baseline does not, largest cumulative first (nested ones included,
    so a parent's time contains its children's)."""
    only = [item for module, item in profile_.items() if module not in baseline]
    only.sort(key=lambda item: -item.cumulative_ms)
    return only[:limit]

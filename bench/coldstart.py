"""Cold starts: each run is a fresh interpreter (bench/cold_runner.py) that imports the handler
and serves its first request. Variants are interleaved (every variant once per round, in a
shuffled order) so that drift on the machine hits all of them alike."""

import json
import random
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import fixtures
from stack import TABLE_NAME, BenchStack
from trees import MODES, Tree

RUNNER = Path(__file__).resolve().parent / "cold_runner.py"
# The interpreter Lambda's python3.13 would be: the venv's base, with only the stdlib on its path.
INTERPRETER = getattr(sys, "_base_executable", sys.executable)
RUN_TIMEOUT_SECONDS = 120
EXPECTED_STATUS = {"PaymentsFunction": 201, "NotificationsFunction": 200, "ReconcileFunction": None}
SERVICE = {"PaymentsFunction": "payments", "NotificationsFunction": "notifications", "ReconcileFunction": "reconcile"}


@dataclass(frozen=True)
class Variant:
    function: str
    implementation: str  # "ours" | "baseline"
    mode: str  # one of trees.MODES

    @property
    def label(self) -> str:
        return f"{self.function} {self.implementation} ({self.mode})"


def variants(with_reconcile: bool = True) -> list[Variant]:
    found = []
    for mode in MODES:
        for function in ("PaymentsFunction", "NotificationsFunction"):
            for implementation in ("ours", "baseline"):
                found.append(Variant(function, implementation, mode))
        if with_reconcile:
            found.append(Variant("ReconcileFunction", "ours", mode))
    return found


def event_for(function: str, prefix: str) -> dict:
    if function == "PaymentsFunction":
        return fixtures.create_session_event(fixtures.new_order_id(prefix))
    if function == "NotificationsFunction":
        return fixtures.notification_event(fixtures.seed_pending_session(TABLE_NAME, prefix))
    return fixtures.schedule_event()


def command(variant: Variant, tree: Tree, result: Path, event: Path, extra: tuple[str, ...] = ()) -> list[str]:
    paths = (
        tree.function_path(variant.function)
        if variant.implementation == "ours"
        else tree.baseline_path(variant.function)
    )
    # -B, not PYTHONDONTWRITEBYTECODE: -I ignores every PYTHON* variable, and a run that wrote
    # __pycache__ would turn the "as built" tree into a precompiled one.
    return [INTERPRETER, "-I", "-S", "-B", *extra, str(RUNNER), str(result), str(event), str(tree.runtime), *paths]


def lambda_environment(variant: "Variant", env: dict[str, str]) -> dict[str, str]:
    """What Lambda's runtime sets besides the template's variables. Libraries look at these: the
    X-Ray SDK, for one, skips building its sampling clients when it sees it runs in Lambda."""
    return {
        **env,
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": variant.function,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    }


def run_worker(
    command: list[str], env: dict[str, str], result_path: Path, timeout: float, what: str
) -> tuple[dict, str]:
    """Run one benchmark process that writes its figures to `result_path` as JSON; returns them
    and the process's stderr."""
    result_path.unlink(missing_ok=True)
    completed = subprocess.run(  # noqa: S603 - our own interpreter and files
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=timeout, check=False
    )
    if completed.returncode != 0 or not result_path.exists():
        raise RuntimeError(f"{what} failed:\n{completed.stderr[-3000:]}")
    return json.loads(result_path.read_text()), completed.stderr


def run_once(
    variant: Variant, tree: Tree, stack: BenchStack, workdir: Path, extra: tuple[str, ...] = ()
) -> tuple[dict, str]:
    workdir.mkdir(parents=True, exist_ok=True)
    event_path = workdir / "event.json"
    result_path = workdir / "result.json"
    event_path.write_text(json.dumps(event_for(variant.function, "cold")))
    result, stderr = run_worker(
        command(variant, tree, result_path, event_path, extra),
        lambda_environment(variant, stack.function_environment(SERVICE[variant.function])),
        result_path,
        RUN_TIMEOUT_SECONDS,
        f"cold run of {variant.label}",
    )
    expected = EXPECTED_STATUS[variant.function]
    if expected is not None and result["status"] != expected:
        raise RuntimeError(
            f"cold run of {variant.label} answered {result['status']}, expected {expected}:\n{stderr[-3000:]}"
        )
    if not result["app_file"].startswith(str(tree.root)):
        raise RuntimeError(f"{variant.label} loaded {result['app_file']}, not the tree under test")
    return result, stderr


def measure(trees: dict[str, Tree], stack: BenchStack, workdir: Path, runs: int, seed: int = 5) -> dict[Variant, dict]:
    workdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)  # noqa: S311 - shuffles run order, not security
    plan = variants()
    samples: dict[Variant, list[dict]] = {variant: [] for variant in plan}
    for round_number in range(runs):
        order = plan[:]
        rng.shuffle(order)
        for variant in order:
            result, _ = run_once(variant, trees[variant.mode], stack, workdir)
            samples[variant].append(result)
        print(f"  cold starts: round {round_number + 1}/{runs} done", file=sys.stderr, flush=True)
    return {variant: summarize(runs_) for variant, runs_ in samples.items()}


def summarize(results: list[dict]) -> dict:
    def median(key: str) -> float:
        return statistics.median(result[key] for result in results)

    totals = [result["import_ms"] + result["first_ms"] for result in results]
    return {
        "runs": len(results),
        "import_ms": median("import_ms"),
        "import_cpu_ms": median("import_cpu_ms"),
        "first_ms": median("first_ms"),
        "first_cpu_ms": median("first_cpu_ms"),
        "total_ms": statistics.median(totals),
        "total_min_ms": min(totals),
        "total_max_ms": max(totals),
        "maxrss_kb": median("maxrss_kb"),
        "modules_total": median("modules_total"),
    }

"""The local scenarios (local/demo/scenarios.py): each one passes on a stack of its own making
(one stack for this module: the clock only ever moves forward, so their order does not matter),
`python -m local scenario NAME` says PASS and exits 0, and a scenario whose step fails says FAIL."""

import subprocess
import sys

import pytest

from local.demo import scenarios
from local.demo.scenarios import SCENARIOS, run_scenario
from local.stack import LocalStack
from tests.e2e.test_local_cli import REPO_ROOT


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LocalStack.on_free_ports(tmp_path_factory.mktemp("scenario-logs")) as started:
        yield started


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_scenario_passes_step_by_step(stack, name):
    lines: list[str] = []

    assert run_scenario(name, stack, lines.append), "\n".join(lines)

    assert lines[0].startswith("1. ") and lines[-1].startswith(f"PASS {name}")


def test_a_scenario_whose_step_fails_says_fail(stack, monkeypatch):
    monkeypatch.setattr(scenarios, "WAIT_SECONDS", 2.0)
    stack.sandbox.fail_next_initialize("error", status=503)
    lines: list[str] = []

    try:
        assert not run_scenario("failed-payment", stack, lines.append)
    finally:
        stack.sandbox.clear_failures()

    assert lines[-1].startswith("FAIL failed-payment: POST /sessions answered 5"), lines


def test_make_local_lists_every_scenario_and_each_runs_on_its_own():
    described = [name for name, _ in scenarios.describe()]
    assert described == list(SCENARIOS)

    run = subprocess.run(
        [sys.executable, "-m", "local", "scenario", "webhook-down"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert "PASS webhook-down" in run.stdout and "Traceback" not in run.stdout + run.stderr

"""The garbage collector while a function initialises: paused from the handler's first import to
the end of `wiring.prepare`, then resumed with what initialisation made frozen; untouched outside
Lambda. Each case in a fresh interpreter: the collector's state is the process's."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local.emulator.template import ROOT

PROBE = """
import gc, json
from payments.config import collector
paused = not gc.isenabled()
from payments.config import wiring
wiring.prepare()
print(json.dumps({"paused": paused, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""


def run_probe(lambda_name: str | None) -> dict[str, Any]:
    environment = {key: value for key, value in os.environ.items() if key != "AWS_LAMBDA_FUNCTION_NAME"}
    if lambda_name is not None:
        environment["AWS_LAMBDA_FUNCTION_NAME"] = lambda_name
    environment["PYTHONPATH"] = str(ROOT / "layers" / "etpay")
    answer = subprocess.run(
        [sys.executable, "-c", PROBE], env=environment, capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(answer.stdout.splitlines()[-1])


def test_in_lambda_the_collector_waits_for_the_end_of_initialisation_then_skips_what_it_made():
    state = run_probe("etpay-PaymentsFunction")

    assert state["paused"] is True
    assert state["enabled"] is True
    assert state["frozen"] > 10_000  # botocore's and our modules, out of every later collection


def test_outside_lambda_the_collector_is_left_alone():
    assert run_probe(None) == {"paused": False, "enabled": True, "frozen": 0}


@pytest.mark.parametrize("handler", sorted(ROOT.glob("functions/*/app.py")), ids=lambda path: path.parent.name)
def test_every_handler_imports_the_collector_first(handler: Path):
    tree = ast.parse(handler.read_text())
    first = next(node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom))

    assert isinstance(first, ast.ImportFrom)
    assert (first.module, [alias.name for alias in first.names]) == ("payments.config", ["collector"])

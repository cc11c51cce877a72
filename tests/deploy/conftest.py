"""The templates CloudFormation would deploy, for every combination of the template's switches.

scripts/deploycheck expands template.yaml through AWS::LanguageExtensions and the SAM transform, in
.venv-sam's interpreter (the only one with aws-sam-cli). That takes a while, so it runs once per
test session and every module of tests/deploy reads the same result.

Its fixtures are this tier's (its conftest.py imports them).
"""

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local.emulator.template import ROOT
from scripts.deploycheck import output

SAM_PYTHON = ROOT / os.environ.get("SAM_VENV", ".venv-sam") / "bin" / "python"
EXPANSION_TIMEOUT_SECONDS = 300
# Where `make deploycheck` writes its expansion (the Makefile's DEPLOYCHECK_DIR).
DEPLOYCHECK_OUT = ROOT / ".aws-sam" / "deploycheck"


@dataclass(frozen=True)
class Expansion:
    out: Path
    entries: list[output.Entry]  # every combination, refused ones included


@pytest.fixture(scope="session")
def expansion(tmp_path_factory: pytest.TempPathFactory) -> Expansion:
    # `make test` has just run `make deploycheck`: its expansion is reused while it is of the
    # current template, switches and expansion code (output.is_current), else made here.
    if output.is_current(DEPLOYCHECK_OUT):
        return Expansion(DEPLOYCHECK_OUT, output.read_manifest(DEPLOYCHECK_OUT))
    if not SAM_PYTHON.exists():
        pytest.fail(f"{SAM_PYTHON} is missing: run make deps")
    out = tmp_path_factory.mktemp("deploycheck")
    result = subprocess.run(
        [str(SAM_PYTHON), "-m", "scripts.deploycheck", "--no-lint", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=EXPANSION_TIMEOUT_SECONDS,
    )
    if result.returncode != 0:
        pytest.fail(f"template.yaml does not expand in every combination:\n{result.stdout}{result.stderr}")
    return Expansion(out, output.read_manifest(out))


@pytest.fixture(scope="session")
def deployed(expansion: Expansion) -> list[tuple[output.Entry, dict[str, Any]]]:
    """(combination, expanded template) for every combination that expands. Combinations that
    expand alike share one template object: tests read it, never change it."""
    loaded: dict[str, dict[str, Any]] = {}
    found = []
    for entry in expansion.entries:
        if entry.outcome != output.EXPANDED or entry.template is None:
            continue
        if entry.template not in loaded:
            loaded[entry.template] = json.loads((expansion.out / entry.template).read_text(encoding="utf-8"))
        found.append((entry, loaded[entry.template]))
    return found

"""Every command the repository's Markdown shows exists: each `make <target>` is a target of the
Makefile, each `make scenario NAME=...` a scenario of the local stack, and each `python -m <module>`
a module that runs (ours with its `__main__`, or an installed one). Commands are read from code
only: fenced blocks and inline code spans, where a reader copies them from."""

import importlib.util
import re
from pathlib import Path

import pytest

from local.demo.scenarios import SCENARIOS
from local.emulator.template import ROOT
from tests.support.markdown import code, documents, name

DOCUMENTS = documents()
ASSIGNMENT = r"[A-Za-z_][A-Za-z0-9_]*=(?:\"[^\"]*\"|'[^']*'|\S*)"
MAKE = re.compile(rf"(?:^|[\s;&|(`])make((?:\s+(?:{ASSIGNMENT}|-[A-Za-z-]+))*)\s+([a-z][a-z0-9_-]*)\b([^;&|#]*)")
PYTHON_MODULE = re.compile(r"(?:^|[\s/;&|(])python(?:3(?:\.\d+)?)?(?:\s+-[A-Za-z]+)*\s+-m\s+([A-Za-z_][\w.]*)")
SCENARIO = re.compile(r"NAME=([\w-]+)")


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.MULTILINE)) - {".PHONY", ".DEFAULT_GOAL"}


def module_runs(module: str) -> bool:
    """Ours (a folder or file of the repository): its file, or its package's __main__.py, exists.
    Anyone else's: it is installed here."""
    parts = module.split(".")
    for base in (ROOT, ROOT / "layers" / "etpay"):
        if (base / parts[0]).exists() or (base / f"{parts[0]}.py").exists():
            path = base.joinpath(*parts)
            return (path / "__main__.py").exists() or path.with_suffix(".py").exists()
    return importlib.util.find_spec(module) is not None


def commands_in(text: str) -> tuple[list[tuple[int, str, str]], list[tuple[int, str]]]:
    """(line, target, rest of the command) of every make command; (line, module) of every python -m."""
    makes, modules = [], []
    for line, piece in code(text):
        makes += [(line, match.group(2), match.group(3)) for match in MAKE.finditer(piece)]
        modules += [(line, match.group(1)) for match in PYTHON_MODULE.finditer(piece)]
    return makes, modules


def problems_in(path: Path, text: str | None = None) -> list[str]:
    makes, modules = commands_in(path.read_text(encoding="utf-8") if text is None else text)
    targets = makefile_targets()
    problems = [
        f"{name(path)}:{line}: make {target}: no such target" for line, target, _ in makes if target not in targets
    ]
    for line, target, rest in makes:
        if target == "scenario":
            problems += [
                f"{name(path)}:{line}: make scenario NAME={scenario}: no such scenario ({sorted(SCENARIOS)})"
                for scenario in SCENARIO.findall(rest)
                if scenario not in SCENARIOS
            ]
    problems += [
        f"{name(path)}:{line}: python -m {module}: no such module"
        for line, module in modules
        if not module_runs(module)
    ]
    return problems


def test_the_commands_are_found():
    makes, _ = commands_in((ROOT / "README.md").read_text())
    assert {"local", "test", "scenario", "deploy", "ops"} <= {target for _, target, _ in makes}
    modules = {module for path in DOCUMENTS for _, module in commands_in(path.read_text(encoding="utf-8"))[1]}
    assert {"ops", "local", "bench", "pytest"} <= modules


@pytest.mark.parametrize("path", DOCUMENTS, ids=name)
def test_every_make_target_scenario_and_module_the_docs_name_exists(path):
    assert problems_in(path) == []


def test_a_missing_target_scenario_or_module_is_named():
    text = (
        "Run `make no-such-target`, then `make ENV=x -s unit`.\n\n"
        "```bash\nmake scenario NAME=no-such-scenario\n.venv/bin/python -m no_such_module --help\n"
        "python3 -m ops reviews  # fine\nmake make-believe\n```\n"
        "To make sure, read `make`'s help. python -m nowhere (prose, not code).\n"
    )
    problems = problems_in(ROOT / "docs" / "FAKE.md", text)
    assert len(problems) == 4, problems
    assert any("make no-such-target: no such target" in problem for problem in problems)
    assert any("make make-believe: no such target" in problem for problem in problems)
    assert any("NAME=no-such-scenario: no such scenario" in problem for problem in problems)
    assert any("python -m no_such_module: no such module" in problem for problem in problems)

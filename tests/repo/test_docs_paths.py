"""Every path of the repository the Markdown names in code (`tests/repo/test_runbook.py`,
`payments/domain/orders.py`, `local/demo/terminal.py`) exists: a module that moves or is renamed
leaves no document pointing at its old place. Paths of the layer's packages (`payments/...`,
`etpay/...`) are read from `layers/etpay`; a path with a placeholder (`functions/<name>/app.py`) or
a glob is not a path."""

import re
from pathlib import Path

import pytest

from local.emulator.template import ROOT
from tests.support.markdown import documents, inline_code, name, split

TOP = r"(?:layers|functions|local|ops|scripts|bench|tests|docs|events|\.ci)"
# The layer's packages: a module or a folder (`etpay/credentials` alone is the ETpay secret's name).
REPOSITORY_PATH = re.compile(rf"^(?:\./)?(?:{TOP}/[\w./-]*|(?:payments|etpay)/(?:[\w/-]+\.py|[\w/-]*/))$")
LAYER = ROOT / "layers" / "etpay"


def named_paths(text: str) -> list[tuple[int, str]]:
    prose, _ = split(text)
    found = []
    for line, content in prose:
        for span in inline_code(content):
            path = re.sub(r"(::\S*|:\d+)$", "", span)
            if REPOSITORY_PATH.match(path) and "..." not in path:
                found.append((line, path.removeprefix("./")))
    return found


def missing_paths(path: Path, text: str | None = None) -> list[str]:
    text = path.read_text(encoding="utf-8") if text is None else text
    problems = []
    for line, named in named_paths(text):
        base = LAYER if named.startswith(("payments/", "etpay/")) else ROOT
        if not (base / named).exists():
            problems.append(f"{name(path)}:{line}: `{named}` does not exist")
    return problems


def test_the_paths_are_found():
    assert len(named_paths((ROOT / "docs" / "ARCHITECTURE.md").read_text())) >= 20


@pytest.mark.parametrize("path", documents(), ids=name)
def test_every_path_the_docs_name_exists(path):
    assert missing_paths(path) == []


def test_a_moved_module_is_named():
    text = "See `payments/model.py`, `tests/unit/test_runbook.py::test_x`, `functions/<name>/app.py`, `local/`.\n"
    assert missing_paths(ROOT / "docs" / "FAKE.md", text) == [
        "docs/FAKE.md:1: `payments/model.py` does not exist",
        "docs/FAKE.md:1: `tests/unit/test_runbook.py` does not exist",
    ]

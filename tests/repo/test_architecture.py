"""The layout docs/ARCHITECTURE.md describes holds: no class needs a scroll bar, no module is two
modules, every module the document names exists, and the tests share helpers through
tests/support (never `from conftest import`). The import contracts themselves are lint-imports'
(make lint)."""

import ast
import re

import pytest

from local.emulator.template import ROOT

MAX_CLASS_LINES = 250
MAX_MODULE_LINES = 450
SHIPPED = sorted([*(ROOT / "layers" / "etpay").rglob("*.py"), *(ROOT / "functions").rglob("*.py")])
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"


def name(path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", SHIPPED, ids=name)
def test_no_module_or_class_that_ships_is_two(path):
    source = path.read_text()
    assert len(source.splitlines()) <= MAX_MODULE_LINES, f"{name(path)}: split it along its seams"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            assert node.end_lineno is not None  # ast.parse sets it on every node
            lines = node.end_lineno - node.lineno + 1
            assert lines <= MAX_CLASS_LINES, f"{name(path)}: class {node.name} has {lines} lines"


def test_every_module_the_architecture_names_exists():
    named = set(re.findall(r"`((?:payments|etpay)/[a-z_/]+\.py)`", ARCHITECTURE.read_text()))
    assert named, "the document names the modules where rules live"
    layer = ROOT / "layers" / "etpay"
    assert sorted(path for path in named if not (layer / path).exists()) == []


def test_every_ring_is_a_package_the_document_describes():
    rings = {
        path.name for path in (ROOT / "layers" / "etpay" / "payments").iterdir() if (path / "__init__.py").exists()
    }
    text = ARCHITECTURE.read_text()
    assert rings == {"domain", "app", "adapters", "api", "config"}
    for ring in rings:
        assert f"payments.{ring}" in text


def test_tests_share_helpers_through_the_support_package():
    offenders = [
        name(path)
        for path in (ROOT / "tests").rglob("*.py")
        if re.search(r"^\s*(from conftest import|import conftest)", path.read_text(), re.MULTILINE)
    ]
    assert offenders == []

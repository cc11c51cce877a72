"""The sandbox's modules import one another one way only: a cycle (routes.py needing sandbox.py
while sandbox.py builds its server from routes.py) only worked through an import hidden in a
function, and broke as soon as someone moved it to the top."""

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

PACKAGE = "local.etpay_sandbox"
PACKAGE_DIR = Path(__file__).resolve().parents[2] / "local" / "etpay_sandbox"


def _sibling_imports(path: Path) -> set[str]:
    """Every module of the package that `path` imports, wherever in the file the import is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module == PACKAGE:
            found.update(alias.name for alias in node.names if (PACKAGE_DIR / f"{alias.name}.py").exists())
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.module.startswith(PACKAGE + "."):
            found.add(node.module.removeprefix(PACKAGE + "."))
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix(PACKAGE + ".") for a in node.names if a.name.startswith(PACKAGE + "."))
    return found


def test_the_sandbox_package_has_no_import_cycle():
    modules = {path.stem: _sibling_imports(path) for path in PACKAGE_DIR.glob("*.py") if path.stem != "__init__"}

    try:
        order = list(TopologicalSorter(modules).static_order())
    except CycleError as cycle:
        raise AssertionError(f"import cycle: {' -> '.join(cycle.args[1])}") from None
    assert order.index("model") < order.index("routes") < order.index("sandbox")

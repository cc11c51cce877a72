"""The repository root (for `local`) and the layer's source (for `etpay`, `payments`) on sys.path."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ensure_paths() -> None:
    for path in (ROOT, ROOT / "layers" / "etpay"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))

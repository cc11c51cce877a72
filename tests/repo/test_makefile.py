"""`make help` is a newcomer's map of the Makefile: every .PHONY target must be on it."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")


def _phony_targets() -> set[str]:
    found = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith(".PHONY:"):
            found.update(line.removeprefix(".PHONY:").split())
    return found


@pytest.mark.skipif(MAKE is None, reason="needs GNU make")
def test_make_help_lists_every_phony_target():
    assert MAKE is not None  # the skipif above
    shown = subprocess.run(
        [MAKE, "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout

    listed = set(re.findall(r"^make (\S+) ", shown, re.MULTILINE))
    assert _phony_targets() - listed == set()
    assert len(_phony_targets()) >= 10  # the parsing above found the real list

"""The layer is built from a lock: every package it ships pinned, hashed and complete."""

import re
from importlib import metadata

from packaging.requirements import Requirement

from local.emulator.template import ROOT

LAYER = ROOT / "layers" / "etpay"
# Shipped by Lambda's Python runtime; a second copy in the layer would shadow it.
RUNTIME_PACKAGES = {"botocore", "python-dateutil", "six", "s3transfer", "boto3"}
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^ \\]+)")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes), from the lock file's requirement blocks."""
    found: dict[str, tuple[str, int]] = {}
    current = None
    for line in (LAYER / "requirements.txt").read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = normalized(match.group(1))
            found[current] = (match.group(2), 0)
        elif line.strip().startswith("--hash=sha256:") and current:
            version, hashes = found[current]
            found[current] = (version, hashes + 1)
    return found


def direct() -> dict[str, str]:
    pins = {}
    for line in (LAYER / "requirements.in").read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[normalized(match.group(1))] = match.group(2)
    return pins


def test_every_direct_dependency_is_locked_at_its_pinned_version():
    lock = locked()
    for name, version in direct().items():
        assert name in lock, f"{name} is in requirements.in but not in the lock: run make lock"
        assert lock[name][0] == version, f"{name}: requirements.in says {version}, the lock {lock[name][0]}"


def test_every_locked_package_is_hashed_and_none_is_the_runtimes():
    lock = locked()
    assert lock
    for name, (_, hashes) in lock.items():
        assert hashes >= 1, f"{name} has no hash in the lock"
        assert name not in RUNTIME_PACKAGES, f"{name} ships with Lambda's runtime and must not be in the layer"


def test_the_lock_is_closed_under_dependencies():
    """Every dependency of every locked package is locked too (or is the runtime's), so the
    --no-deps build installs a complete set. The dev venv has the same versions installed."""
    lock = locked()
    for name in lock:
        for spec in metadata.requires(name) or ():
            requirement = Requirement(spec)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            dependency = normalized(requirement.name)
            assert dependency in lock or dependency in RUNTIME_PACKAGES, f"{name} needs {dependency}, not locked"

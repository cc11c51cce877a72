"""What `make deploycheck` leaves behind, read by the tests too: one JSON file per distinct expanded
template under templates/, and manifest.json saying which combination gave which (plain Python,
no aws-sam-cli needed to read it)."""

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
# What the expansion was made from: a later reader (tests/deploy) reuses it only while they match.
INPUTS_DIGEST = "inputs.sha256"
TEMPLATES = "templates"
EXPANDED, REFUSED, FAILED = "expanded", "refused", "failed"


@dataclass(frozen=True)
class Entry:
    source: str  # "deploycheck.yaml" or "samconfig.toml [env]"
    overrides: dict[str, str]  # what the combination sets
    parameters: dict[str, str]  # every parameter's value in that deploy
    outcome: str  # EXPANDED, REFUSED (by the template's Rules) or FAILED
    template: str | None  # relative path of the expanded template, when EXPANDED
    detail: str | None  # why, when REFUSED or FAILED


def reset(out: Path) -> None:
    """An empty templates/ directory: a previous run's templates must not be linted again."""
    shutil.rmtree(out / TEMPLATES, ignore_errors=True)
    (out / TEMPLATES).mkdir(parents=True)
    (out / MANIFEST).unlink(missing_ok=True)
    (out / INPUTS_DIGEST).unlink(missing_ok=True)


def inputs_digest() -> str:
    """A digest of everything an expansion depends on: the template, the switches, samconfig.toml
    and the expansion's own code."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    files = [root / "template.yaml", root / "deploycheck.yaml", root / "samconfig.toml"]
    files += sorted(Path(__file__).resolve().parent.glob("*.py"))
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def write_inputs_digest(out: Path) -> None:
    (out / INPUTS_DIGEST).write_text(inputs_digest() + "\n", encoding="utf-8")


def is_current(out: Path) -> bool:
    """Whether `out` holds a complete expansion of the current inputs."""
    try:
        return (out / INPUTS_DIGEST).read_text(encoding="utf-8").strip() == inputs_digest()
    except OSError:
        return False


def store(out: Path, template: dict[str, Any]) -> str:
    """Writes an expanded template once per distinct content; returns its path relative to `out`."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    name = f"{TEMPLATES}/{hashlib.sha256(canonical.encode()).hexdigest()[:16]}.json"
    path = out / name
    if not path.exists():
        path.write_text(json.dumps(template, indent=2) + "\n", encoding="utf-8")
    return name


def write_manifest(out: Path, entries: list[Entry]) -> None:
    (out / MANIFEST).write_text(json.dumps([asdict(entry) for entry in entries], indent=2) + "\n", encoding="utf-8")


def read_manifest(out: Path) -> list[Entry]:
    return [Entry(**entry) for entry in json.loads((out / MANIFEST).read_text(encoding="utf-8"))]

"""deploycheck-skips.yaml: the lint findings accepted on purpose, each with why it does not apply.

A finding matches an entry by tool, check id and resource: a logical id, a list of them, or an
fnmatch pattern (`PaymentsApi*Stage` for names that carry the stage, `*` for every one). An entry
that matches no finding any more is an error too, so the file only ever lists real findings.
"""

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import yaml

from .errors import SkipsError
from .lint import CFN_LINT, CHECKOV, Finding


@dataclass(frozen=True)
class Skip:
    tool: str
    check_id: str
    resource: str
    reason: str

    def matches(self, finding: Finding) -> bool:
        return (
            finding.tool == self.tool
            and finding.check_id == self.check_id
            and fnmatchcase(finding.resource, self.resource)
        )


def load(path: Path) -> list[Skip]:
    with open(path, encoding="utf-8") as handle:
        document = yaml.safe_load(handle) or {}
    if not isinstance(document, dict) or set(document) - {CFN_LINT, CHECKOV}:
        raise SkipsError(f"{path.name}: expected only the lists `{CFN_LINT}:` and `{CHECKOV}:`")
    skips = []
    for tool, entries in document.items():
        for entry in entries or []:
            if not isinstance(entry, dict) or not all(entry.get(key) for key in ("id", "resource", "reason")):
                raise SkipsError(f"{path.name}: every {tool} entry needs id, resource and a reason: {entry!r}")
            resources = entry["resource"] if isinstance(entry["resource"], list) else [entry["resource"]]
            reason = " ".join(str(entry["reason"]).split())
            skips += [Skip(tool, str(entry["id"]), str(resource), reason) for resource in resources]
    return skips


def apply(findings: list[Finding], skips: list[Skip]) -> tuple[list[Finding], list[Skip]]:
    """(the findings no entry accepts, the entries that accept no finding)."""
    unaccepted = [finding for finding in findings if not any(skip.matches(finding) for skip in skips)]
    unused = [skip for skip in skips if not any(skip.matches(finding) for finding in findings)]
    return unaccepted, unused

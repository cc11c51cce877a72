"""cfn-lint and checkov, each run once over every distinct expanded template, their findings in
one shape."""

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ToolError

CFN_LINT, CHECKOV = "cfn-lint", "checkov"
# cfn-lint's exit status is a bitmask of what it found (2 error, 4 warning, 8 informational).
_CFN_LINT_FINDINGS_ONLY = 2 | 4 | 8


@dataclass(frozen=True)
class Finding:
    tool: str
    check_id: str
    resource: str  # logical id (or parameter, condition, output name) it points at; "" if none
    title: str
    template: str  # file name of the expanded template


@dataclass(frozen=True)
class Run:
    findings: list[Finding]
    seconds: float


def cfn_lint(executable: Path, templates: list[Path]) -> Run:
    started = time.perf_counter()
    result = _run([str(executable), "--format", "json", "--", *map(str, templates)])
    if result.returncode & ~_CFN_LINT_FINDINGS_ONLY:
        raise ToolError(f"cfn-lint failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
    findings = [
        Finding(
            tool=CFN_LINT,
            check_id=match["Rule"]["Id"],
            resource=_named(match["Location"]["Path"]),
            title=match["Rule"]["ShortDescription"],
            template=Path(match["Filename"]).name,
        )
        for match in _json(CFN_LINT, result.stdout)
    ]
    return Run(findings, time.perf_counter() - started)


def checkov(executable: Path, directory: Path) -> Run:
    started = time.perf_counter()
    # --skip-download: nothing is fetched from Prisma Cloud, so it runs with no network at all.
    command = [str(executable), "--directory", str(directory), "--framework", "cloudformation"]
    command += ["--output", "json", "--quiet", "--soft-fail", "--skip-download"]
    result = _run(command)
    if result.returncode != 0:
        raise ToolError(f"checkov failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
    reports = _json(CHECKOV, result.stdout)
    # One framework gives one report; checkov answers a list when it ran several.
    reports = reports if isinstance(reports, list) else [reports]
    findings = [
        Finding(
            tool=CHECKOV,
            check_id=check["check_id"],
            resource=check["resource"].rsplit(".", 1)[-1],
            title=check["check_name"],
            template=Path(check["file_path"]).name,
        )
        for report in reports
        for check in report.get("results", {}).get("failed_checks", [])
    ]
    return Run(findings, time.perf_counter() - started)


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - our venvs' linters
    except OSError as error:
        raise ToolError(f"cannot run {command[0]}: {error} (make deps?)") from error


def _json(tool: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ToolError(f"{tool} did not answer JSON: {text[:500]!r}") from error


def _named(path: list[Any]) -> str:
    # ["Resources", "OrdersTable", "Properties", ...]: the entry is the second element.
    return str(path[1]) if len(path) > 1 else ""

"""`make deploycheck`: python -m scripts.deploycheck --cfn-lint BIN --checkov BIN [--out DIR].

Expands every combination (`--no-lint` stops there, for the tests), writes the distinct templates
and manifest.json under --out, lints the few that hold every distinct definition (cover.py;
`--lint-all`: every one), and exits 1 if a combination does not expand or a
finding is not in deploycheck-skips.yaml; 2 if the switches themselves are wrong.
"""

import argparse
import json
import os
import shutil
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

# aws-sam-cli (samcli, samtranslator) is installed in .venv-sam only, not in the venv mypy checks with.
from samcli.yamlhelper import yaml_parse  # type: ignore[import-not-found]

from . import combinations, cover, expand, guard, lint, output, parameters, skips
from .errors import DeploycheckError, ExpansionError
from .project import DEFAULT_OUT, ROOT, SAMCONFIG, SKIPS, SWITCHES, TEMPLATE


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    started = time.perf_counter()
    timings = {}
    try:
        template = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
        switches = combinations.load_switches(SWITCHES)
        guard.check(template, switches, [combination.overrides for combination in combinations.load_also(SWITCHES)])
        expanding = time.perf_counter()
        entries = _expand_all(template, switches, arguments.out)
        timings["translate"] = time.perf_counter() - expanding
        _print_expansion(entries, arguments.out)
        passed = all(entry.outcome != output.FAILED for entry in entries)
        if not arguments.no_lint:
            passed &= _lint(arguments, entries, timings)
    except DeploycheckError as error:
        print(f"deploycheck: {error}", file=sys.stderr)
        return 2
    timings["total"] = time.perf_counter() - started
    print("time: " + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in timings.items()))
    return 0 if passed else 1


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="deploycheck", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where templates/ and manifest.json go")
    parser.add_argument("--cfn-lint", type=Path, help="the cfn-lint executable")
    parser.add_argument("--checkov", type=Path, help="the checkov executable")
    parser.add_argument("--no-lint", action="store_true", help="only expand every combination")
    parser.add_argument(
        "--lint-all", action="store_true", help="lint every distinct template, not only a set covering every definition"
    )
    arguments = parser.parse_args(argv)
    if not arguments.no_lint and (arguments.cfn_lint is None or arguments.checkov is None):
        parser.error("--cfn-lint and --checkov are required unless --no-lint")
    return arguments


def _expand_all(template: dict, switches: dict[str, list[str]], out: Path) -> list[output.Entry]:
    """Every combination, split over one process per core: each imports the translator once, then
    takes ~50 ms a combination."""
    output.reset(out)
    every = combinations.product(switches) + combinations.load_also(SWITCHES)
    every += combinations.samconfig_environments(SAMCONFIG)
    workers = max(1, min(os.cpu_count() or 1, len(every)))
    shares = [every[index::workers] for index in range(workers)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        done = list(pool.map(_expand_share, [template] * workers, shares, [out] * workers))
    # Back into the order of `every`: share i holds combinations i, i + workers, ...
    entries = [done[index % workers][index // workers] for index in range(len(every))]
    output.write_manifest(out, entries)
    output.write_inputs_digest(out)
    return entries


def _expand_share(template: dict, share: list[combinations.Combination], out: Path) -> list[output.Entry]:
    expand.isolate_from_aws()
    expander = expand.Expander(expand.packaged(template))
    stored: dict[int, str] = {}  # id() of an expanded template -> where it is stored
    entries = []
    for combination in share:
        values = parameters.effective_values(template, combination.overrides)
        outcome, path, detail = output.EXPANDED, None, None
        try:
            _check_values(template, combination, values)
            if (refused := combinations.refusal(template, values)) is not None:
                outcome, detail = output.REFUSED, refused
            else:
                expanded = expander.expand(values)
                if id(expanded) not in stored:
                    stored[id(expanded)] = output.store(out, expanded)
                path = stored[id(expanded)]
        except ExpansionError as error:
            outcome, detail = output.FAILED, str(error)
        entries.append(output.Entry(combination.source, combination.overrides, values, outcome, path, detail))
    return entries


def _check_values(template: dict, combination: combinations.Combination, values: dict[str, str]) -> None:
    # The switches were checked as a whole; a samconfig.toml environment is checked here.
    problems = parameters.problems_with(template, combination.overrides, combination.source)
    problems += [
        f"no value for {name} (it has no Default)" for name in parameters.definitions(template) if name not in values
    ]
    if problems:
        raise ExpansionError("; ".join(problems))


def _print_expansion(entries: list[output.Entry], out: Path) -> None:
    by_outcome = defaultdict(list)
    sources: dict[str, int] = defaultdict(int)
    for entry in entries:
        by_outcome[entry.outcome].append(entry)
        sources[entry.source.split(" [")[0]] += 1
    distinct = {entry.template for entry in by_outcome[output.EXPANDED]}
    where = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(
        f"deploycheck: {len(entries)} combinations ({', '.join(f'{n} from {s}' for s, n in sources.items())}): "
        f"{len(by_outcome[output.EXPANDED])} expanded into {len(distinct)} distinct templates under {where}, "
        f"{len(by_outcome[output.REFUSED])} refused by the template's Rules, {len(by_outcome[output.FAILED])} failed"
    )
    for entry in by_outcome[output.FAILED]:
        print(f"  FAILED {_label(entry)}\n    {entry.detail}")


def _label(entry: output.Entry) -> str:
    values = " ".join(f"{name}={value!r}" for name, value in entry.overrides.items())
    return values if entry.source == combinations.SWITCHES_SOURCE else f"{entry.source}: {values}"


def _lint(arguments: argparse.Namespace, entries: list[output.Entry], timings: dict[str, float]) -> bool:
    """Both linters once over the chosen templates, side by side; True if every finding is accepted."""
    example: dict[str, str] = {}
    for entry in entries:
        if entry.template is not None:
            example.setdefault(Path(entry.template).name, _label(entry))
    if not example:
        return False
    accepted = skips.load(SKIPS)
    linted = _chosen(arguments, sorted(example))
    with ThreadPoolExecutor(max_workers=2) as pool:
        cfn_lint = pool.submit(lint.cfn_lint, arguments.cfn_lint, sorted(linted.iterdir()))
        checkov = pool.submit(lint.checkov, arguments.checkov, linted)
        runs = {lint.CFN_LINT: cfn_lint.result(), lint.CHECKOV: checkov.result()}
    findings = [finding for run in runs.values() for finding in run.findings]
    unaccepted, unused = skips.apply(findings, accepted)
    for tool, run in runs.items():
        timings[tool] = run.seconds
        own = [finding for finding in unaccepted if finding.tool == tool]
        print(summary(tool, len(own), len(run.findings) - len(own)))
        for (check_id, resource, title), names in _grouped(own).items():
            print(f"  {check_id} {resource or '-'}: {title}")
            print(f"    in {len(names)} of {len(example)} templates, e.g. {example[names[0]]}")
    for skip in unused:
        print(f"{SKIPS.name}: {skip.tool} {skip.check_id} {skip.resource} matches no finding any more: remove it")
    return not unaccepted and not unused


def summary(tool: str, unaccepted: int, accepted: int) -> str:
    """One tool's verdict: what still needs fixing first, then what was accepted on purpose."""
    noun = "finding" if unaccepted == 1 else "findings"
    return f"{tool}: {unaccepted} unaccepted {noun} ({accepted} accepted, with reasons in {SKIPS.name})"


def _chosen(arguments: argparse.Namespace, names: list[str]) -> Path:
    """A directory holding the templates to lint (checkov reads a directory)."""
    templates = arguments.out / output.TEMPLATES
    chosen = names
    if not arguments.lint_all:
        loaded = {name: json.loads((templates / name).read_text(encoding="utf-8")) for name in names}
        chosen = cover.covering(loaded)
    linted = arguments.out / "linted"
    shutil.rmtree(linted, ignore_errors=True)
    linted.mkdir(parents=True)
    for name in chosen:
        shutil.copyfile(templates / name, linted / name)
    why = "all of them" if arguments.lint_all else "together they hold every distinct definition"
    print(f"linting {len(chosen)} of {len(names)} distinct templates ({why})")
    return linted


def _grouped(findings: list[lint.Finding]) -> dict[tuple[str, str, str], list[str]]:
    grouped: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for finding in findings:
        grouped[(finding.check_id, finding.resource, finding.title)].append(finding.template)
    return grouped


if __name__ == "__main__":
    sys.exit(main())

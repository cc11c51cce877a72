"""The parameter sets to expand: the full product of the declared switches, plus what each
samconfig.toml environment deploys with."""

import itertools
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import logic, parameters
from .errors import SwitchesError
from .project import PSEUDO_PARAMETERS, SWITCHES

SWITCHES_SOURCE = SWITCHES.name
ALSO_SOURCE = f"{SWITCHES.name} [also]"


@dataclass(frozen=True)
class Combination:
    source: str  # SWITCHES_SOURCE or "samconfig.toml [env]"
    overrides: dict[str, str]  # what this deploy sets; every other parameter keeps its Default


def load_switches(path: Path) -> dict[str, list[str]]:
    """deploycheck.yaml's `switches`: parameter name -> the values to try, in the declared order."""
    with open(path, encoding="utf-8") as handle:
        document = yaml.safe_load(handle) or {}
    switches = document.get("switches") if isinstance(document, dict) else None
    if not isinstance(switches, dict) or not switches:
        raise SwitchesError(f"{path.name}: expected `switches:` mapping each parameter to a list of values")
    loaded = {}
    for name, values in switches.items():
        if not isinstance(values, list) or not values:
            raise SwitchesError(f"{path.name}: {name} needs a non-empty list of values")
        loaded[name] = [parameters.as_value(value) for value in values]
        if len(set(loaded[name])) != len(loaded[name]):
            raise SwitchesError(f"{path.name}: {name} lists a value twice")
    return loaded


def load_also(path: Path) -> list[Combination]:
    """deploycheck.yaml's `also`: single combinations tried besides the product, for parameters that
    only change a value (no Condition or Rule reads them, so the guard does not ask for them)."""
    with open(path, encoding="utf-8") as handle:
        document = yaml.safe_load(handle) or {}
    also = document.get("also", []) if isinstance(document, dict) else []
    if not isinstance(also, list) or not all(isinstance(item, dict) and item for item in also):
        raise SwitchesError(f"{path.name}: `also:` must list mappings of parameter to value")
    return [
        Combination(ALSO_SOURCE, {str(name): parameters.as_value(value) for name, value in item.items()})
        for item in also
    ]


def product(switches: dict[str, list[str]]) -> list[Combination]:
    names = list(switches)
    return [
        Combination(SWITCHES_SOURCE, dict(zip(names, values, strict=True)))
        for values in itertools.product(*switches.values())
    ]


def samconfig_environments(path: Path) -> list[Combination]:
    """One combination per environment that sets parameter_overrides (deploy's own, else global)."""
    with open(path, "rb") as handle:
        config = tomllib.load(handle)
    found = []
    for environment, commands in config.items():
        if not isinstance(commands, dict):
            continue  # `version`
        overrides = _section(commands, "deploy").get("parameter_overrides")
        if overrides is None:
            overrides = _section(commands, "global").get("parameter_overrides")
        if overrides is not None:
            found.append(Combination(f"{path.name} [{environment}]", _parse_overrides(overrides, environment)))
    return found


def _section(commands: dict[str, Any], command: str) -> dict[str, Any]:
    return commands.get(command, {}).get("parameters", {})


def _parse_overrides(overrides: str | list[str], environment: str) -> dict[str, str]:
    # sam accepts "A=1 B='two words'" or a TOML list of "A=1" items.
    items = shlex.split(overrides) if isinstance(overrides, str) else overrides
    parsed = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not equals:
            raise SwitchesError(f"samconfig.toml [{environment}]: parameter_overrides item {item!r} is not Name=Value")
        parsed[name] = value
    return parsed


def refusal(template: dict[str, Any], values: dict[str, str]) -> str | None:
    """The Rules assertions CloudFormation would refuse these parameter values with (each one
    that fails), or None."""
    known = values | PSEUDO_PARAMETERS
    failed = []
    for name, rule in (template.get("Rules") or {}).items():
        if "RuleCondition" in rule and not logic.holds(rule["RuleCondition"], known, {}):
            continue
        for assertion in rule.get("Assertions", []):
            if not logic.holds(assertion["Assert"], known, {}):
                failed.append(f"Rule {name}: {assertion.get('AssertDescription', 'assertion fails')}")
    return "; ".join(failed) or None

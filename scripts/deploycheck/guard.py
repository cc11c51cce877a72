"""The guard: every parameter that decides the template's shape is a declared switch, and the
switch tries each side of every comparison, so no combination CloudFormation can meet goes unchecked.

A parameter decides the shape when a Condition or a Rule reads it (Fn::If only names conditions),
when it picks a Fn::FindInMap entry, or when it is the collection of a Fn::ForEach.
"""

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from . import parameters
from .errors import SwitchesError
from .project import SWITCHES

_PLACEHOLDER = re.compile(r"\$\{([^}!][^}]*)\}")


def check(template: dict[str, Any], switches: dict[str, list[str]], also: Sequence[Mapping[str, str]] = ()) -> None:
    """Raises SwitchesError listing every problem at once. `also`: the single combinations tried
    besides the product (deploycheck.yaml's `also`)."""
    known = parameters.definitions(template)
    problems = []
    for name, values in switches.items():
        for value in values:
            problems += parameters.problems_with(template, {name: value}, SWITCHES.name)
    for overrides in also:
        problems += parameters.problems_with(template, dict(overrides), f"{SWITCHES.name} also")
    for name, places in sorted(shape_parameters(template).items()):
        if name not in switches:
            allowed = known[name].get("AllowedValues")
            hint = f" (its AllowedValues: {allowed})" if allowed else ""
            problems.append(f"{name} decides {', '.join(sorted(places))}: declare it in {SWITCHES.name}{hint}")
    for name, definition in known.items():
        if "Default" not in definition and name not in switches:
            problems.append(f"{name} has no Default: declare the values to try in {SWITCHES.name}")
    problems += _untried_sides(template, switches)
    if problems:
        # An unknown switch is reported once, not once per value.
        raise SwitchesError("the switches do not cover template.yaml:\n  " + "\n  ".join(dict.fromkeys(problems)))


def shape_parameters(template: dict[str, Any]) -> dict[str, set[str]]:
    """Each parameter that decides which resources or properties exist, with where it does."""
    known = set(parameters.definitions(template))
    places: dict[str, set[str]] = defaultdict(set)
    for section, label in (("Conditions", "Condition"), ("Rules", "Rule")):
        for name, body in (template.get(section) or {}).items():
            for parameter in referenced_parameters(body) & known:
                places[parameter].add(f"{label} {name}")
    for section in ("Globals", "Resources", "Outputs"):
        for path, function, argument in intrinsics(template.get(section), section):
            if function == "Fn::FindInMap":
                chooses = referenced_parameters(argument[:3] if isinstance(argument, list) else argument)
            elif function.startswith("Fn::ForEach::") and isinstance(argument, list) and len(argument) > 1:
                chooses = referenced_parameters(argument[1])
            else:
                continue
            for parameter in chooses & known:
                places[parameter].add(f"{function} at {path}")
    return dict(places)


def referenced_parameters(node: Any) -> set[str]:
    """Names a node reads through Ref, Fn::Sub placeholders or Fn::ValueOf (parameters or not)."""
    found: set[str] = set()
    for _, function, argument in intrinsics(node, ""):
        if function == "Ref" and isinstance(argument, str):
            found.add(argument)
        elif function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
            found |= {name for name in _PLACEHOLDER.findall(text) if name not in variables}
        elif function in ("Fn::ValueOf", "Fn::ValueOfAll") and isinstance(argument, list) and argument:
            found.add(argument[0])
    return found


def intrinsics(node: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    """(path, function, argument) of every intrinsic function (single-key Ref/Fn::/Condition dict)
    in a node, nested ones included."""
    if isinstance(node, dict):
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref" or key == "Condition" or key.startswith("Fn::"):
                yield path, key, argument
        for key, value in node.items():
            yield from intrinsics(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from intrinsics(value, f"{path}/{index}")


def _untried_sides(template: dict[str, Any], switches: dict[str, list[str]]) -> list[str]:
    """A Condition comparing a switch with a value needs a combination on each side."""
    problems = []
    for name, body in (template.get("Conditions") or {}).items():
        for _, function, argument in intrinsics(body, ""):
            compared = _parameter_and_literal(function, argument)
            if compared is None or compared[0] not in switches:
                continue
            parameter, literal = compared
            tried = switches[parameter]
            if literal not in tried or all(value == literal for value in tried):
                problems.append(
                    f"Condition {name} compares {parameter} with {literal!r}: "
                    f"{SWITCHES.name} must try {literal!r} and another value of {parameter}"
                )
    return problems


def _parameter_and_literal(function: str, argument: Any) -> tuple[str, str] | None:
    if function != "Fn::Equals" or not isinstance(argument, list) or len(argument) != 2:
        return None
    for reference, literal in (argument, argument[::-1]):
        if isinstance(reference, dict) and set(reference) == {"Ref"} and isinstance(literal, str | int | float):
            return reference["Ref"], parameters.as_value(literal)
    return None

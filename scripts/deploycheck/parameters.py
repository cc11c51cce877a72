"""Template parameters as CloudFormation sees them: values are strings, defaults fill the gaps,
and a value outside a parameter's constraints is refused before any transform runs."""

import re
from typing import Any

from .errors import SwitchesError


def as_value(raw: Any) -> str:
    """A YAML scalar as the string CloudFormation would receive (YAML's true is "true")."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, str | int | float):
        return str(raw)
    raise SwitchesError(f"{raw!r} is not a parameter value (a string or a number)")


def definitions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(template.get("Parameters") or {})


def effective_values(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    """Every parameter's value in a deploy that sets `overrides`: the rest keep their Default."""
    defaults = {name: as_value(d["Default"]) for name, d in definitions(template).items() if "Default" in d}
    return defaults | overrides


def violation(definition: dict[str, Any], value: str) -> str | None:
    """Why CloudFormation would refuse `value` for this parameter, or None if it would take it."""
    kind = definition.get("Type", "String")
    items = [item.strip() for item in value.split(",")] if kind == "CommaDelimitedList" else [value]
    allowed = definition.get("AllowedValues")
    if allowed is not None and any(item not in {as_value(a) for a in allowed} for item in items):
        return f"is not one of its AllowedValues {[as_value(a) for a in allowed]}"
    pattern = definition.get("AllowedPattern")
    # CloudFormation matches AllowedPattern against the whole value.
    if pattern is not None and any(re.fullmatch(pattern, item) is None for item in items):
        return f"does not match its AllowedPattern {pattern!r}"
    if kind == "Number":
        return _number_violation(definition, value)
    if "MinLength" in definition and len(value) < int(definition["MinLength"]):
        return f"is shorter than its MinLength {definition['MinLength']}"
    if "MaxLength" in definition and len(value) > int(definition["MaxLength"]):
        return f"is longer than its MaxLength {definition['MaxLength']}"
    return None


def _number_violation(definition: dict[str, Any], value: str) -> str | None:
    try:
        number = float(value)
    except ValueError:
        return "is not a number"
    if "MinValue" in definition and number < float(definition["MinValue"]):
        return f"is below its MinValue {definition['MinValue']}"
    if "MaxValue" in definition and number > float(definition["MaxValue"]):
        return f"is above its MaxValue {definition['MaxValue']}"
    return None


def problems_with(template: dict[str, Any], values: dict[str, str], source: str) -> list[str]:
    """What CloudFormation would refuse in these parameter values, before expanding anything."""
    known = definitions(template)
    problems = []
    for name, value in values.items():
        if name not in known:
            problems.append(f"{source}: {name} is not a parameter of template.yaml")
        elif (why := violation(known[name], value)) is not None:
            problems.append(f"{source}: {name}={value!r} {why}")
    return problems

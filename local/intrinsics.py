"""The template's conditions, evaluated for the local stack's parameters, and the `Fn::If`s that
depend on them: so a resource or a value the template makes conditional (webhooks on or off, say)
is there locally exactly when it would be in AWS."""

from collections.abc import Mapping
from typing import Any

NO_VALUE = {"Ref": "AWS::NoValue"}


class UnsupportedIntrinsic(ValueError):
    pass


def parameter_values(template: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    """Every parameter's value: the given one, else the template's default."""
    values = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
    values.update({name: str(value) for name, value in given.items()})
    return values


def evaluate_conditions(template: Mapping[str, Any], parameters: Mapping[str, str]) -> dict[str, bool]:
    """Each condition of the template as true or false."""
    definitions = template.get("Conditions", {})
    results: dict[str, bool] = {}

    def condition(name: str) -> bool:
        if name not in results:
            results[name] = _truth(definitions[name], parameters, condition)
        return results[name]

    for name in definitions:
        condition(name)
    return results


def _value(expression: Any, parameters: Mapping[str, str]) -> str:
    if isinstance(expression, dict) and set(expression) == {"Ref"}:
        return parameters[expression["Ref"]]
    if isinstance(expression, (str, int, float, bool)):
        return str(expression).lower() if isinstance(expression, bool) else str(expression)
    raise UnsupportedIntrinsic(f"cannot evaluate {expression!r} locally")


def _truth(expression: Any, parameters: Mapping[str, str], condition) -> bool:
    if not isinstance(expression, dict) or len(expression) != 1:
        raise UnsupportedIntrinsic(f"not a condition: {expression!r}")
    ((function, arguments),) = expression.items()
    if function in ("Condition", "Fn::Condition"):  # `!Condition` in the YAML, `Condition` in JSON
        return condition(arguments)
    if function == "Fn::Equals":
        left, right = arguments
        return _value(left, parameters) == _value(right, parameters)
    if function == "Fn::Not":
        return not _truth(arguments[0], parameters, condition)
    if function == "Fn::And":
        return all(_truth(argument, parameters, condition) for argument in arguments)
    if function == "Fn::Or":
        return any(_truth(argument, parameters, condition) for argument in arguments)
    raise UnsupportedIntrinsic(f"cannot evaluate {function} locally")


def choose(value: Any, conditions: Mapping[str, bool]) -> Any:
    """`Fn::If` resolved to the branch its condition picks (repeatedly, for nested ones); any other
    value as it is."""
    while isinstance(value, dict) and set(value) == {"Fn::If"}:
        name, when_true, when_false = value["Fn::If"]
        value = when_true if conditions[name] else when_false
    return value


def exists(resource: Mapping[str, Any], conditions: Mapping[str, bool]) -> bool:
    """Whether a resource of the template is created (its Condition, if any, holds)."""
    name = resource.get("Condition")
    return name is None or conditions[name]

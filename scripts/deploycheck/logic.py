"""Evaluates Conditions and Rules for one set of parameter values, as CloudFormation does.

Only the functions those sections allow; anything else fails loudly instead of being guessed.
"""

from typing import Any

from .errors import UnsupportedExpression
from .parameters import as_value

Value = bool | str | list


def evaluate(expression: Any, parameters: dict[str, str], conditions: dict[str, Any]) -> Value:
    """The value of a condition or rule expression; Refs are parameters, {"Condition": x} names
    an entry of `conditions`."""
    if isinstance(expression, list):
        return [evaluate(item, parameters, conditions) for item in expression]
    if isinstance(expression, bool):
        return expression
    if not isinstance(expression, dict):
        return _text(expression)
    if len(expression) != 1:
        raise UnsupportedExpression(f"not a single function: {expression!r}")
    ((function, argument),) = expression.items()
    if function == "Ref":
        if argument not in parameters:
            raise UnsupportedExpression(f"Ref {argument}: not a parameter with a value")
        return parameters[argument]
    if function == "Condition":
        if argument not in conditions:
            raise UnsupportedExpression(f"no Condition named {argument}")
        return evaluate(conditions[argument], parameters, conditions)
    operator = _OPERATORS.get(function)
    if operator is None:
        raise UnsupportedExpression(f"{function} cannot be evaluated offline (scripts/deploycheck/logic.py)")
    return operator([evaluate(item, parameters, conditions) for item in _arguments(function, argument)])


def holds(expression: Any, parameters: dict[str, str], conditions: dict[str, Any]) -> bool:
    return _truth(evaluate(expression, parameters, conditions))


def _arguments(function: str, argument: Any) -> list:
    if not isinstance(argument, list):
        raise UnsupportedExpression(f"{function} takes a list, not {argument!r}")
    return argument


def _text(value: Any) -> str:
    if not isinstance(value, bool | str | int | float):
        raise UnsupportedExpression(f"{value!r} where a single value belongs")
    return as_value(value)


def _truth(value: Value) -> bool:
    if not isinstance(value, bool):
        raise UnsupportedExpression(f"{value!r} where true or false belongs")
    return value


def _members(value: Value) -> list[str]:
    # A list parameter arrives as one comma-separated string.
    if isinstance(value, bool):
        raise UnsupportedExpression(f"{value!r} where a list belongs")
    return value.split(",") if isinstance(value, str) else [_text(item) for item in value]


_OPERATORS = {
    "Fn::Equals": lambda args: _text(args[0]) == _text(args[1]),
    "Fn::Not": lambda args: not _truth(args[0]),
    "Fn::And": lambda args: all(_truth(arg) for arg in args),
    "Fn::Or": lambda args: any(_truth(arg) for arg in args),
    "Fn::Contains": lambda args: _text(args[1]) in _members(args[0]),
    "Fn::EachMemberEquals": lambda args: all(member == _text(args[1]) for member in _members(args[0])),
    "Fn::EachMemberIn": lambda args: set(_members(args[0])) <= set(_members(args[1])),
}

"""Reading an expanded template the way CloudFormation will at deploy.

After LanguageExtensions and the SAM transform, a few values are still intrinsic functions that
CloudFormation resolves itself with the stack's parameter values: the Globals' Fn::If, a Ref to a
parameter. `resolve` does the same for one combination; references to resources stay as they are.
"""

import re
from typing import Any

from scripts.deploycheck import logic, output
from scripts.deploycheck.project import ACCOUNT_ID, PSEUDO_PARAMETERS, REGION, STACK_NAME

__all__ = [
    "STACK_NAME",
    "STACK_IDS",
    "Unresolvable",
    "alarm_metrics",
    "evaluate",
    "of_type",
    "only",
    "refers_to",
    "resolve",
]

# Two instances of the same stack name, as CloudFormation writes their ids: a stack deleted and
# created again gets a new id.
STACK_IDS = (
    f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/6ba7b810-9dad-11d1-80b4-00c04fd430c8",
    f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/f47ac10b-58cc-4372-a567-0e02b2c3d479",
)
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


class Unresolvable(Exception):
    """The value depends on a resource: only CloudFormation knows it, at deploy."""


def of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in template["Resources"].items() if resource["Type"] == resource_type}


def only(template: dict[str, Any], resource_type: str) -> tuple[str, dict[str, Any]]:
    found = of_type(template, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.items()))


def resolve(value: Any, entry: output.Entry, template: dict[str, Any]) -> Any:
    """`value` with every Fn::If decided and every Ref to a parameter or pseudo parameter replaced
    by its value in this combination's deploy."""
    known = entry.parameters | PSEUDO_PARAMETERS
    if isinstance(value, list):
        return [resolve(item, entry, template) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"} and value["Ref"] in known:
        return known[value["Ref"]]
    if set(value) == {"Fn::If"}:
        condition, when_true, when_false = value["Fn::If"]
        chosen = logic.holds({"Condition": condition}, known, template.get("Conditions") or {})
        return resolve(when_true if chosen else when_false, entry, template)
    return {key: resolve(item, entry, template) for key, item in value.items()}


def refers_to(value: Any, logical_id: str) -> bool:
    """Whether `value` is a Ref to, a Fn::GetAtt of, or a Fn::Sub naming, the resource `logical_id`."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((function, argument),) = value.items()
    if function == "Ref":
        return argument == logical_id
    if function == "Fn::GetAtt":
        return argument[0] == logical_id
    if function == "Fn::Sub":
        text = argument if isinstance(argument, str) else argument[0]
        return f"${{{logical_id}}}" in text or f"${{{logical_id}." in text
    return False


def alarm_metrics(alarm: dict[str, Any]) -> list[tuple[Any, Any, dict[str, Any]]]:
    """(namespace, metric name, dimensions) of every metric an alarm watches, single-metric or
    metric math; values as the expanded template has them (a Ref stays a Ref)."""
    properties = alarm["Properties"]
    if "MetricName" in properties:
        dimensions = {d["Name"]: d["Value"] for d in properties.get("Dimensions", [])}
        return [(properties["Namespace"], properties["MetricName"], dimensions)]
    found = []
    for query in properties.get("Metrics", []):
        if "MetricStat" not in query:
            continue
        metric = query["MetricStat"]["Metric"]
        dimensions = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
        found.append((metric["Namespace"], metric["MetricName"], dimensions))
    return found


def evaluate(value: Any, entry: output.Entry, template: dict[str, Any], stack_id: str) -> Any:
    """`value` as CloudFormation computes it at deploy, when it depends on parameters and pseudo
    parameters only (AWS::StackId is `stack_id`); Unresolvable when it names a resource."""
    value = resolve(value, entry, template)
    known = entry.parameters | PSEUDO_PARAMETERS | {"AWS::StackId": stack_id}
    if isinstance(value, list):
        return [evaluate(item, entry, template, stack_id) for item in value]
    if not isinstance(value, dict):
        return value if isinstance(value, str) else str(value)
    if len(value) != 1:
        raise Unresolvable(f"not one function: {value!r}")
    ((function, argument),) = value.items()
    if function == "Ref":
        if argument in known:
            return known[argument]
        raise Unresolvable(argument)
    if function == "Fn::Sub":
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {name: evaluate(item, entry, template, stack_id) for name, item in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in values:
                return values[name]
            if name in known:
                return known[name]
            raise Unresolvable(name)

        return _PLACEHOLDER.sub(substitute, text)
    if function == "Fn::Select":
        index, items = argument
        return evaluate(items, entry, template, stack_id)[int(evaluate(index, entry, template, stack_id))]
    if function == "Fn::Split":
        delimiter, text = argument
        return evaluate(text, entry, template, stack_id).split(delimiter)
    if function == "Fn::Join":
        delimiter, items = argument
        return delimiter.join(evaluate(items, entry, template, stack_id))
    raise Unresolvable(function)

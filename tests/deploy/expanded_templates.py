"""Reading an expanded template the way CloudFormation will at deploy.

After LanguageExtensions and the SAM transform, a few values are still intrinsic functions that
CloudFormation resolves itself with the stack's parameter values: the Globals' Fn::If, a Ref to a
parameter. `resolve` does the same for one combination; references to resources stay as they are.
"""

from typing import Any

from scripts.deploycheck import logic, output
from scripts.deploycheck.project import PSEUDO_PARAMETERS, STACK_NAME

__all__ = ["STACK_NAME", "alarm_metrics", "of_type", "only", "refers_to", "resolve"]


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

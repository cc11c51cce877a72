"""Reads `template.yaml` as CloudFormation would for the local parameters: its resources, the API
routes and the function owning each, the function settings and schedules, and its Conditions
(with the `Fn::If`s that depend on them), so whatever the template makes conditional is there
locally exactly when it would be in AWS."""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
type Resource = dict[str, Any]


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, !If ...) kept as {"Fn::X": value}."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"!{suffix} on an unknown YAML node", node.start_mark)
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _tag)


@cache
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.load(handle, Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader
    return loaded


def resources_of_type(resource_type: str, template: Mapping[str, Any] | None = None) -> dict[str, Resource]:
    resources: dict[str, Resource] = (template or load_template())["Resources"]
    return {name: resource for name, resource in resources.items() if resource["Type"] == resource_type}


def table_definitions(template: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """CreateTable arguments for every AWS::DynamoDB::Table, keyed by logical id."""
    definitions = {}
    for name, resource in resources_of_type("AWS::DynamoDB::Table", template).items():
        props = resource["Properties"]
        definition = {
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            definition["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        if props.get("StreamSpecification"):
            # CloudFormation enables a stream by naming its view type.
            view = props["StreamSpecification"]["StreamViewType"]
            definition["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view}
        definitions[name] = definition
    return definitions


@dataclass(frozen=True)
class Route:
    function: str  # logical id of the function that owns the route
    method: str  # upper case
    path: str  # API Gateway resource path, e.g. /orders/{merchant_order_id}
    code_uri: str
    handler: str


def _events(template: Mapping[str, Any] | None, types: set[str]) -> list[tuple[str, Resource, dict[str, Any]]]:
    """(function, its resource, the event's Properties) for each event of these types."""
    return [
        (name, resource, event["Properties"])
        for name, resource in resources_of_type("AWS::Serverless::Function", template).items()
        for event in (resource["Properties"].get("Events") or {}).values()
        if event.get("Type") in types
    ]


def routes(template: Mapping[str, Any] | None = None) -> list[Route]:
    return [
        Route(
            name,
            event["Method"].upper(),
            event["Path"],
            resource["Properties"]["CodeUri"],
            resource["Properties"]["Handler"],
        )
        for name, resource, event in _events(template, {"Api"})
    ]


def schedules(template: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Each function with a schedule, and its ScheduleExpression (still unresolved: may be a Ref)."""
    return {name: event["ScheduleExpression"] for name, _, event in _events(template, {"Schedule", "ScheduleV2"})}


def function_environment(function: str, template: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The function's environment variables (Globals merged), values still unresolved."""
    template = template or load_template()
    merged = dict(template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    merged.update(template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {}))
    return merged


_RATE = re.compile(r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int | None:
    """`rate(5 minutes)` in seconds; None for what is not a rate (cron(...), at(...))."""
    matched = _RATE.fullmatch(expression.strip())
    return None if matched is None else int(matched.group(1)) * _UNIT_SECONDS[matched.group(2).removesuffix("s")]


# -- Conditions and Fn::If ----------------------------------------------------------------------------
class UnsupportedIntrinsic(ValueError):
    pass


def parameter_values(template: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    """Every parameter's value: the given one, else the template's default."""
    values = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
    return values | {name: str(value) for name, value in given.items()}


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
    if isinstance(expression, bool):
        return str(expression).lower()
    if isinstance(expression, (str, int, float)):
        return str(expression)
    raise UnsupportedIntrinsic(f"cannot evaluate {expression!r} locally")


def _truth(expression: Any, parameters: Mapping[str, str], condition: Callable[[str], bool]) -> bool:
    if not isinstance(expression, dict) or len(expression) != 1:
        raise UnsupportedIntrinsic(f"not a condition: {expression!r}")
    ((function, arguments),) = expression.items()
    if function in ("Condition", "Fn::Condition"):  # `!Condition` in the YAML, `Condition` in JSON
        return condition(arguments)
    if function == "Fn::Equals":
        return _value(arguments[0], parameters) == _value(arguments[1], parameters)
    if function == "Fn::Not":
        return not _truth(arguments[0], parameters, condition)
    if function == "Fn::And":
        return all(_truth(argument, parameters, condition) for argument in arguments)
    if function == "Fn::Or":
        return any(_truth(argument, parameters, condition) for argument in arguments)
    raise UnsupportedIntrinsic(f"cannot evaluate {function} locally")


def choose(value: Any, conditions: Mapping[str, bool]) -> Any:
    """`Fn::If` resolved to the branch its condition picks (nested ones too); any other value as it is."""
    while isinstance(value, dict) and set(value) == {"Fn::If"}:
        name, when_true, when_false = value["Fn::If"]
        value = when_true if conditions[name] else when_false
    return value


def exists(resource: Mapping[str, Any], conditions: Mapping[str, bool]) -> bool:
    """Whether a resource of the template is created (its Condition, if any, holds)."""
    name = resource.get("Condition")
    return name is None or conditions[name]

"""Reads `template.yaml`, so tests and the local stack build exactly what the stack declares:
the DynamoDB tables, the API routes and which function owns each, and function settings."""

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, !If ...) kept as {"Fn::X": value}."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
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
        return yaml.load(handle, Loader=_CloudFormationLoader)  # noqa: S506 - SafeLoader subclass


def resources_of_type(resource_type: str, template: dict[str, Any] | None = None) -> dict[str, dict]:
    template = template or load_template()
    return {name: resource for name, resource in template["Resources"].items() if resource["Type"] == resource_type}


def table_definitions(template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
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
        stream = props.get("StreamSpecification")
        if stream:
            # CloudFormation's StreamSpecification enables the stream by naming its view type.
            definition["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        definitions[name] = definition
    return definitions


@dataclass(frozen=True)
class Route:
    function: str  # logical id of the function that owns the route
    method: str  # upper case
    path: str  # API Gateway resource path, e.g. /orders/{merchant_order_id}
    code_uri: str
    handler: str


def routes(template: dict[str, Any] | None = None) -> list[Route]:
    found = []
    for name, resource in resources_of_type("AWS::Serverless::Function", template).items():
        props = resource["Properties"]
        for event in (props.get("Events") or {}).values():
            if event.get("Type") != "Api":
                continue
            found.append(
                Route(
                    function=name,
                    method=event["Properties"]["Method"].upper(),
                    path=event["Properties"]["Path"],
                    code_uri=props["CodeUri"],
                    handler=props["Handler"],
                )
            )
    return found


def function_environment(function: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """The function's environment variables (Globals merged), values still unresolved."""
    template = template or load_template()
    merged = dict(template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    props = template["Resources"][function]["Properties"]
    merged.update(props.get("Environment", {}).get("Variables", {}))
    return merged


SCHEDULE_EVENT_TYPES = frozenset({"Schedule", "ScheduleV2"})
_RATE = re.compile(r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def schedules(template: dict[str, Any] | None = None) -> dict[str, Any]:
    """Each function with a schedule, and its ScheduleExpression (still unresolved: may be a Ref)."""
    found = {}
    for name, resource in resources_of_type("AWS::Serverless::Function", template).items():
        for event in (resource["Properties"].get("Events") or {}).values():
            if event.get("Type") in SCHEDULE_EVENT_TYPES:
                found[name] = event["Properties"]["ScheduleExpression"]
    return found


def rate_seconds(expression: str) -> int | None:
    """`rate(5 minutes)` in seconds; None for what is not a rate (cron(...), at(...))."""
    matched = _RATE.fullmatch(expression.strip())
    if matched is None:
        return None
    return int(matched.group(1)) * _UNIT_SECONDS[matched.group(2).removesuffix("s")]

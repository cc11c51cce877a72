"""Names, in every combination of the template's switches, with the longest stack name
CloudFormation takes (scripts/deploycheck expands with a 128-character one):

- every name the template gives a resource fits its service's own limit (length and characters);
- every name of a resource the stack keeps when it is deleted (DeletionPolicy Retain) differs
  between two instances of the same stack name, so a stack deleted and created again under that
  name never meets its predecessor's retained resources.

Names the template leaves to CloudFormation (queues, tables, roles, functions, alarms ...) are
unique and truncated to fit by CloudFormation itself; a test below says which ones.
"""

import re
from collections.abc import Iterator
from typing import Any

from tests.deploy.expanded_templates import STACK_IDS, STACK_NAME, Unresolvable, evaluate

# (resource type, property path) -> (longest, the characters the service takes), from each
# service's API reference: a path's "[]" is every item of a list.
LIMITS: dict[tuple[str, str], tuple[int, str]] = {
    ("AWS::Logs::LogGroup", "LogGroupName"): (512, r"[.\-_/#A-Za-z0-9]+"),
    ("AWS::Events::EventBus", "Name"): (256, r"[/.\-_A-Za-z0-9]+"),
    ("AWS::WAFv2::WebACL", "Name"): (128, r"[0-9A-Za-z_-]+"),
    ("AWS::WAFv2::WebACL", "VisibilityConfig.MetricName"): (128, r"[A-Za-z0-9_-]+"),
    ("AWS::WAFv2::WebACL", "Rules[].VisibilityConfig.MetricName"): (128, r"[A-Za-z0-9_-]+"),
    ("AWS::WAFv2::WebACL", "Rules[].Name"): (128, r"[0-9A-Za-z_-]+"),
    ("AWS::WAFv2::IPSet", "Name"): (128, r"[0-9A-Za-z_-]+"),
    ("AWS::Scheduler::Schedule", "Name"): (64, r"[0-9a-zA-Z\-_.]+"),
    ("AWS::KMS::Alias", "AliasName"): (256, r"alias/[a-zA-Z0-9:/_-]+"),
    ("AWS::IAM::Role", "Path"): (512, r"/([!-~]+/)?"),
    ("AWS::IAM::Role", "RoleName"): (64, r"[\w+=,.@-]+"),
    ("AWS::IAM::ManagedPolicy", "ManagedPolicyName"): (128, r"[\w+=,.@-]+"),
    ("AWS::SQS::Queue", "QueueName"): (80, r"[A-Za-z0-9_-]+"),
    ("AWS::Lambda::Function", "FunctionName"): (64, r"[a-zA-Z0-9_-]+"),
    ("AWS::Lambda::LayerVersion", "LayerName"): (140, r"[a-zA-Z0-9_-]+"),
    ("AWS::DynamoDB::Table", "TableName"): (255, r"[a-zA-Z0-9_.-]+"),
    ("AWS::SecretsManager::Secret", "Name"): (512, r"[A-Za-z0-9/_+=.@-]+"),
    ("AWS::SNS::Topic", "TopicName"): (256, r"[A-Za-z0-9_-]+"),
    ("AWS::CloudWatch::Alarm", "AlarmName"): (255, r"[^\x00-\x1f]+"),
    ("AWS::CloudWatch::Alarm", "Namespace"): (255, r"[^:][\x20-\x7e]*"),
    # CloudWatch's limit on a dimension value; the alarms name the REST API by its name.
    ("AWS::CloudWatch::Alarm", "Dimensions[].Value"): (1024, r"[\x20-\x7e]+"),
    ("AWS::CloudWatch::Alarm", "Metrics[].MetricStat.Metric.Dimensions[].Value"): (1024, r"[\x20-\x7e]+"),
    ("AWS::CloudWatch::Alarm", "Metrics[].MetricStat.Metric.Namespace"): (255, r"[^:][\x20-\x7e]*"),
    ("AWS::CloudWatch::Dashboard", "DashboardName"): (255, r"[A-Za-z0-9_-]+"),
    ("AWS::Logs::MetricFilter", "MetricTransformations[].MetricNamespace"): (255, r"[0-9a-zA-Z.\-_/#]+"),
    ("AWS::Logs::MetricFilter", "FilterName"): (512, r"[^:*]+"),
    ("AWS::ApiGateway::RestApi", "Name"): (1024, r"[\x20-\x7e]+"),
}
# Where the stack's name may appear in free text or an ARN, not a name of its own.
NOT_NAMES = {
    "Body",  # the REST API's OpenAPI body: SAM titles it with the API's name
    "Description",
    "KeyPolicy",
    "AssumeRolePolicyDocument",
    "Policies",
    "PolicyDocument",
    "DashboardBody",
    "AlarmDescription",
    # The functions' variables (STACK_ID): values the code reads, not names a service keeps; their
    # only limit is Lambda's 4 KB for all of a function's variables, far above an ARN.
    "Environment",
}
# The names an account holds once per region (or per stack path): a retained resource's must not
# be the same for the next instance of the stack.
UNIQUE = {
    ("AWS::Logs::LogGroup", "LogGroupName"),
    ("AWS::Events::EventBus", "Name"),
    ("AWS::WAFv2::WebACL", "Name"),
    ("AWS::WAFv2::IPSet", "Name"),
    ("AWS::Scheduler::Schedule", "Name"),
    ("AWS::KMS::Alias", "AliasName"),
    ("AWS::IAM::Role", "RoleName"),
    ("AWS::IAM::ManagedPolicy", "ManagedPolicyName"),
    ("AWS::SQS::Queue", "QueueName"),
    ("AWS::Lambda::Function", "FunctionName"),
    ("AWS::DynamoDB::Table", "TableName"),
    ("AWS::SecretsManager::Secret", "Name"),
    ("AWS::SNS::Topic", "TopicName"),
    ("AWS::CloudWatch::Alarm", "AlarmName"),
    ("AWS::CloudWatch::Dashboard", "DashboardName"),
}


def named(resource: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(property path, value) of every leaf of a resource's properties, an intrinsic function
    being a leaf."""

    def walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
        if isinstance(value, dict) and not (len(value) == 1 and _is_function(next(iter(value)))):
            for key, item in value.items():
                yield from walk(item, f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            for item in value:
                yield from walk(item, f"{path}[]")
        else:
            yield path, value

    yield from walk(resource.get("Properties", {}), "")


def _is_function(key: str) -> bool:
    return key == "Ref" or key.startswith("Fn::")


def test_the_expansion_uses_the_longest_stack_name_cloudformation_takes():
    assert len(STACK_NAME) == 128 and re.fullmatch(r"[A-Za-z][-A-Za-z0-9]*", STACK_NAME)


def test_every_name_fits_its_services_limit_with_the_longest_stack_name(deployed):
    checked = set()
    for entry, template in deployed:
        for logical_id, resource in template["Resources"].items():
            for path, value in named(resource):
                limit = LIMITS.get((resource["Type"], path))
                if limit is None:
                    continue
                longest, characters = limit
                for stack_id in STACK_IDS:
                    try:
                        name = evaluate(value, entry, template, stack_id)
                    except Unresolvable:
                        continue  # a resource's own attribute: not a name this template builds
                    assert len(name) <= longest, (logical_id, path, len(name), longest, entry.overrides)
                    assert re.fullmatch(characters, name), (logical_id, path, name)
                checked.add((resource["Type"], path))
    # The names that grow with the stack's name were among them.
    assert {
        ("AWS::Logs::LogGroup", "LogGroupName"),
        ("AWS::WAFv2::WebACL", "Name"),
        ("AWS::Scheduler::Schedule", "Name"),
        ("AWS::Events::EventBus", "Name"),
    } <= checked


def test_no_property_carries_the_stack_name_without_a_known_limit(deployed):
    for entry, template in deployed:
        for logical_id, resource in template["Resources"].items():
            for path, value in named(resource):
                if path.split(".")[0].split("[")[0] in NOT_NAMES or (resource["Type"], path) in LIMITS:
                    continue
                try:
                    text = evaluate(value, entry, template, STACK_IDS[0])
                except Unresolvable:
                    continue
                assert STACK_NAME not in str(text), (
                    f"{logical_id} {path} is built from the stack's name: add its service's limit to LIMITS",
                    entry.overrides,
                )


def test_a_stack_created_again_under_the_same_name_meets_none_of_its_retained_names(deployed):
    retained_names = 0
    for entry, template in deployed:
        for logical_id, resource in template["Resources"].items():
            if resource.get("DeletionPolicy") != "Retain":
                continue
            for path, value in named(resource):
                if (resource["Type"], path) not in UNIQUE:
                    continue
                first, second = (evaluate(value, entry, template, stack_id) for stack_id in STACK_IDS)
                assert first != second, f"{logical_id}'s {path} {first!r} would block the stack's next instance"
                retained_names += 1
    assert retained_names, "the retained log groups' names were not seen"


def test_the_names_left_to_cloudformation(deployed):
    # CloudFormation names these uniquely (stack name, logical id, a random suffix) and shortens
    # them to fit: the template must not pin them.
    generated = {
        ("AWS::SQS::Queue", "QueueName"),
        ("AWS::DynamoDB::Table", "TableName"),
        ("AWS::IAM::Role", "RoleName"),
        ("AWS::IAM::ManagedPolicy", "ManagedPolicyName"),
        ("AWS::Lambda::Function", "FunctionName"),
        ("AWS::SecretsManager::Secret", "Name"),
        ("AWS::SNS::Topic", "TopicName"),
        ("AWS::CloudWatch::Alarm", "AlarmName"),
    }
    for entry, template in deployed:
        for logical_id, resource in template["Resources"].items():
            for kind, name in generated:
                if resource["Type"] == kind:
                    assert name not in resource.get("Properties", {}), (logical_id, entry.overrides)

"""No policy of any deploy allows a wildcard action or resource, except where AWS (or SAM, which
writes some statements itself) leaves no narrower way. Each such place is listed in EXCUSED with
the reason; a wildcard not listed fails, and so does a listed one that no deploy has any more (the
list must not outlive what it excuses)."""

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from scripts.deploycheck.project import ACCOUNT_ID, REGION
from tests.deploy.expanded_templates import of_type

# AWS managed policies attached to the stack's roles: their statements use "*" resources, by their
# owners' design, and no narrower managed or inline policy would replace them.
MANAGED_POLICIES = {
    # SAM attaches it to every function role it creates (logs:CreateLogStream and PutLogEvents on
    # "*"); the functions write only to their own stack's log groups (LoggingConfig).
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    # Tracing: Active. X-Ray's PutTraceSegments has no resource-level permissions.
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    # The account's API Gateway logging role: one per account and region, used for the access
    # logs of every API there, so it cannot name this stack's log group.
    "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
}

KEY_ADMIN_WILDCARDS: tuple[str, ...] = ("kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*")
KEY_ADMIN_WILDCARDS += ("kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*")
KEY_USE_WILDCARDS = ("kms:ReEncrypt*", "kms:GenerateDataKey*")


@dataclass(frozen=True)
class Wildcard:
    resource: str  # logical id
    statement: str  # Sid, policy name[index], or the Lambda permission's property
    text: str  # the wildcard action, "Resource *", or the ARN that holds a *


# (resource, statement, text) fnmatch patterns -> why it is there.
EXCUSED: dict[tuple[str, str, str], str] = {
    ("EncryptionKey", "*", "Resource *"): 'in a key policy the resource is the key itself, and KMS accepts only "*"',
    **{
        ("EncryptionKey", "AdministratorsManageTheKey", action): (
            "AWS's default key-administrator statement; test_encryption_and_retention checks that "
            "these expand to no cryptographic operation"
        )
        for action in KEY_ADMIN_WILDCARDS
    },
    **{
        ("EncryptionKey", sid, action): "ReEncryptFrom/To and the GenerateDataKey variants, as AWS's policies name them"
        for sid in ("AdministratorsUseTheKeyThroughTheStacksServices", "StackRolesUseTheKey")
        for action in KEY_USE_WILDCARDS
    },
    ("EncryptionKey", "CloudWatchAlarmsPublishToTheAlarmTopic", "kms:GenerateDataKey*"): (
        "what the SNS documentation gives CloudWatch to publish to an encrypted topic"
    ),
    **{
        ("EncryptionKey", "CloudWatchLogsEncryptsThisAccountsLogGroups", action): (
            "CloudWatch Logs' documented key-policy statement, narrowed to this account's log groups by its "
            "encryption-context condition"
        )
        for action in ("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*")
    },
    **{
        # "[[]0]" is fnmatch for the literal statement name "[0]".
        (policy, "[[]0]", f"Resource arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:${{PaymentsApi}}/{stage}/{route}"): (
            "* is how an execute-api ARN writes a path parameter ({merchant_order_id}, {event_id}); the stage is "
            "named; test_deploy_shapes checks no such pattern opens a route of the other policy"
        )
        for policy, routes in (
            ("MerchantApiPolicy", ("GET/orders/*", "GET/events/*", "POST/events/*/redeliver")),
            ("OperatorApiPolicy", ("POST/orders/*/review", "GET/orders/*", "GET/events/*")),
        )
        for route in routes
        for stage in ("sandbox", "production")
    },
    ("*Permission*", "SourceArn", "arn:aws:execute-api:*:*:${__ApiId__}/*/*"): (
        "SAM's permission for API Gateway to invoke the function: any stage of this one API (its id is in the "
        "ARN), and * for a path parameter ({merchant_order_id}), which is how an execute-api ARN writes one"
    ),
}


def wildcards(template: dict[str, Any]) -> Iterator[Wildcard]:
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                for index, statement in enumerate(_statements(policy["PolicyDocument"])):
                    yield from _in_statement(name, f"{policy['PolicyName']}[{index}]", statement)
            for index, statement in enumerate(_statements(properties["AssumeRolePolicyDocument"])):
                yield from _in_statement(name, f"trust[{index}]", statement, has_resource=False)
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::SQS::QueuePolicy"):
            for index, statement in enumerate(_statements(properties["PolicyDocument"])):
                yield from _in_statement(name, f"[{index}]", statement)
        elif resource["Type"] == "AWS::SNS::TopicPolicy":
            for index, statement in enumerate(_statements(properties["PolicyDocument"])):
                yield from _in_statement(name, f"[{index}]", statement)
        elif resource["Type"] == "AWS::KMS::Key":
            for index, statement in enumerate(_statements(properties["KeyPolicy"])):
                yield from _in_statement(name, statement.get("Sid", f"[{index}]"), statement)
        elif resource["Type"] == "AWS::Lambda::Permission":
            if "*" in properties["Action"]:
                yield Wildcard(name, "Action", properties["Action"])
            arn = _text(properties.get("SourceArn", ""))
            if "*" in arn:
                yield Wildcard(name, "SourceArn", arn)


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _in_statement(
    resource: str, where: str, statement: dict[str, Any], has_resource: bool = True
) -> Iterator[Wildcard]:
    assert "NotAction" not in statement and "NotResource" not in statement, f"{resource} {where}: Not* allows the rest"
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    for action in actions:
        if "*" in action:
            yield Wildcard(resource, where, action)
    if not has_resource:
        return
    targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    for target in targets:
        text = _text(target)
        if text == "*":
            yield Wildcard(resource, where, "Resource *")
        elif "*" in text:
            yield Wildcard(resource, where, f"Resource {text}")


def _text(value: Any) -> str:
    """An ARN as text: Fn::Sub with its literal variables put in, other references as ${...}."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Sub" in value:
        argument = value["Fn::Sub"]
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        for variable, replacement in variables.items():
            if isinstance(replacement, str):
                text = text.replace(f"${{{variable}}}", replacement)
        return text
    return "${reference}"  # a Ref or Fn::GetAtt names one resource: no wildcard


def excuse(wildcard: Wildcard) -> tuple[str, str, str] | None:
    for pattern in EXCUSED:
        resource, statement, text = pattern
        if (
            fnmatch.fnmatchcase(wildcard.resource, resource)
            and fnmatch.fnmatchcase(wildcard.statement, statement)
            and (wildcard.text == text or fnmatch.fnmatchcase(wildcard.text, text))
        ):
            return pattern
    return None


def test_no_statement_of_any_deploy_allows_a_wildcard_aws_does_not_require(deployed):
    unexcused: dict[Wildcard, dict[str, str]] = {}
    for entry, template in deployed:
        for wildcard in wildcards(template):
            if excuse(wildcard) is None:
                unexcused.setdefault(wildcard, entry.overrides)
    assert unexcused == {}, "add a narrower statement, or the reason AWS needs it to EXCUSED"


def test_every_excused_wildcard_still_occurs_somewhere(deployed):
    used = {excuse(wildcard) for _, template in deployed for wildcard in wildcards(template)}
    assert set(EXCUSED) - used == set()


def test_roles_carry_only_the_managed_policies_listed_with_their_reason(deployed):
    for entry, template in deployed:
        for name, role in of_type(template, "AWS::IAM::Role").items():
            attached = set(role["Properties"].get("ManagedPolicyArns", []))
            assert attached <= MANAGED_POLICIES, (name, attached - MANAGED_POLICIES, entry.overrides)


def test_the_wildcard_finder_sees_a_wildcard_action_and_resource():
    # Given a role whose inline policy allows dynamodb:* on "*"
    template = {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {"Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow"}]},
                    "Policies": [
                        {
                            "PolicyName": "p",
                            "PolicyDocument": {"Statement": [{"Action": "dynamodb:*", "Resource": "*"}]},
                        }
                    ],
                },
            }
        }
    }
    # When its wildcards are listed, then both are, and neither has an excuse
    found = list(wildcards(template))
    assert found == [Wildcard("Role", "p[0]", "dynamodb:*"), Wildcard("Role", "p[0]", "Resource *")]
    assert [excuse(wildcard) for wildcard in found] == [None, None]

"""What the stack keeps and how it encrypts it, in every combination of the template's switches:
the optional customer-managed key on the table, both secrets, every log group and the alarm topic;
its key policy; and what survives the stack's deletion."""

import fnmatch
import json
from typing import Any

import botocore.session

from scripts.deploycheck.project import ACCOUNT_ID, REGION
from tests.deploy.expanded_templates import STACK_IDS, STACK_NAME, evaluate, of_type, only, refers_to, resolve

ROOT_PRINCIPAL = f"arn:aws:iam::{ACCOUNT_ID}:root"
# KMS operations that read or make ciphertext: an administrator gets them only through the stack's
# services (a condition), never outright.
CRYPTOGRAPHIC = {
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "ReEncrypt",
    "ReEncryptFrom",
    "ReEncryptTo",
    "Sign",
    "Verify",
    "VerifyMac",
    "DeriveSharedSecret",
}
KMS_PROPERTIES = ("KmsKeyId", "KMSMasterKeyId", "KmsMasterKeyId", "KmsKeyIdentifier")


def kms_operations() -> set[str]:
    """Every KMS operation there is (botocore's model), so a wildcard action can be expanded."""
    model = botocore.session.get_session().get_service_model("kms")
    # ReEncrypt is one API call but two permissions, one per key.
    return set(model.operation_names) | {"ReEncryptFrom", "ReEncryptTo"}


def granted(actions: str | list[str], operations: set[str]) -> set[str]:
    """The KMS operations a statement's actions allow, wildcards expanded."""
    found = set()
    for action in [actions] if isinstance(actions, str) else actions:
        service, _, pattern = action.partition(":")
        assert service == "kms", action
        found |= {operation for operation in operations if fnmatch.fnmatchcase(operation, pattern)}
    return found


def uses_key(properties: dict[str, Any], key: str) -> bool:
    return any(refers_to(properties.get(name), key) for name in KMS_PROPERTIES)


def names_a_key(properties: dict[str, Any]) -> bool:
    return any(properties.get(name) is not None for name in KMS_PROPERTIES)


def alarm_topics(template: dict[str, Any]) -> set[str]:
    """The SNS topics the alarms notify."""
    found = set()
    for alarm in of_type(template, "AWS::CloudWatch::Alarm").values():
        for action in alarm["Properties"].get("AlarmActions", []):
            found.add(action["Ref"])
    return found


def encrypted_resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Name -> the properties that hold its key, for everything the key option covers."""
    found = {"OrdersTable": template["Resources"]["OrdersTable"]["Properties"]["SSESpecification"]}
    for kind in ("AWS::SecretsManager::Secret", "AWS::Logs::LogGroup", "AWS::SQS::Queue", "AWS::Events::EventBus"):
        found |= {name: resource["Properties"] for name, resource in of_type(template, kind).items()}
    found |= {name: template["Resources"][name]["Properties"] for name in alarm_topics(template)}
    return found


def test_both_key_options_are_among_the_combinations(deployed):
    assert {entry.parameters["CustomerManagedKey"] for entry, _ in deployed} == {"true", "false"}


def test_with_a_customer_managed_key_the_table_secrets_log_groups_and_alarm_topic_use_it(deployed):
    for entry, template in deployed:
        if entry.parameters["CustomerManagedKey"] != "true":
            continue
        key, _ = only(template, "AWS::KMS::Key")
        covered = encrypted_resources(template)
        assert {"EtpaySecret", "NotificationKeySecret", "ApiAccessLogGroup", "AlarmTopic"} <= set(covered)
        assert {"ReconcileQueue", "ReconcileFailuresQueue", "EventPublisherFailuresQueue", "EventBus"} <= set(covered)
        for name, properties in covered.items():
            assert uses_key(properties, key), (name, entry.overrides)
        assert covered["OrdersTable"]["SSEType"] == "KMS"
        # A queue takes either SQS's own keys or a KMS key, never both.
        for name in of_type(template, "AWS::SQS::Queue"):
            assert "SqsManagedSseEnabled" not in covered[name], (name, entry.overrides)


def test_without_one_nothing_names_a_key(deployed):
    for entry, template in deployed:
        if entry.parameters["CustomerManagedKey"] != "false":
            continue
        assert of_type(template, "AWS::KMS::Key") == {}, entry.overrides
        for name, properties in encrypted_resources(template).items():
            assert not names_a_key(properties), (name, entry.overrides)
        for name, queue in of_type(template, "AWS::SQS::Queue").items():
            assert queue["Properties"]["SqsManagedSseEnabled"] is True, (name, entry.overrides)


def test_everyone_who_writes_to_or_reads_an_encrypted_queue_or_bus_may_use_the_key(deployed):
    """SQS under a KMS key needs kms:GenerateDataKey and kms:Decrypt from whoever sends and
    kms:Decrypt from whoever receives; EventBridge encrypts the bus itself, as the service."""
    operations = kms_operations()
    for entry, template in deployed:
        if entry.parameters["CustomerManagedKey"] != "true":
            continue
        key, key_resource = only(template, "AWS::KMS::Key")
        statements = [resolve(s, entry, template) for s in key_resource["Properties"]["KeyPolicy"]["Statement"]]
        (stack_roles,) = [s for s in statements if "aws:PrincipalArn" in json.dumps(s.get("Condition", {}))]
        pattern = stack_roles["Condition"]["ArnLike"]["aws:PrincipalArn"]
        queue_users = {
            role: needs for role in of_type(template, "AWS::IAM::Role") if (needs := queue_needs(template, role))
        }
        # Every function's role and the schedule's (its dead-letter queue) among them.
        assert "ReconcileScheduleRole" in queue_users and "ReconcileFunctionRole" in queue_users
        for role, needs in queue_users.items():
            path = resolve(template["Resources"][role]["Properties"]["Path"], entry, template)
            if isinstance(path, dict):  # SAM's roles keep Globals' Fn::Sub
                path = path["Fn::Sub"].replace("${AWS::StackName}", STACK_NAME)
            assert fnmatch.fnmatchcase(f"arn:aws:iam::{ACCOUNT_ID}:role{path}{role}-ABC123", pattern), role
            assert needs <= granted(stack_roles["Action"], operations), role
            assert needs <= kms_granted_by_iam(template, role, key), (role, entry.overrides)
        (bus_name, bus) = only(template, "AWS::Events::EventBus")
        (service,) = [s for s in statements if s["Principal"].get("Service") == "events.amazonaws.com"]
        assert {"GenerateDataKey", "Decrypt"} <= granted(service["Action"], operations)
        bus_arn = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/{bus['Properties']['Name']}"
        assert service["Condition"]["StringEquals"]["aws:SourceArn"] == bus_arn, bus_name


def queue_needs(template: dict[str, Any], role: str) -> set[str]:
    """The KMS operations a role needs for the SQS actions its policies allow."""
    needs = set()
    for policy in template["Resources"][role]["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if "sqs:SendMessage" in actions:
                needs |= {"GenerateDataKey", "Decrypt"}
            if "sqs:ReceiveMessage" in actions:
                needs |= {"Decrypt"}
    return needs


def kms_granted_by_iam(template: dict[str, Any], role: str, key: str) -> set[str]:
    granted_here = set()
    for policy in template["Resources"][role]["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if refers_to(statement["Resource"], key):
                granted_here |= {action.removeprefix("kms:") for action in actions if action.startswith("kms:")}
    return granted_here


def test_the_alarm_topic_never_uses_the_aws_managed_sns_key(deployed):
    # CloudWatch cannot publish to a topic under aws/sns: every alarm would be dropped, silently.
    for entry, template in deployed:
        assert "alias/aws/sns" not in json.dumps(template), entry.overrides
        for name in alarm_topics(template):
            key = template["Resources"][name]["Properties"].get("KmsMasterKeyId")
            assert key is None or refers_to(key, "EncryptionKey"), (name, key)


def test_the_key_admits_the_stacks_roles_by_path_and_administrators_only_to_manage_it(deployed):
    operations = kms_operations()
    for entry, template in deployed:
        if entry.parameters["CustomerManagedKey"] != "true":
            continue
        policy = only(template, "AWS::KMS::Key")[1]["Properties"]["KeyPolicy"]
        statements = [resolve(statement, entry, template) for statement in policy["Statement"]]
        for statement in statements:
            assert statement["Effect"] == "Allow"
            principal = statement["Principal"]
            if principal.get("AWS") != ROOT_PRINCIPAL:
                continue
            crypto = granted(statement["Action"], operations) & CRYPTOGRAPHIC
            # The account (IAM decides who) gets cryptography only with a condition that narrows it
            # to the stack's roles or to the stack's services acting for an administrator.
            if crypto:
                conditions = json.dumps(statement.get("Condition", {}))
                assert "aws:PrincipalArn" in conditions or "kms:ViaService" in conditions, statement["Sid"]

        roles = [
            statement for statement in statements if "aws:PrincipalArn" in json.dumps(statement.get("Condition", {}))
        ]
        assert len(roles) == 1, entry.overrides
        pattern = roles[0]["Condition"]["ArnLike"]["aws:PrincipalArn"]
        assert {"Decrypt", "Encrypt", "GenerateDataKey"} <= granted(roles[0]["Action"], operations)
        function_roles = [
            role
            for role in of_type(template, "AWS::IAM::Role").values()
            if "lambda.amazonaws.com" in json.dumps(role["Properties"]["AssumeRolePolicyDocument"])
        ]
        assert len(function_roles) == len(of_type(template, "AWS::Lambda::Function")), entry.overrides
        for role in function_roles:
            path = resolve(role["Properties"]["Path"], entry, template)
            if isinstance(path, dict):
                path = path["Fn::Sub"].replace("${AWS::StackName}", STACK_NAME)
            assert fnmatch.fnmatchcase(f"arn:aws:iam::{ACCOUNT_ID}:role{path}SomeFunctionRole-ABC123", pattern)
        # ... and nothing of another stack: the pattern is this stack's path, not a prefix of it.
        assert not fnmatch.fnmatchcase(f"arn:aws:iam::{ACCOUNT_ID}:role/{STACK_NAME}-other/Role", pattern)
        assert not fnmatch.fnmatchcase(f"arn:aws:iam::{ACCOUNT_ID}:role/Admin", pattern)


def test_log_groups_and_secrets_outlive_the_stack_and_logs_expire(deployed):
    for entry, template in deployed:
        for kind in ("AWS::Logs::LogGroup", "AWS::SecretsManager::Secret"):
            for name, resource in of_type(template, kind).items():
                assert resource.get("DeletionPolicy") == "Retain", (name, entry.overrides)
                assert resource.get("UpdateReplacePolicy") == "Retain", (name, entry.overrides)
        groups = of_type(template, "AWS::Logs::LogGroup")
        # One per function of this deploy, the API's access log and, with the firewall, its log.
        firewall = bool(of_type(template, "AWS::WAFv2::WebACL"))
        assert len(groups) == len(of_type(template, "AWS::Lambda::Function")) + 1 + firewall, sorted(groups)
        for name, group in groups.items():
            retention = resolve(group["Properties"].get("RetentionInDays"), entry, template)
            assert int(retention) == int(entry.parameters["LogRetentionDays"]), (name, entry.overrides)


def test_every_function_logs_to_a_group_named_after_its_stack_instance(deployed):
    for entry, template in deployed:
        groups = of_type(template, "AWS::Logs::LogGroup")
        for name, group in groups.items():
            for stack_id in STACK_IDS:
                group_name = evaluate(group["Properties"]["LogGroupName"], entry, template, stack_id)
                instance = stack_id.rsplit("/", 1)[1].split("-")[0]
                if name == "FirewallLogGroup":  # named as WAF requires (test_edge)
                    assert group_name == f"aws-waf-logs-{STACK_NAME}-{instance}", group_name
                else:
                    assert group_name.startswith(("/aws/lambda/", "/aws/apigateway/")), group_name
                    assert f"/{STACK_NAME}/{instance}/" in group_name, (name, entry.overrides)
        for name, function in of_type(template, "AWS::Lambda::Function").items():
            target = function["Properties"]["LoggingConfig"]["LogGroup"]
            assert any(refers_to(target, group) for group in groups), (name, entry.overrides)

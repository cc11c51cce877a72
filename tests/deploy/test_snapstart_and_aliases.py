"""SnapStart and the functions' alias, in every combination: each function is published and
invoked only through its alias `live` (API Gateway, the event source mappings and the schedule),
and SnapStart applies to its published versions exactly when the `SnapStart` parameter says so
(auto: on Stage=production only)."""

from typing import Any

from local.emulator.template import load_template
from scripts.deploycheck import output
from tests.deploy.expanded_templates import of_type, resolve

ALIAS = "live"


def snapstart_on(entry: output.Entry) -> bool:
    choice = entry.parameters["SnapStart"]
    return choice == "enabled" or (choice == "auto" and entry.parameters["Stage"] == "production")


def aliases(template: dict[str, Any]) -> dict[str, str]:
    """Function logical id -> its alias's logical id."""
    found = {}
    for name, alias in of_type(template, "AWS::Lambda::Alias").items():
        properties = alias["Properties"]
        assert properties["Name"] == ALIAS, name
        version = properties["FunctionVersion"]["Fn::GetAtt"][0]
        function = properties["FunctionName"]["Ref"]
        # The alias points at a version published from its own function.
        assert template["Resources"][version]["Properties"]["FunctionName"] == {"Ref": function}, name
        found[function] = name
    return found


def test_snapstart_follows_the_parameter_on_every_function(deployed):
    seen = set()
    for entry, template in deployed:
        expected = "PublishedVersions" if snapstart_on(entry) else "None"
        seen.add(expected)
        for name, function in of_type(template, "AWS::Lambda::Function").items():
            assert resolve(function["Properties"]["SnapStart"], entry, template) == {"ApplyOn": expected}, (
                name,
                entry.overrides,
            )
    assert seen == {"PublishedVersions", "None"}


def test_every_function_is_invoked_through_its_alias(deployed):
    for entry, template in deployed:
        functions = of_type(template, "AWS::Lambda::Function")
        by_function = aliases(template)
        assert set(by_function) == set(functions), entry.overrides
        alias_ids = set(by_function.values())
        for name, permission in of_type(template, "AWS::Lambda::Permission").items():
            assert permission["Properties"]["FunctionName"]["Ref"] in alias_ids, (name, entry.overrides)
        for name, mapping in of_type(template, "AWS::Lambda::EventSourceMapping").items():
            assert mapping["Properties"]["FunctionName"]["Ref"] in alias_ids, (name, entry.overrides)
        for name, schedule in of_type(template, "AWS::Scheduler::Schedule").items():
            assert schedule["Properties"]["Target"]["Arn"]["Ref"] in alias_ids, (name, entry.overrides)


def test_the_schedules_role_may_invoke_the_alias_it_targets(deployed):
    for entry, template in deployed:
        statements = [
            statement
            for policy in template["Resources"]["ReconcileScheduleRole"]["Properties"]["Policies"]
            for statement in policy["PolicyDocument"]["Statement"]
            if statement["Action"] == "lambda:InvokeFunction"
        ]
        assert [statement["Resource"] for statement in statements] == [
            {"Ref": aliases(template)["ReconcileFunction"]}
        ], entry.overrides


def test_a_new_layer_or_any_property_publishes_new_versions():
    template = load_template()
    assert template["Globals"]["Function"]["AutoPublishAlias"] == ALIAS
    assert template["Resources"]["EtpayLayer"]["Properties"]["PublishLambdaVersion"] is True
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            assert resource["Properties"].get("AutoPublishAliasAllProperties") is True, name

"""The public edge as deployed, in every combination of the template's switches: the WAF, the
custom domain, the access log, the throttles, tracing, the notifications function's reserved
concurrency, the schedule's name and the functions' AWS endpoint."""

import json
import re

from scripts.deploycheck import output
from tests.deploy.expanded_templates import STACK_NAME, of_type, only, refers_to, resolve

NOTIFICATIONS_SUFFIX = "/notifications"
BODY_LIMIT_BYTES = 16 * 1024
MANAGED_RULE_GROUPS = {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"}
# The only rules of AWS's common rule set that merely count: our own rule draws the body line at
# 16 KiB (the set's is 8 KiB), and ETpay's HTTP client may send no User-Agent. Any other override
# would switch part of AWS's protection off.
COUNTED_MANAGED_RULES = {"SizeRestrictions_BODY", "NoUserAgent_HEADER"}
# What the access log must say about every request.
ACCESS_LOG_FIELDS = {"requestId", "sourceIp", "resourcePath", "status"}
# Access-log variables that can carry the request URL, and with it the notification key (?key=).
URL_VARIABLES = re.compile(r"\$context\.path\b|querystring|\$input\.|\$method\.request|\$context\.requestOverride")
SANDBOX_ENDPOINT = "http://127.0.0.1:5055"


def firewall_expected(entry: output.Entry) -> bool:
    firewall = entry.parameters["Firewall"]
    return firewall == "enabled" or (firewall == "auto" and entry.parameters["Stage"] == "production")


def stage_of(template: dict) -> tuple[str, dict]:
    return only(template, "AWS::ApiGateway::Stage")


# -- WAF ----------------------------------------------------------------------------------------


def test_every_firewall_setting_is_among_the_combinations_on_both_stages(deployed):
    tried = {(entry.parameters["Firewall"], entry.parameters["Stage"]) for entry, _ in deployed}
    assert tried == {(f, s) for f in ("auto", "enabled", "disabled") for s in ("sandbox", "production")}


def test_the_web_acl_and_its_association_exist_exactly_when_the_firewall_is_on(deployed):
    for entry, template in deployed:
        wanted = firewall_expected(entry)
        assert bool(of_type(template, "AWS::WAFv2::WebACL")) is wanted, entry.overrides
        assert bool(of_type(template, "AWS::WAFv2::WebACLAssociation")) is wanted, entry.overrides


def test_the_web_acl_is_associated_with_the_apis_stage(deployed):
    for entry, template in deployed:
        if not firewall_expected(entry):
            continue
        acl_name, _ = only(template, "AWS::WAFv2::WebACL")
        api_name, _ = only(template, "AWS::ApiGateway::RestApi")
        stage_name, _ = stage_of(template)
        association = only(template, "AWS::WAFv2::WebACLAssociation")[1]["Properties"]
        assert association["WebACLArn"] == {"Fn::GetAtt": [acl_name, "Arn"]}
        arn = association["ResourceArn"]["Fn::Sub"]
        assert re.fullmatch(
            rf"arn:aws:apigateway:[a-z0-9-]+::/restapis/\$\{{{api_name}\}}/stages/\$\{{{stage_name}\}}", arn
        ), arn


def test_the_web_acl_limits_each_ip_on_notifications_and_blocks_big_bodies_and_known_attacks(deployed):
    for entry, template in deployed:
        if not firewall_expected(entry):
            continue
        acl = only(template, "AWS::WAFv2::WebACL")[1]["Properties"]
        assert acl["Scope"] == "REGIONAL"
        rules = {rule["Name"]: rule for rule in acl["Rules"]}
        assert len({rule["Priority"] for rule in acl["Rules"]}) == len(acl["Rules"]), "two rules share a priority"

        rate = [rule for rule in rules.values() if "RateBasedStatement" in rule["Statement"]]
        assert len(rate) == 1, entry.overrides
        statement = rate[0]["Statement"]["RateBasedStatement"]
        assert rate[0]["Action"] == {"Block": {}}
        assert statement["AggregateKeyType"] == "IP"
        assert int(statement["Limit"]) == int(entry.parameters["NotificationRateLimitPerIp"])
        scope = statement["ScopeDownStatement"]["ByteMatchStatement"]
        assert scope["FieldToMatch"] == {"UriPath": {}}
        assert (scope["PositionalConstraint"], scope["SearchString"]) == ("ENDS_WITH", NOTIFICATIONS_SUFFIX)

        size = [rule for rule in rules.values() if "SizeConstraintStatement" in rule["Statement"]]
        assert len(size) == 1, entry.overrides
        statement = size[0]["Statement"]["SizeConstraintStatement"]
        assert size[0]["Action"] == {"Block": {}}
        assert (statement["ComparisonOperator"], int(statement["Size"])) == ("GT", BODY_LIMIT_BYTES)
        # API Gateway hands WAF at most the inspection limit: a body past it must count as too big.
        assert statement["FieldToMatch"]["Body"]["OversizeHandling"] == "MATCH"
        assert acl["AssociationConfig"]["RequestBody"]["API_GATEWAY"]["DefaultSizeInspectionLimit"] == "KB_16"

        managed = {
            rule["Statement"]["ManagedRuleGroupStatement"]["Name"]: rule
            for rule in rules.values()
            if "ManagedRuleGroupStatement" in rule["Statement"]
        }
        assert set(managed) == MANAGED_RULE_GROUPS, entry.overrides
        for name, rule in managed.items():
            assert rule["Statement"]["ManagedRuleGroupStatement"]["VendorName"] == "AWS"
            # {"Count": {}} here would turn the whole group into a log line.
            assert rule["OverrideAction"] == {"None": {}}, name
            overrides = rule["Statement"]["ManagedRuleGroupStatement"].get("RuleActionOverrides", [])
            assert {o["Name"] for o in overrides} <= COUNTED_MANAGED_RULES, name
            assert all(o["ActionToUse"] == {"Count": {}} for o in overrides), name


def test_the_firewall_samples_no_request(deployed):
    # A sampled request shows its URL in the console, and ETpay's carries the notification key.
    for entry, template in deployed:
        for acl in of_type(template, "AWS::WAFv2::WebACL").values():
            rules = acl["Properties"]["Rules"]
            configs = [acl["Properties"]["VisibilityConfig"]] + [rule["VisibilityConfig"] for rule in rules]
            assert all(config["SampledRequestsEnabled"] is False for config in configs), entry.overrides


# -- the custom domain ------------------------------------------------------------------------------


def test_both_with_and_without_a_custom_domain_are_among_the_combinations(deployed):
    assert {bool(entry.parameters["DomainName"]) for entry, _ in deployed} == {True, False}


def test_a_custom_domain_without_a_certificate_is_refused_before_anything_is_created(expansion):
    for entry in expansion.entries:
        if entry.parameters["DomainName"] and not entry.parameters["CertificateArn"]:
            assert entry.outcome == output.REFUSED, entry.overrides
            assert "DomainNeedsCertificate" in (entry.detail or "")


def test_with_a_custom_domain_only_the_domain_serves_the_api_over_tls_1_2(deployed):
    for entry, template in deployed:
        api_name, api = only(template, "AWS::ApiGateway::RestApi")
        domain = entry.parameters["DomainName"]
        disabled = api["Properties"].get("DisableExecuteApiEndpoint") or api["Properties"]["Body"].get(
            "x-amazon-apigateway-endpoint-configuration", {}
        ).get("disableExecuteApiEndpoint", False)
        assert disabled is bool(domain), entry.overrides
        domains = of_type(template, "AWS::ApiGateway::DomainName")
        if not domain:
            assert domains == {}, entry.overrides
            assert ".execute-api." in json.dumps(template["Outputs"]["NotificationUrl"]["Value"])
            continue
        ((domain_name, resource),) = domains.items()
        properties = resource["Properties"]
        assert properties["DomainName"] == domain
        assert properties["SecurityPolicy"] == "TLS_1_2"
        assert properties["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
        assert properties["RegionalCertificateArn"] == entry.parameters["CertificateArn"]
        mapping = only(template, "AWS::ApiGateway::BasePathMapping")[1]["Properties"]
        assert refers_to(mapping["DomainName"], domain_name) and refers_to(mapping["RestApiId"], api_name)
        assert refers_to(mapping["Stage"], stage_of(template)[0])
        assert template["Outputs"]["NotificationUrl"]["Value"] == f"https://{domain}/notifications"
        assert template["Outputs"]["ApiBaseUrl"]["Value"] == f"https://{domain}"


# -- the stage: access log, throttles, tracing ----------------------------------------------------


def test_the_access_log_is_json_with_who_what_and_how_long_and_nothing_of_the_url(deployed):
    for entry, template in deployed:
        setting = stage_of(template)[1]["Properties"]["AccessLogSetting"]
        assert refers_to(setting["DestinationArn"], "ApiAccessLogGroup")
        record = json.loads(setting["Format"])
        assert ACCESS_LOG_FIELDS <= set(record), entry.overrides
        assert any("latency" in field.lower() for field in record), "no latency in the access log"
        assert record["resourcePath"] == "$context.resourcePath"
        for field, variable in record.items():
            assert re.fullmatch(r"\$context\.[A-Za-z.]+", variable), f"{field}: {variable}"
            assert not URL_VARIABLES.search(variable), f"{field}: {variable} can carry the request URL"


def test_post_notifications_has_a_stage_throttle_of_its_own_and_no_stage_logs_any_body(deployed):
    for entry, template in deployed:
        settings = stage_of(template)[1]["Properties"]["MethodSettings"]
        by_route = {(s["ResourcePath"], s["HttpMethod"]): s for s in settings}
        notifications = by_route[("/~1notifications", "POST")]
        assert int(notifications["ThrottlingRateLimit"]) == int(entry.parameters["NotificationThrottleRate"])
        assert int(notifications["ThrottlingBurstLimit"]) == int(entry.parameters["NotificationThrottleBurst"])
        assert ("/*", "*") in by_route, "the merchant's routes lost their stage throttle"
        for setting in settings:
            # Execution logs and data traces would record request URLs and bodies.
            assert setting["LoggingLevel"] == "OFF" and setting["DataTraceEnabled"] is False, setting


def test_api_gateway_records_no_trace_segment(deployed):
    # Its segment would hold each request's URL, and ETpay's carries the notification key.
    for entry, template in deployed:
        assert stage_of(template)[1]["Properties"].get("TracingEnabled") is False, entry.overrides


# -- functions -------------------------------------------------------------------------------------


def test_the_notifications_function_reserves_the_concurrency_its_parameter_says(deployed):
    assert {entry.parameters["NotificationsReservedConcurrency"] for entry, _ in deployed} >= {"0", "20"}
    for entry, template in deployed:
        function = template["Resources"]["NotificationsFunction"]["Properties"]
        wanted = int(entry.parameters["NotificationsReservedConcurrency"])
        if wanted == 0:
            assert "ReservedConcurrentExecutions" not in function, entry.overrides
        else:
            assert int(function["ReservedConcurrentExecutions"]) == wanted, entry.overrides


def test_no_production_function_is_pointed_at_another_aws_endpoint_whatever_aws_endpoint_url_says(deployed):
    tried = {(entry.parameters["Stage"], entry.parameters["AwsEndpointUrl"]) for entry, _ in deployed}
    assert ("production", SANDBOX_ENDPOINT) in tried, "deploycheck.yaml must try AwsEndpointUrl on production"
    for entry, template in deployed:
        for name, function in of_type(template, "AWS::Lambda::Function").items():
            endpoint = resolve(function["Properties"]["Environment"]["Variables"]["AWS_ENDPOINT_URL"], entry, template)
            if entry.parameters["Stage"] == "production":
                assert endpoint == "", (name, entry.overrides)
            else:
                # sam local's use of it still works on a sandbox stage.
                assert endpoint == entry.parameters["AwsEndpointUrl"], (name, entry.overrides)


def test_the_reconciliation_schedule_is_named_after_its_stack(deployed):
    for entry, template in deployed:
        (schedule,) = of_type(template, "AWS::Scheduler::Schedule").values()
        name = resolve(schedule["Properties"]["Name"], entry, template)
        if isinstance(name, dict):  # still a Fn::Sub: CloudFormation puts the stack name in
            name = name["Fn::Sub"].replace("${AWS::StackName}", STACK_NAME)
        assert STACK_NAME in name, entry.overrides

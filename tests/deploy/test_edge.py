"""The public edge as deployed, in every combination of the template's switches: the WAF, the
custom domain, the access log, the throttles, tracing, the notifications function's reserved
concurrency, the schedule's name and the functions' AWS endpoint."""

import json
import re
import string
import urllib.parse

from local.emulator.template import load_template
from payments.domain.sessions import NOTIFICATION_KEY_PARAMETER
from scripts.deploycheck import output
from scripts.deploycheck.parameters import violation
from tests.deploy.expanded_templates import STACK_IDS, alarm_metrics, evaluate, of_type, only, refers_to, resolve

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
    # On for every stage unless turned off by name.
    return entry.parameters["Firewall"] != "disabled"


def stage_of(template: dict) -> tuple[str, dict]:
    return only(template, "AWS::ApiGateway::Stage")


# -- WAF ----------------------------------------------------------------------------------------


def test_the_firewall_is_on_by_default_on_every_stage_and_off_only_by_name(deployed):
    parameter = load_template()["Parameters"]["Firewall"]
    assert parameter["Default"] == "enabled"
    # Off only by name: the Condition compares with "disabled" alone.
    assert load_template()["Conditions"]["UseFirewall"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "Firewall"}, "disabled"]}]
    }
    tried = {(entry.parameters["Firewall"], entry.parameters["Stage"]) for entry, _ in deployed}
    assert tried >= {(f, s) for f in ("enabled", "disabled") for s in ("sandbox", "production")}
    defaults = [entry for entry, _ in deployed if "Firewall" not in entry.overrides]
    assert defaults and all(firewall_expected(entry) for entry in defaults)


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
        assert is_notifications_path(statement["ScopeDownStatement"], entry)

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


def test_requests_to_notifications_without_a_well_formed_key_are_blocked_before_the_rate_rule_counts_them(deployed):
    generator = load_template()["Resources"]["NotificationKeySecret"]["Properties"]["GenerateSecretString"]
    for entry, template in deployed:
        if not firewall_expected(entry):
            continue
        rules = only(template, "AWS::WAFv2::WebACL")[1]["Properties"]["Rules"]
        (key_rule,) = [rule for rule in rules if rule["Name"] == "notifications-without-a-well-formed-key"]
        (rate_rule,) = [rule for rule in rules if "RateBasedStatement" in rule["Statement"]]
        # WAF evaluates rules by priority and stops at the first Block: what this rule blocks is
        # never counted by the rate rule, nor throttled by API Gateway.
        assert key_rule["Priority"] < rate_rule["Priority"], entry.overrides
        assert key_rule["Action"] == {"Block": {}}
        path, absent = key_rule["Statement"]["AndStatement"]["Statements"]
        assert is_notifications_path(path, entry)
        shape = absent["NotStatement"]["Statement"]["RegexMatchStatement"]
        assert shape["FieldToMatch"] == {"SingleQueryArgument": {"Name": NOTIFICATION_KEY_PARAMETER}}
        # The shape of the generated key: its length, and an alphabet holding every character the
        # generator may use (letters and digits, no punctuation or space).
        assert generator["PasswordLength"] == 48
        assert generator["ExcludePunctuation"] is True and generator["IncludeSpace"] is False
        assert not {"ExcludeCharacters", "ExcludeLowercase", "ExcludeUppercase", "ExcludeNumbers"} & set(generator)
        key = re.compile(shape["RegexString"])
        alphabet = string.ascii_letters + string.digits
        assert key.search(alphabet[:48]) and key.search(alphabet[14:62]) and key.search("9" * 48)
        for wrong in ("", "a" * 47, "a" * 49, "a" * 47 + "-", "a" * 47 + "%", " " + "a" * 47, "a" * 47 + "\n"):
            assert key.search(wrong) is None, wrong


def test_with_etpay_ip_ranges_only_those_addresses_reach_notifications(deployed):
    assert {bool(entry.parameters["EtpayIpRanges"]) for entry, _ in deployed} == {True, False}
    for entry, template in deployed:
        ranges = entry.parameters["EtpayIpRanges"]
        sets = of_type(template, "AWS::WAFv2::IPSet")
        assert bool(sets) is bool(ranges and firewall_expected(entry)), entry.overrides
        if not sets:
            continue
        assert firewall_expected(entry), "EtpayIpRanges without the firewall must be refused by a Rule"
        ((set_name, ip_set),) = sets.items()
        assert ip_set["Properties"]["IPAddressVersion"] == "IPV4" and ip_set["Properties"]["Scope"] == "REGIONAL"
        assert resolve(ip_set["Properties"]["Addresses"], entry, template) == ranges.split(",")
        rules = only(template, "AWS::WAFv2::WebACL")[1]["Properties"]["Rules"]
        (ip_rule,) = [rule for rule in rules if "notifications-only-from" in rule["Name"]]
        others = [rule for rule in rules if rule is not ip_rule and "notifications" in rule["Name"]]
        assert all(ip_rule["Priority"] < rule["Priority"] for rule in others), entry.overrides
        assert ip_rule["Action"] == {"Block": {}}
        path, elsewhere = ip_rule["Statement"]["AndStatement"]["Statements"]
        assert is_notifications_path(path, entry)
        reference = elsewhere["NotStatement"]["Statement"]["IPSetReferenceStatement"]
        assert reference["Arn"] == {"Fn::GetAtt": [set_name, "Arn"]}


def test_etpay_ip_ranges_without_the_firewall_are_refused(expansion):
    for entry in expansion.entries:
        if entry.parameters["EtpayIpRanges"] and entry.parameters["Firewall"] == "disabled":
            assert entry.outcome == output.REFUSED and "EtpayIpRangesNeedTheFirewall" in (entry.detail or "")


def test_the_etpay_ip_ranges_parameter_takes_cidr_lists_only():
    definition = load_template()["Parameters"]["EtpayIpRanges"]
    for good in ("", "203.0.113.0/24", "203.0.113.0/24,198.51.100.7/32", "10.0.0.0/8"):
        assert violation(definition, good) is None, good
    for bad in (
        "203.0.113.0",
        "203.0.113.0/24, 198.51.100.7/32",
        "203.0.113.0/33",
        "0.0.0.0/0",
        "256.1.1.1/32",
        "2001:db8::/32",
        "203.0.113.0/24,",
    ):
        assert violation(definition, bad) is not None, bad


def test_the_notifications_path_statement_matches_exactly_the_route_as_api_gateway_serves_it():
    entry = type("Entry", (), {"parameters": {"Stage": "sandbox"}})()
    statement = {
        "RegexMatchStatement": {
            "RegexString": "^(/sandbox)?/notifications/?$",
            "FieldToMatch": {"UriPath": {}},
            "TextTransformations": [
                {"Priority": 0, "Type": "URL_DECODE"},
                {"Priority": 1, "Type": "NORMALIZE_PATH"},
                {"Priority": 2, "Type": "LOWERCASE"},
            ],
        }
    }
    assert is_notifications_path(statement, entry)
    # and a statement that misses a spelling of the path is seen
    assert not is_notifications_path({"ByteMatchStatement": {"FieldToMatch": {"UriPath": {}}}}, entry)


def test_notifications_throttled_and_refused_have_alarms_that_can_see_them(deployed):
    for entry, template in deployed:
        resources = template["Resources"]
        api = only(template, "AWS::ApiGateway::RestApi")[1]["Properties"]
        settings = stage_of(template)[1]["Properties"]["MethodSettings"]
        by_route = {(s["ResourcePath"], s["HttpMethod"]): s for s in settings}
        # Per-method metrics (the Resource and Method dimensions) exist only where they are enabled.
        assert by_route[("/~1notifications", "POST")]["MetricsEnabled"] is True

        refused = resources["NotificationsRefusedAlarm"]["Properties"]
        assert (refused["Namespace"], refused["MetricName"]) == ("AWS/ApiGateway", "4XXError")
        dimensions = {d["Name"]: resolve(d["Value"], entry, template) for d in refused["Dimensions"]}
        assert dimensions == {
            "ApiName": api["Name"],
            "Stage": entry.parameters["Stage"],
            "Resource": "/notifications",
            "Method": "POST",
        }

        # 429 is in 4XXError only: a metric filter on the access log counts it apart.
        metric_filter = resources["NotificationsThrottledMetric"]["Properties"]
        assert refers_to(metric_filter["LogGroupName"], "ApiAccessLogGroup")
        pattern = metric_filter["FilterPattern"]
        assert '$.resourcePath = "/notifications"' in pattern and '$.status = "429"' in pattern
        access_log = json.loads(stage_of(template)[1]["Properties"]["AccessLogSetting"]["Format"])
        assert access_log["resourcePath"] == "$context.resourcePath" and access_log["status"] == "$context.status"
        (transformation,) = metric_filter["MetricTransformations"]
        throttled = resources["NotificationsThrottledAlarm"]["Properties"]
        assert throttled["Namespace"] == transformation["MetricNamespace"]
        assert throttled["MetricName"] == transformation["MetricName"]
        assert int(throttled["Threshold"]) == 1 and throttled["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def is_notifications_path(statement: dict, entry) -> bool:
    """Whether a WAF statement matches POST /notifications' path however a client spells it, on the
    execute-api endpoint (/<stage>/notifications) and a custom domain (/notifications), and
    nothing else of the API (an order id may be "notifications")."""
    regex = statement.get("RegexMatchStatement")
    if regex is None or regex["FieldToMatch"] != {"UriPath": {}}:
        return False
    stage = entry.parameters["Stage"]
    transformations = [t["Type"] for t in sorted(regex["TextTransformations"], key=lambda t: t["Priority"])]
    pattern = regex["RegexString"]
    if isinstance(pattern, dict):  # an Fn::Sub naming the stage
        pattern = pattern["Fn::Sub"].replace("${Stage}", stage)
    compiled = re.compile(pattern)

    def seen(path: str) -> bool:
        for kind in transformations:
            path = WAF_TRANSFORMATIONS[kind](path)
        return compiled.search(path) is not None

    served = [
        f"/{stage}/notifications",
        "/notifications",
        f"/{stage}/notifications/",
        f"/{stage}//notifications",
        f"/{stage}/notific%61tions",
        f"/{stage}/./notifications",
    ]
    others = [
        f"/{stage}/orders/notifications",
        f"/{stage}/sessions",
        f"/{stage}/notifications/x",
        f"/{stage}/events/notifications",
        "/orders/notifications",
        f"/{stage}/notificationsx",
    ]
    return all(seen(path) for path in served) and not any(seen(path) for path in others)


# What WAF's text transformations do to a path (as far as these paths need).
WAF_TRANSFORMATIONS = {
    "NONE": lambda path: path,
    "URL_DECODE": urllib.parse.unquote,
    "LOWERCASE": str.lower,
    "NORMALIZE_PATH": lambda path: re.sub(r"/(\./)+", "/", re.sub(r"/{2,}", "/", path)),
}


def test_the_firewall_logs_what_it_blocks_without_the_key_or_any_credential(deployed):
    for entry, template in deployed:
        configurations = of_type(template, "AWS::WAFv2::LoggingConfiguration")
        assert bool(configurations) is firewall_expected(entry), entry.overrides
        if not configurations:
            assert "FirewallLogGroup" not in template["Resources"]
            continue
        acl_name, _ = only(template, "AWS::WAFv2::WebACL")
        ((_, configuration),) = configurations.items()
        properties = configuration["Properties"]
        assert properties["ResourceArn"] == {"Fn::GetAtt": [acl_name, "Arn"]}
        # A CloudWatch Logs destination: the group's ARN without ":*", named aws-waf-logs-...
        (destination,) = properties["LogDestinationConfigs"]
        assert destination["Fn::Sub"].endswith(":log-group:${FirewallLogGroup}"), destination
        group = template["Resources"]["FirewallLogGroup"]
        name = resolve(group["Properties"]["LogGroupName"], entry, template)
        name = name["Fn::Sub"] if isinstance(name, dict) else name
        name = name[0] if isinstance(name, list) else name
        assert name.startswith("aws-waf-logs-"), name
        # ETpay's notification URL carries the key in its query string; merchant requests carry an
        # API key or SigV4 credentials in headers.
        redacted = properties["RedactedFields"]
        assert {"QueryString": {}} in redacted
        headers = {field["SingleHeader"]["Name"].lower() for field in redacted if "SingleHeader" in field}
        assert {"x-api-key", "authorization", "x-amz-security-token"} <= headers
        # Only what the WAF acted on: the access log has the rest.
        kept = properties["LoggingFilter"]
        assert kept["DefaultBehavior"] == "DROP"
        actions = {c["ActionCondition"]["Action"] for f in kept["Filters"] for c in f["Conditions"]}
        assert actions == {"BLOCK", "COUNT"} and all(f["Behavior"] == "KEEP" for f in kept["Filters"])


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


def test_with_the_defaults_no_function_reserves_concurrency(deployed):
    # A new account's whole concurrency quota is 10, and Lambda keeps at least that much
    # unreserved: a stack deployed with the defaults must reserve nothing to deploy there.
    defaults = [(entry, template) for entry, template in deployed if entry.source.startswith("samconfig.toml")]
    defaults += [
        (entry, template)
        for entry, template in deployed
        if not {"NotificationsReservedConcurrency", "ReconcileReservedConcurrency"} & set(entry.overrides)
    ]
    assert defaults
    for entry, template in defaults:
        for name, function in of_type(template, "AWS::Lambda::Function").items():
            assert "ReservedConcurrentExecutions" not in function["Properties"], (name, entry.overrides)


def test_the_sweep_reserves_one_execution_only_when_asked(deployed):
    assert {entry.parameters["ReconcileReservedConcurrency"] for entry, _ in deployed} == {"0", "1"}
    for entry, template in deployed:
        function = template["Resources"]["ReconcileFunction"]["Properties"]
        if entry.parameters["ReconcileReservedConcurrency"] == "1":
            assert int(function["ReservedConcurrentExecutions"]) == 1, entry.overrides
        else:
            assert "ReservedConcurrentExecutions" not in function, entry.overrides


def test_the_notifications_function_reserves_the_concurrency_its_parameter_says(deployed):
    assert {entry.parameters["NotificationsReservedConcurrency"] for entry, _ in deployed} >= {"0", "20"}
    for entry, template in deployed:
        function = template["Resources"]["NotificationsFunction"]["Properties"]
        wanted = int(entry.parameters["NotificationsReservedConcurrency"])
        if wanted == 0:
            assert "ReservedConcurrentExecutions" not in function, entry.overrides
        else:
            assert int(function["ReservedConcurrentExecutions"]) == wanted, entry.overrides


def test_every_function_of_every_deploy_is_watched_for_throttles(deployed):
    for entry, template in deployed:
        alarm = template["Resources"]["FunctionThrottlesAlarm"]
        watched = {
            dimensions["FunctionName"]["Ref"]
            for namespace, name, dimensions in alarm_metrics(alarm)
            if (namespace, name) == ("AWS/Lambda", "Throttles")
        }
        assert watched == set(of_type(template, "AWS::Lambda::Function")), entry.overrides
        # ... and the alarm adds them all up.
        queries = alarm["Properties"]["Metrics"]
        (total,) = [query for query in queries if query.get("ReturnData")]
        ids = {query["Id"] for query in queries if "MetricStat" in query}
        assert set(re.findall(r"[a-z]\w*", total["Expression"])) == ids and "+" in total["Expression"]


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


def test_the_reconciliation_schedule_is_named_after_its_stack_instance(deployed):
    # Two stacks of one account must not share a schedule: its name holds the stack id's UUID
    # (the stack's name would not fit the scheduler's 64 characters: test_names).
    for entry, template in deployed:
        (schedule,) = of_type(template, "AWS::Scheduler::Schedule").values()
        names = [evaluate(schedule["Properties"]["Name"], entry, template, stack_id) for stack_id in STACK_IDS]
        for name, stack_id in zip(names, STACK_IDS, strict=True):
            assert stack_id.rsplit("/", 1)[1] in name, entry.overrides
        assert names[0] != names[1]

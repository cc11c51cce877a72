"""The operators' dashboard, in every combination of the template's switches: a valid CloudWatch
dashboard body whose every graphed metric exists (one the code emits, one of the stack's metric
filters, or one AWS publishes under the dimensions it publishes it with), with every alarm's state
on top and every metric an alarm watches among the graphs.

The body is a Fn::Sub: references to the stack's resources are rendered as tokens ("Ref:X",
"GetAtt:X.Attr") so that the alarms' own dimensions, written with Ref and Fn::GetAtt, compare equal.
"""

import json
import re
from typing import Any

from local.emulator.template import load_template
from payments.app import telemetry
from scripts.deploycheck.project import REGION
from tests.deploy.expanded_templates import alarm_metrics, of_type, only, resolve

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
# What AWS publishes, per namespace: the metric names graphed here and the dimension sets AWS
# publishes them under (Lambda, API Gateway with per-method metrics enabled, SQS, WAF).
AWS_METRICS: dict[str, tuple[set[str], list[set[str]]]] = {
    "AWS/Lambda": ({"Errors", "Throttles", "ConcurrentExecutions", "IteratorAge"}, [{"FunctionName"}]),
    "AWS/ApiGateway": (
        {"Count", "4XXError", "5XXError"},
        [{"ApiName", "Stage"}, {"ApiName", "Stage", "Resource", "Method"}],
    ),
    "AWS/SQS": ({"ApproximateNumberOfMessagesVisible"}, [{"QueueName"}]),
    "AWS/WAFV2": ({"BlockedRequests"}, [{"WebACL", "Region", "Rule"}]),
}
FUNCTION_LOGS = {
    "PaymentsFunction": "PaymentsLogGroup",
    "NotificationsFunction": "NotificationsLogGroup",
    "ReconcileFunction": "ReconcileLogGroup",
    "ReconcileWorkerFunction": "ReconcileWorkerLogGroup",
    "EventPublisherFunction": "EventPublisherLogGroup",
    "EventsApiFunction": "EventsApiLogGroup",
    "WebhookDeliveryFunction": "WebhookDeliveryLogGroup",
}


def render(value: Any, entry, template: dict[str, Any]) -> Any:
    """A value with its parameters put in and each resource reference as a token."""
    value = resolve(value, entry, template)
    if isinstance(value, list):
        return [render(item, entry, template) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return f"Ref:{value['Ref']}"
    if set(value) == {"Fn::GetAtt"}:
        name, attribute = value["Fn::GetAtt"]
        return f"GetAtt:{name}.{attribute}"
    if set(value) == {"Fn::Sub"}:
        argument = value["Fn::Sub"]
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {name: render(item, entry, template) for name, item in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in values:
                return values[name]
            resource, _, attribute = name.partition(".")
            assert resource in template["Resources"], f"${{{name}}} names nothing of this deploy"
            return f"GetAtt:{name}" if attribute else f"Ref:{name}"

        return _PLACEHOLDER.sub(substitute, text)
    return {key: render(item, entry, template) for key, item in value.items()}


def dashboard(entry, template: dict[str, Any]) -> dict[str, Any]:
    _, resource = only(template, "AWS::CloudWatch::Dashboard")
    return json.loads(render(resource["Properties"]["DashboardBody"], entry, template))


def graphed(body: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric name, dimensions) of every metric of every graph."""
    found = []
    for widget in body["widgets"]:
        if widget["type"] != "metric":
            continue
        for row in widget["properties"]["metrics"]:
            names = [item for item in row if isinstance(item, str)]
            if not names:
                continue  # an expression
            namespace, metric, *pairs = names
            assert len(pairs) % 2 == 0, row
            found.append((namespace, metric, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return found


def canonical(metric: tuple[Any, Any, dict[str, Any]], entry, template) -> tuple[str, str, frozenset]:
    namespace, name, dimensions = metric
    rendered = {key: render(value, entry, template) for key, value in dimensions.items()}
    return render(namespace, entry, template), name, frozenset(rendered.items())


def test_the_dashboard_body_is_valid_and_names_this_stack(deployed):
    for entry, template in deployed:
        name, resource = only(template, "AWS::CloudWatch::Dashboard")
        body = dashboard(entry, template)
        assert body["widgets"], entry.overrides
        for widget in body["widgets"]:
            assert widget["type"] in ("metric", "alarm", "log"), widget
            assert 1 <= widget["width"] <= 24 and widget["height"] >= 1
        outputs = template["Outputs"]["DashboardUrl"]["Value"]
        assert "${" + name + "}" in outputs["Fn::Sub"], outputs


def test_every_graphed_metric_exists(deployed):
    application = load_template()["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    emitted = {value for key, value in vars(telemetry).items() if key.isupper() and isinstance(value, str)}
    for entry, template in deployed:
        services = {
            function["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
            for function in of_type(template, "AWS::Lambda::Function").values()
        }
        filters = {
            (render(t["MetricNamespace"], entry, template), t["MetricName"])
            for metric_filter in of_type(template, "AWS::Logs::MetricFilter").values()
            for t in metric_filter["Properties"]["MetricTransformations"]
        }
        acl = of_type(template, "AWS::WAFv2::WebACL")
        for namespace, name, dimensions in graphed(dashboard(entry, template)):
            where = (namespace, name, dimensions, entry.overrides)
            if namespace == application:
                assert name in emitted, where
                assert dimensions.keys() == {"service"} and dimensions["service"] in services, where
            elif (namespace, name) in filters:
                assert dimensions == {}, where
            else:
                names, dimension_sets = AWS_METRICS[namespace]
                assert name in names and set(dimensions) in dimension_sets, where
                check_aws_dimensions(namespace, dimensions, entry, template, acl, where)


def check_aws_dimensions(namespace, dimensions, entry, template, acl, where) -> None:
    resources = template["Resources"]
    if "FunctionName" in dimensions:
        function = dimensions["FunctionName"].removeprefix("Ref:")
        assert resources[function]["Type"] == "AWS::Lambda::Function", where
    if "QueueName" in dimensions:
        queue = dimensions["QueueName"].removeprefix("GetAtt:").removesuffix(".QueueName")
        assert resources[queue]["Type"] == "AWS::SQS::Queue", where
    if namespace == "AWS/ApiGateway":
        api = only(template, "AWS::ApiGateway::RestApi")[1]["Properties"]
        assert dimensions["ApiName"] == api["Name"] and dimensions["Stage"] == entry.parameters["Stage"], where
        if "Resource" in dimensions:
            # Per-method metrics exist where the stage turns them on.
            settings = only(template, "AWS::ApiGateway::Stage")[1]["Properties"]["MethodSettings"]
            path = "/" + dimensions["Resource"].replace("/", "~1")  # MethodSettings escape "/" as ~1
            (setting,) = [s for s in settings if (s["ResourcePath"], s["HttpMethod"]) == (path, dimensions["Method"])]
            assert setting["MetricsEnabled"] is True, where
    if namespace == "AWS/WAFV2":
        assert acl, f"a WAF metric on a deploy without the firewall: {where}"
        (web_acl,) = acl.values()
        properties = web_acl["Properties"]
        assert dimensions["WebACL"] == render(properties["VisibilityConfig"]["MetricName"], entry, template), where
        rules = {rule["VisibilityConfig"]["MetricName"] for rule in properties["Rules"]}
        assert dimensions["Rule"] in rules and dimensions["Region"] == REGION, where


def test_every_alarm_is_on_top_and_what_it_watches_is_graphed(deployed):
    for entry, template in deployed:
        body = dashboard(entry, template)
        alarms = of_type(template, "AWS::CloudWatch::Alarm")
        (states,) = [widget for widget in body["widgets"] if widget["type"] == "alarm"]
        assert sorted(states["properties"]["alarms"]) == sorted(f"GetAtt:{name}.Arn" for name in alarms)
        shown = {canonical(metric, entry, template) for metric in graphed(body)}
        for name, alarm in alarms.items():
            for metric in alarm_metrics(alarm):
                assert canonical(metric, entry, template) in shown, (name, metric, entry.overrides)


def test_every_graph_expression_adds_up_metrics_of_its_own_graph(deployed):
    for entry, template in deployed:
        for widget in dashboard(entry, template)["widgets"]:
            if widget["type"] != "metric":
                continue
            rows = widget["properties"]["metrics"]
            ids = {row[-1]["id"] for row in rows if isinstance(row[-1], dict) and "id" in row[-1]}
            for row in rows:
                if isinstance(row[0], dict) and "expression" in row[0]:
                    used = set(re.findall(r"[a-z][A-Za-z0-9_]*", row[0]["expression"]))
                    assert used and used <= ids, (row, entry.overrides)


def test_the_cold_start_graph_reads_every_functions_report_lines(deployed):
    for entry, template in deployed:
        (logs,) = [w for w in dashboard(entry, template)["widgets"] if w["type"] == "log"]
        query = logs["properties"]["query"]
        sources = set(re.findall(r"SOURCE '([^']+)'", query))
        functions = of_type(template, "AWS::Lambda::Function")
        assert sources == {f"Ref:{FUNCTION_LOGS[name]}" for name in functions}, entry.overrides
        for name in functions:
            # Each function writes to that group (its LoggingConfig), where Lambda writes REPORT.
            config = template["Resources"][name]["Properties"]["LoggingConfig"]
            assert config["LogGroup"] == {"Ref": FUNCTION_LOGS[name]}
            assert config.get("LogFormat", "Text") == "Text"  # REPORT lines as text
        assert "REPORT" in query and "Init Duration" in query

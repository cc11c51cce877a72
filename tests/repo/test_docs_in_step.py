"""What the README and the runbook (docs/DEPLOY.md) say about the stack agrees with template.yaml:
every parameter in the README's table with its default, every alarm in both documents, and every
alarm watching a metric the code really emits."""

import re

from local.emulator.template import ROOT, load_template
from payments.app import telemetry

README = ROOT / "README.md"
RUNBOOK = ROOT / "docs" / "DEPLOY.md"


def section(markdown: str, heading: str) -> str:
    """The text under `heading` (a whole heading line), up to the next heading of its level or higher."""
    level = len(heading) - len(heading.lstrip("#"))
    start = markdown.index(f"\n{heading}\n") + len(heading) + 2
    following = re.compile(rf"^#{{1,{level}}} ", re.MULTILINE)
    end = following.search(markdown, start)
    return markdown[start : end.start() if end else len(markdown)]


def template_alarms() -> set[str]:
    resources = load_template()["Resources"]
    return {name for name, resource in resources.items() if resource["Type"] == "AWS::CloudWatch::Alarm"}


def readme_parameters() -> dict[str, str]:
    """Parameter -> its default as the README's Parameters table gives it (`empty` for "")."""
    found = {}
    for names, default in re.findall(
        r"^\| ((?:`\w+`(?: / )?)+) \| ([^|]+) \|", section(README.read_text(), "### Parameters"), re.MULTILINE
    ):
        for name in re.findall(r"`(\w+)`", names):
            found[name] = default.strip()
    return found


def test_the_readme_lists_every_parameter_of_the_template_with_its_default():
    # given the template's parameters and the README's table
    parameters = load_template()["Parameters"]
    listed = readme_parameters()

    # then the table names exactly those, each with the template's default
    assert set(listed) == set(parameters)
    for name, definition in parameters.items():
        default = str(definition["Default"])
        assert listed[name] == (f"`{default}`" if default else "empty"), name


def test_every_alarm_of_the_template_has_its_runbook_entry_and_its_line_in_the_readme():
    runbook_alarms = set(re.findall(r"^### (\w+)$", section(RUNBOOK.read_text(), "## Alarms"), re.MULTILINE))
    readme_alarms = set(re.findall(r"^- `(\w+)`: ", section(README.read_text(), "### Alarms"), re.MULTILINE))

    assert runbook_alarms == template_alarms()
    assert readme_alarms == template_alarms()


def test_every_alarm_on_the_apps_metrics_watches_a_metric_the_code_emits():
    # A misspelt metric name is an alarm that never fires, and nothing else would notice.
    emitted = {value for name, value in vars(telemetry).items() if name.isupper() and isinstance(value, str)}
    resources = load_template()["Resources"]
    services = {
        resource["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        for resource in resources.values()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    namespace = load_template()["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    watched = []
    for name in template_alarms():
        for query in resources[name]["Properties"].get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            if metric.get("Namespace") != namespace:
                continue
            watched.append(metric["MetricName"])
            assert metric["MetricName"] in emitted, (name, metric["MetricName"])
            dimensions = {dimension["Name"]: dimension["Value"] for dimension in metric["Dimensions"]}
            assert dimensions.keys() == {"service"} and dimensions["service"] in services, (name, dimensions)
    assert len(watched) >= 8  # the loop above saw the alarms it is about

"""What the docs say about the stack agrees with template.yaml: docs/CONFIGURATION.md describes every
parameter and nothing else, with its default and what it allows, and each function's memory size
and timeout; docs/OPERATIONS.md has an entry (what it means, what to do) for every alarm and for
nothing the template lacks; and every alarm on the app's metrics watches a metric the code emits."""

import re

import pytest

from local.emulator.template import ROOT, load_template
from payments.app import telemetry
from tests.support.markdown import section

CONFIGURATION = ROOT / "docs" / "CONFIGURATION.md"
OPERATIONS = ROOT / "docs" / "OPERATIONS.md"
PARAMETERS = load_template()["Parameters"]


def template_alarms() -> set[str]:
    resources = load_template()["Resources"]
    return {name for name, resource in resources.items() if resource["Type"] == "AWS::CloudWatch::Alarm"}


def parameter_sections() -> dict[str, str]:
    text = CONFIGURATION.read_text(encoding="utf-8")
    return {name: section(text, f"### `{name}`") for name in re.findall(r"^### `(\w+)`$", text, re.MULTILINE)}


def test_configuration_describes_every_parameter_of_the_template_and_no_other():
    assert sorted(parameter_sections()) == sorted(PARAMETERS)


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_each_parameter_has_the_templates_default_and_allowed_values(name):
    definition = PARAMETERS[name]
    described = parameter_sections()[name]
    match = re.search(
        r"^\*\*Default\*\* (`[^`]*`|empty)\. \*\*Allowed\*\* (.+?)\.$", described, re.MULTILINE | re.DOTALL
    )
    assert match, f"{name}: its section starts with **Default** ... **Allowed** ..."
    default = str(definition["Default"])
    assert match.group(1) == (f"`{default}`" if default else "empty"), name
    allowed = match.group(2)
    if "AllowedValues" in definition:
        assert re.findall(r"`([^`]*)`", allowed) == [str(value) for value in definition["AllowedValues"]], name
    numbers = [int(number.replace(",", "")) for number in re.findall(r"\b\d[\d,]*\b", allowed)]
    for bound in ("MinValue", "MaxValue"):
        if bound in definition:
            assert int(definition[bound]) in numbers, f"{name}: its {bound} {definition[bound]} is not in {allowed!r}"
    if not definition["Default"] and definition["Type"] == "String" and "AllowedValues" not in definition:
        assert allowed.endswith("or empty"), f"{name}: say that it may be empty"


def test_the_memory_sizes_and_timeouts_are_the_templates():
    template = load_template()
    defaults = template["Globals"]["Function"]
    functions = {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    rows = re.findall(
        r"^\| `(\w+)` \| (\d+) MB \| (\d+) s \|$",
        section(CONFIGURATION.read_text(encoding="utf-8"), "## What is not a parameter"),
        re.MULTILINE,
    )
    assert {name: (int(memory), int(timeout)) for name, memory, timeout in rows} == {
        name: (properties.get("MemorySize", defaults["MemorySize"]), properties.get("Timeout", defaults["Timeout"]))
        for name, properties in functions.items()
    }


def test_operations_has_an_entry_for_every_alarm_of_the_template_and_no_other():
    alarms = section(OPERATIONS.read_text(encoding="utf-8"), "## Alarms")
    entries = re.findall(r"^### (\w+)$", alarms, re.MULTILINE)
    assert sorted(entries) == sorted(template_alarms())
    for name in entries:
        entry = section(alarms, f"### {name}")
        assert "**Means:**" in entry and "**Do:**" in entry, f"{name}: say what it means and what to do"


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

"""make bench runs the built functions with an environment of its own (bench/stack.py), resolved
from the template as CloudFormation would. A variable the template gives a function must reach it
there, or the benchmark measures a function that refuses every request (it did: the notification
key's secret was missing, and every cold POST /sessions answered 503)."""

import pytest

from bench.functions import FUNCTIONS
from bench.stack import lambda_environment
from local.emulator.aws import physical_names
from local.emulator.template import evaluate_conditions, function_environment, load_template, parameter_values
from local.stack import LOCAL_PARAMETERS

# What the benchmark leaves to the function's default, and why that measures the same code.
LEFT_TO_DEFAULTS: dict[str, str] = {}


@pytest.mark.parametrize("function", [function.name for function in FUNCTIONS])
def test_the_benchmark_gives_each_function_every_variable_of_the_template(function):
    template = load_template()
    # As the bench resolves them: the local parameters with a webhook URL (so the webhook functions
    # exist), and every resource's `!Ref` (its local name or URL; here a stand-in).
    parameters = parameter_values(template, LOCAL_PARAMETERS | {"MerchantWebhookUrl": "http://127.0.0.1:1/webhooks"})
    refs = {name: f"local-{name}" for name in template["Resources"]} | parameters | physical_names("local")

    given = lambda_environment(function, refs, evaluate_conditions(template, parameters))

    assert set(function_environment(function)) - set(given) - set(LEFT_TO_DEFAULTS) == set()
    assert given["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == str(
        template["Resources"][function]["Properties"].get("MemorySize", template["Globals"]["Function"]["MemorySize"])
    )


def test_every_function_of_the_template_is_benchmarked():
    template = load_template()
    functions = [name for name, resource in template["Resources"].items() if resource["Type"].endswith("::Function")]
    assert {function.name for function in FUNCTIONS} == set(functions)

"""What makes a cold start regress, held to budgets recorded here: for each function, the modules
its first request has loaded by its end (the function's, the layer's and the runtime's packages;
not the standard library's) and the AWS requests it makes. No timing: counts only.

Each function runs from source as Lambda runs it, in the bench's bare process (bench/execution.py:
the function's directory, the layer's source, then only the packages Lambda's runtime ships and the
layer's locked ones), with the template's environment, tracing on as deployed, on moto and the ETpay
sandbox, and the event the bench measures it on (bench/functions.py: the commonest of its work).

The budgets are the figures recorded on 2026-12-06. After an optimisation, lower a function's
budget (one line) to hold it there. Over its budget, a function fails with what is new: the
packages that grew since the figures in PACKAGES (with the modules of each), and the requests."""

import importlib.metadata
import re
from collections import Counter
from pathlib import Path

import pytest

from bench.execution import SITE_PACKAGES, Execution
from bench.functions import FUNCTIONS
from bench.stack import BenchStack
from bench.trees import RUNTIME_PACKAGES
from local.emulator.template import ROOT

LAYER_LOCK = ROOT / "layers" / "etpay" / "requirements.txt"

# Modules loaded by the end of the first request.
MODULES = {
    "PaymentsFunction": 272,
    "NotificationsFunction": 279,
    "ReconcileFunction": 272,
    "ReconcileWorkerFunction": 271,
    "EventPublisherFunction": 269,
    "WebhookDeliveryFunction": 264,
    "EventsApiFunction": 273,
}
# The AWS requests of the first request. A function's secrets are read while it initialises
# (payments.config.wiring.prepare reads them ahead): none is read here.
AWS_REQUESTS = {
    "PaymentsFunction": {"dynamodb:PutItem": 1, "dynamodb:UpdateItem": 1},
    "NotificationsFunction": {"dynamodb:GetItem": 1, "dynamodb:UpdateItem": 1},
    "ReconcileFunction": {
        "dynamodb:GetItem": 1,
        "dynamodb:Query": 64,
        "dynamodb:UpdateItem": 1,
        "sqs:SendMessageBatch": 1,
    },
    "ReconcileWorkerFunction": {"dynamodb:GetItem": 2},
    "EventPublisherFunction": {"dynamodb:PutItem": 1, "events:PutEvents": 1, "sqs:SendMessage": 1},
    "WebhookDeliveryFunction": {"dynamodb:GetItem": 1, "dynamodb:UpdateItem": 1},
    "EventsApiFunction": {"dynamodb:GetItem": 1},
}
# The most modules of each top-level package any function loaded when the budgets were recorded:
# what a failure compares with, to say which package grew. No boto3 nor s3transfer: the functions
# take their clients from botocore. jwt is the notifications function's alone.
PACKAGES = {
    "app": 1, "aws_lambda_powertools": 42, "aws_xray_sdk": 55, "botocore": 74, "dateutil": 11, "etpay": 6,
    "jmespath": 8, "jwt": 11, "payments": 37, "six": 2, "typing_extensions": 1, "urllib3": 28, "wrapt": 9,
}  # fmt: skip


def linked_runtime(target: Path) -> Path:
    """The runtime's packages and the layer's locked ones, linked from this venv: Lambda's path for
    the functions run from source, without a build. The venv must hold the locked versions."""
    target.mkdir(parents=True, exist_ok=True)
    names = set(RUNTIME_PACKAGES)
    for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", LAYER_LOCK.read_text(), re.MULTILINE):
        distribution = importlib.metadata.distribution(name)
        assert distribution.version == version, f"this venv has {name} {distribution.version}, the lock {version}"
        top = {file.parts[0] for file in distribution.files or () if len(file.parts) > 1 or file.suffix == ".py"}
        names |= {part for part in top - {"..", "bin", "__pycache__"} if not part.endswith((".dist-info", ".data"))}
    for name in names:
        (target / name).symlink_to(SITE_PACKAGES / name)
    return target


@pytest.fixture(scope="module")
def first_requests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[str], list[str]]]:
    """Per function: the modules loaded and the AWS requests made by the end of its first request."""
    workdir: Path = tmp_path_factory.mktemp("cold-start-budget")
    runtime = linked_runtime(workdir / "runtime")
    found = {}
    with BenchStack(workdir / "stack") as stack:
        for function in FUNCTIONS:
            log = workdir / f"{function.code}.log"
            paths = [str(ROOT / "functions" / function.code), str(ROOT / "layers" / "etpay")]
            with Execution(paths, runtime, stack.environment(function.name), log, inspect=True) as execution:
                answer = execution.invoke(function.event(stack))
                modules = execution.close()["modules"]
            assert function.expected(answer["response"]), f"{function.name}: {answer['response']}; see {log}"
            found[function.name] = (modules, answer["calls"])
    return found


def test_every_function_has_budgets():
    assert set(MODULES) == set(AWS_REQUESTS) == {function.name for function in FUNCTIONS}


@pytest.mark.parametrize("function", sorted(MODULES))
def test_the_first_request_loads_no_more_modules_than_its_budget(first_requests, function):
    modules, _ = first_requests[function]
    by_package = Counter(module.partition(".")[0] for module in modules)
    grown = {package: count for package, count in by_package.items() if count > PACKAGES.get(package, 0)}
    new = "; ".join(
        f"{package} {count} (was {PACKAGES.get(package, 0)}): "
        + ", ".join(module for module in modules if module.partition(".")[0] == package)
        for package, count in sorted(grown.items())
    )
    assert len(modules) <= MODULES[function], (
        f"{function} loads {len(modules)} modules by the end of its first request, its budget is "
        f"{MODULES[function]}; grown: {new or 'no package above the recorded figures'}"
    )


@pytest.mark.parametrize("function", sorted(AWS_REQUESTS))
def test_the_first_request_makes_no_more_aws_requests_than_its_budget(first_requests, function):
    _, calls = first_requests[function]
    over = Counter(calls) - Counter(AWS_REQUESTS[function])
    assert not over, f"{function}'s first request makes more AWS requests than its budget: {dict(over)} more"

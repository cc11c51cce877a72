"""What the measured functions talk to, on 127.0.0.1, started with `local/`'s own code: moto's
server (a process of its own) with every table, secret, queue and bus of the template, the ETpay
sandbox and the merchant's webhook receiver (threads of the driver, which only waits while a
measured process runs: neither server's CPU lands in a measured process).

Each function's environment is the template's, resolved here as CloudFormation would (`!Ref`s,
`!If`s, parameters), plus what Lambda's runtime sets in every execution environment."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local.demo.webhooks import WebhookReceiver
from local.emulator.aws import FAKE_CREDENTIALS, REGION, child_environment, client, create_queues_and_buses
from local.emulator.template import choose, evaluate_conditions, function_environment, load_template, parameter_values
from local.etpay_sandbox import EtpaySandbox
from local.stack import LOCAL_PARAMETERS, Services

STACK_NAME = "etpay-bench"
FAKE_AWS = {**FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}


def settings(function: str) -> dict[str, Any]:
    """The function's properties over the template's Globals (MemorySize, Timeout, ...)."""
    template = load_template()
    return template.get("Globals", {}).get("Function", {}) | template["Resources"][function]["Properties"]


def lambda_environment(function: str, refs: Mapping[str, str], conditions: Mapping[str, bool]) -> dict[str, str]:
    """The template's variables for `function` (`refs`: what each `!Ref` gives, parameters
    included), over what Lambda sets in every execution environment. Libraries read the latter:
    the X-Ray SDK, for one, builds no sampling clients inside Lambda."""
    variables = {}
    for name, value in function_environment(function).items():
        value = choose(value, conditions)
        if isinstance(value, dict):
            if set(value) != {"Ref"} or value["Ref"] not in refs:
                raise ValueError(f"{function}'s {name} is {value!r}: the bench cannot resolve it")
            value = refs[value["Ref"]]
        variables[name] = str(value).lower() if isinstance(value, bool) else str(value)
    properties = settings(function)
    return (
        child_environment()
        | FAKE_AWS
        | {
            "LAMBDA_TASK_ROOT": "/var/task",
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_LAMBDA_FUNCTION_NAME": f"{STACK_NAME}-{function}",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(properties["MemorySize"]),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(properties["Timeout"]),
            # Tracing is on in the template (Tracing: Active): Lambda gives each invocation a trace
            # header, and the X-Ray SDK sends its segments over UDP to a daemon (none here: they are
            # lost). BenchStack.environment turns it off for the runs compared with the baselines.
            "_X_AMZN_TRACE_ID": "Root=1-67000000-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=1",
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        }
        | variables
    )


class BenchStack:
    def __init__(self, workdir: Path):
        self._workdir = workdir
        self._services: Services | None = None
        self.receiver = WebhookReceiver()
        self.refs: dict[str, str] = {}
        self.conditions: dict[str, bool] = {}
        self.aws_endpoint = ""
        # What the events' makers keep between two events (bench/functions.py).
        self.scratch: dict[str, list[str]] = {}
        self._clients: dict[str, Any] = {}

    def __enter__(self) -> "BenchStack":
        self._workdir.mkdir(parents=True, exist_ok=True)
        self.receiver.start()
        try:
            self._services = Services(0, 0, self._workdir, stack_name=STACK_NAME, sandbox_keep_alive=True).start()
            self.aws_endpoint = self._services.aws.endpoint_url
            template = load_template()
            parameters = parameter_values(template, LOCAL_PARAMETERS | {"MerchantWebhookUrl": self.receiver.url})
            self.conditions = evaluate_conditions(template, parameters)
            queues = create_queues_and_buses(self.aws_endpoint, STACK_NAME, self.conditions)
            self.refs = parameters | self._services.names | queues.refs
            secret = client(self.aws_endpoint, "secretsmanager").get_secret_value(SecretId=self.refs["WebhookSecret"])
            self.receiver.set_secret(secret["SecretString"])
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._services is not None:
            self._services.stop()
            self._services = None
        self.receiver.stop()

    @property
    def sandbox(self) -> EtpaySandbox:
        assert self._services is not None and self._services.sandbox is not None
        return self._services.sandbox

    def environment(self, function: str, traced: bool = True) -> dict[str, str]:
        """The function's environment; `traced`: as the template deploys it by default (Tracing:
        Active), else as a stack deployed with tracing off runs it (Tracing: PassThrough, its
        TRACING_MODE) with Powertools' Tracer disabled (POWERTOOLS_TRACE_DISABLED=true): the X-Ray
        SDK is never loaded (payments.config.tracing). Set either way, whatever the local
        parameters say."""
        environment = lambda_environment(function, self.refs, self.conditions)
        environment.pop("POWERTOOLS_TRACE_DISABLED", None)
        if traced:
            environment["TRACING_MODE"] = "Active"
        else:
            environment |= {"TRACING_MODE": "PassThrough", "POWERTOOLS_TRACE_DISABLED": "true"}
        return environment | {"AWS_ENDPOINT_URL": self.aws_endpoint}

    def client(self, service: str) -> Any:
        """A client of moto's, made once per service."""
        if service not in self._clients:
            self._clients[service] = client(self.aws_endpoint, service)
        return self._clients[service]

"""The whole stack on 127.0.0.1, without Docker: the ETpay sandbox, AWS (moto) with the template's
tables and secret, every function of the template in its own Lambda-like worker processes, and
the template's API routes in front of them.

    with LocalStack() as stack:
        stack.api_url, stack.sandbox, stack.aws_url

Everything it starts it also stops: on stop(), on leaving the `with`, and at interpreter exit.
"""

import atexit
import logging
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from local.api import LocalApi
from local.aws import FAKE_CREDENTIALS, REGION, AwsEmulator, child_environment, physical_names
from local.etpay_sandbox import EtpaySandbox
from local.examples import EXAMPLE_ORDER_ID, EXAMPLE_SESSION_TOKEN, EXAMPLE_SIGNATURE_TOKEN
from local.functions import FunctionPool, FunctionSpec
from local.intrinsics import choose, evaluate_conditions, parameter_values
from local.stack_events import DEFAULT_WEBHOOK_PORT, WEBHOOK_URL_PARAMETER, LocalEvents
from local.template import ROOT, function_environment, load_template, resources_of_type, routes
from local.webhook_receiver import ReceivedWebhook, WebhookReceiver

logger = logging.getLogger("local.stack")

DEFAULT_API_PORT = 3000
DEFAULT_SANDBOX_PORT = 8700
DEFAULT_AWS_PORT = 5055
STACK_NAME = "etpay-local"
# Local stand-ins for the template's parameters (the others keep their defaults).
LOCAL_PARAMETERS = {"Stage": "sandbox", "LogLevel": "INFO"}
# The sandbox's merchant: local test credentials, never real ones.
SANDBOX_MERCHANT_CODE = "local-merchant"
SANDBOX_MERCHANT_API_TOKEN = "local-merchant-api-token"
# Lambda's defaults where the template says nothing.
DEFAULT_TIMEOUT_SECONDS = 3
DEFAULT_MEMORY_MB = 128


class LocalStackError(RuntimeError):
    pass


class LocalStack:
    def __init__(
        self,
        api_port: int = DEFAULT_API_PORT,
        sandbox_port: int = DEFAULT_SANDBOX_PORT,
        aws_port: int = DEFAULT_AWS_PORT,
        log_dir: Path | None = None,
        log_level: str = "INFO",
        python: str = sys.executable,
        parameters: dict[str, str] | None = None,
        webhook_port: int = DEFAULT_WEBHOOK_PORT,
        on_webhook: Callable[[ReceivedWebhook], None] | None = None,
    ):
        self._ports = {"api": api_port, "sandbox": sandbox_port, "aws": aws_port}
        # The merchant's side of the events: its webhook receiver, and the stack's event sources.
        self.events = LocalEvents(webhook_port, on_webhook)
        self._conditions: dict[str, bool] = {}
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="etpay-local-logs-"))
        self._python = python
        self._parameters = {**LOCAL_PARAMETERS, "LogLevel": log_level, **(parameters or {})}
        self.sandbox: EtpaySandbox | None = None
        self.aws: AwsEmulator | None = None
        self.api: LocalApi | None = None
        self._pools: dict[str, FunctionPool] = {}
        self._pools_lock = threading.Lock()
        self._names: dict[str, str] = {}
        self._stopped = False

    # -- what a caller uses --------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return self.api.url

    @property
    def aws_url(self) -> str:
        return self.aws.endpoint_url

    @property
    def webhooks(self) -> WebhookReceiver:
        """The merchant's webhook receiver (MerchantWebhookUrl, unless the parameters set it)."""
        return self.events.receiver

    @property
    def notification_url(self) -> str:
        return f"{self.api_url}/notifications"

    def resource_name(self, logical_id: str) -> str:
        """The local name of a table or secret of the template, e.g. resource_name("OrdersTable")."""
        return self._names[logical_id]

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        """Run any function of the template (the reconciliation too) with `event`, as Lambda would."""
        return self._pool(function).invoke(event)

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> "LocalStack":
        atexit.register(self.stop)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        # moto takes the longest to start: it boots in its own process while the rest starts here.
        self.aws = AwsEmulator(self._ports["aws"], self.log_dir / "aws-emulator.log", self._python)
        with ThreadPoolExecutor(max_workers=1) as background:
            aws_started = background.submit(self.aws.start)
            self.sandbox = _start_sandbox(self._ports["sandbox"])
            # Bound now, so the functions can be told where their own /notifications is.
            self.api = LocalApi(routes(), self.invoke, self._ports["api"], self._parameters["Stage"])
            if WEBHOOK_URL_PARAMETER not in self._parameters:
                self._parameters[WEBHOOK_URL_PARAMETER] = self.events.start_receiver()
            aws_started.result()
        template = load_template()
        self._conditions = evaluate_conditions(template, parameter_values(template, self._parameters))
        self._names = physical_names(STACK_NAME)
        self.aws.create_resources(self._names, self.sandbox.credentials())
        self._names.update(self.events.create_resources(self.aws, STACK_NAME, self._conditions, self._names))
        # events/create_session.json then opens the session events/notification.json was signed for.
        self.sandbox.reserve_session(EXAMPLE_ORDER_ID, EXAMPLE_SESSION_TOKEN, EXAMPLE_SIGNATURE_TOKEN)
        # One warm environment per API function before the first request, started side by side.
        served = sorted({route.function for route in routes()} | set(self.events.functions(self._conditions)))
        with ThreadPoolExecutor(max_workers=len(served) or 1) as starting:
            for started in [starting.submit(self._pool(name).warm) for name in served]:
                started.result()
        self.api.start()
        self.events.start_event_sources(self.invoke, self.aws_url, self._conditions, self._names)
        logger.info("local API on %s", self.api_url)

    def stop(self) -> None:
        """Stop everything started, newest first. Safe to call more than once."""
        if self._stopped:
            return
        # First, while the functions still run: no event source starts an invocation after this.
        self.events.stop()
        self._stopped = True
        if self.api is not None:
            self.api.stop()
        with self._pools_lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.stop()
        if self.sandbox is not None:
            self.sandbox.stop()
        if self.aws is not None:
            self.aws.stop()
        atexit.unregister(self.stop)

    def __enter__(self) -> "LocalStack":
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    # -- functions -----------------------------------------------------------------------------------
    def _pool(self, function: str) -> FunctionPool:
        with self._pools_lock:
            if self._stopped:
                raise LocalStackError("the local stack is stopping")
            pool = self._pools.get(function)
            if pool is None:
                pool = self._pools[function] = FunctionPool(self._function_spec(function), self._python)
            return pool

    def _function_spec(self, function: str) -> FunctionSpec:
        template = load_template()
        resource = template["Resources"].get(function)
        if resource is None or resource["Type"] != "AWS::Serverless::Function":
            raise LocalStackError(f"{function} is not a function of template.yaml")
        settings = {**template.get("Globals", {}).get("Function", {}), **resource["Properties"]}
        timeout = float(settings.get("Timeout", DEFAULT_TIMEOUT_SECONDS))
        memory = int(settings.get("MemorySize", DEFAULT_MEMORY_MB))
        return FunctionSpec(
            name=function,
            code_dir=ROOT / settings["CodeUri"],
            handler=settings["Handler"],
            layer_dirs=tuple(self._layer_dirs(settings.get("Layers") or [])),
            environment=self._function_environment(function, timeout, memory),
            timeout_seconds=timeout,
            memory_mb=memory,
            log_path=self.log_dir / f"{function}.log",
        )

    def _layer_dirs(self, layers: list[Any]) -> list[Path]:
        """Each `!Ref` to a layer of the template is its ContentUri: Lambda puts that on sys.path
        (SAM's python BuildMethod installs it under python/, i.e. /opt/python)."""
        found = []
        own_layers = resources_of_type("AWS::Serverless::LayerVersion")
        for layer in layers:
            name = layer.get("Ref") if isinstance(layer, dict) else None
            if name not in own_layers:
                raise LocalStackError(f"layer {layer!r} is not one of template.yaml's layers")
            found.append(ROOT / own_layers[name]["Properties"]["ContentUri"])
        return found

    def _function_environment(self, function: str, timeout: float, memory: int) -> dict[str, str]:
        # What points the function at this stack, whatever the template says ...
        overrides = {
            "AWS_ENDPOINT_URL": self.aws_url,
            "NOTIFICATION_URL": self.notification_url,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        # ... over the template's own variables, resolved for this machine.
        variables = {
            key: self._resolve(key, value)
            for key, value in function_environment(function).items()
            if key not in overrides
        }
        variables.update(overrides)
        return {
            **child_environment(),
            **FAKE_CREDENTIALS,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            # What Lambda sets in every execution environment.
            "AWS_LAMBDA_FUNCTION_NAME": f"{STACK_NAME}-{function}",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(timeout)),
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            **variables,
        }

    def _resolve(self, key: str, value: Any) -> str:
        value = choose(value, self._conditions)
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, (str, int, float)):
            return str(value)
        reference = value.get("Ref") if isinstance(value, dict) and len(value) == 1 else None
        if reference in self._names:
            return self._names[reference]
        parameters = load_template().get("Parameters", {})
        if reference in parameters:
            return str(self._parameters.get(reference, parameters[reference].get("Default", "")))
        raise LocalStackError(f"cannot resolve {key} locally: {value!r}; give it a local value in local/stack.py")


def _start_sandbox(port: int) -> EtpaySandbox:
    try:
        sandbox = EtpaySandbox(SANDBOX_MERCHANT_CODE, SANDBOX_MERCHANT_API_TOKEN, port=port)
    except OSError:
        if port == 0:
            raise
        logger.warning("port %d is busy; the ETpay sandbox uses a free port", port)
        sandbox = EtpaySandbox(SANDBOX_MERCHANT_CODE, SANDBOX_MERCHANT_API_TOKEN, port=0)
    return sandbox.start()

"""The whole stack on 127.0.0.1, without Docker: the ETpay sandbox, AWS (moto) with the template's
tables and secret, every function of the template in its own Lambda-like worker processes, and
the template's API routes in front of them.

    with LocalStack() as stack:
        stack.api_url, stack.sandbox, stack.aws_url, stack.merchant.url

Everything it starts it also stops: on stop(), on leaving the `with`, and at interpreter exit.
`Services` is the part the functions talk to (AWS and the ETpay sandbox) on its own: the
benchmarks (bench/stack.py) start that and run the functions their own way.
"""

import atexit
import json
import logging
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from local.api import Answer, LocalApi, Observer
from local.aws import FAKE_CREDENTIALS, REGION, AwsEmulator, child_environment, physical_names
from local.etpay_sandbox import EtpaySandbox
from local.examples import EXAMPLE_ORDER_ID, EXAMPLE_SESSION_TOKEN, EXAMPLE_SIGNATURE_TOKEN
from local.functions import FunctionPool, FunctionSpec
from local.intrinsics import choose, evaluate_conditions, parameter_values
from local.merchant import DEFAULT_MERCHANT_PORT, MerchantSite
from local.stack_events import DEFAULT_WEBHOOK_PORT, WEBHOOK_URL_PARAMETER, LocalEvents
from local.template import ROOT, function_environment, load_template, resources_of_type, routes, schedules
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
# ETpay Mexico's merchant codes look like mx_...: the local Mexican merchant's does too.
SANDBOX_MERCHANT_CODES = {"CLP": SANDBOX_MERCHANT_CODE, "MXN": "mx_local-merchant"}
# Lambda's defaults where the template says nothing.
DEFAULT_TIMEOUT_SECONDS = 3
DEFAULT_MEMORY_MB = 128


ENV_JSON = ROOT / "events" / "env.json"


class LocalStackError(RuntimeError):
    pass


class Running(NamedTuple):
    api: LocalApi
    sandbox: EtpaySandbox
    aws: AwsEmulator
    merchant: "MerchantSite"


def _started[T](part: T | None) -> T:
    if part is None:
        raise LocalStackError("the local stack is not started")
    return part


@dataclass(frozen=True)
class PortFallback:
    """A server that asked for a port that was taken, and listens on a free one instead."""

    what: str
    requested: int
    actual: int
    consequence: str

    def __str__(self) -> str:
        return f"port {self.requested} is busy: the {self.what} listens on {self.actual} instead; {self.consequence}"


def _fell_back(what: str, requested: int, actual: int | None, consequence: str) -> list[PortFallback]:
    if actual is None or requested in (0, actual):
        return []
    fallback = PortFallback(what, requested, actual, consequence)
    logger.warning("%s", fallback)
    return [fallback]


def _env_json_endpoint() -> str | None:
    """The AWS endpoint events/env.json gives `sam local invoke --env-vars` (None: no such file)."""
    try:
        return json.loads(ENV_JSON.read_text())["Parameters"]["AWS_ENDPOINT_URL"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


class LocalStack:
    def __init__(
        self,
        api_port: int = DEFAULT_API_PORT,
        sandbox_port: int = DEFAULT_SANDBOX_PORT,
        aws_port: int = DEFAULT_AWS_PORT,
        merchant_port: int = DEFAULT_MERCHANT_PORT,
        log_dir: Path | None = None,
        log_level: str = "INFO",
        python: str = sys.executable,
        parameters: dict[str, str] | None = None,
        on_request: Observer | None = None,
        webhook_port: int = DEFAULT_WEBHOOK_PORT,
        on_webhook: Callable[[ReceivedWebhook], None] | None = None,
    ):
        # Sees every request the API answers over HTTP (the live terminal of `make local`).
        self.on_request = on_request
        # Told of each invocation an event source (a queue, the table's stream) made, and its result.
        self.on_invocation: Callable[[str, Any], None] | None = None
        self._ports = {"api": api_port, "sandbox": sandbox_port, "aws": aws_port, "merchant": merchant_port}
        # The merchant's side of the events: its webhook receiver, and the stack's event sources.
        self.events = LocalEvents(webhook_port, on_webhook)
        self._conditions: dict[str, bool] = {}
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="etpay-local-logs-"))
        self._python = python
        self._parameters = {**LOCAL_PARAMETERS, "LogLevel": log_level, **(parameters or {})}
        self.sandbox: EtpaySandbox | None = None
        self.aws: AwsEmulator | None = None
        self.api: LocalApi | None = None
        self.merchant: MerchantSite | None = None
        # Every server that had to take another port than the one asked for (each one is warned about).
        self.port_fallbacks: list[PortFallback] = []
        self._services: Services | None = None
        self._pools: dict[str, FunctionPool] = {}
        self._pools_lock = threading.Lock()
        self._names: dict[str, str] = {}
        self._stopped = False

    # -- what a caller uses --------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return _started(self.api).url

    @property
    def aws_url(self) -> str:
        return _started(self.aws).endpoint_url

    @property
    def sandbox_url(self) -> str:
        return _started(self.sandbox).base_url

    @property
    def webhooks(self) -> WebhookReceiver:
        """The merchant's webhook receiver (MerchantWebhookUrl, unless the parameters set it)."""
        return self.events.receiver

    def running(self) -> "Running":
        """Its parts, once started (LocalStackError before)."""
        return Running(_started(self.api), _started(self.sandbox), _started(self.aws), _started(self.merchant))

    @property
    def currency(self) -> str:
        """The template's Currency as this stack runs it: CLP (ETpay Chile) or MXN (ETpay Mexico)."""
        return self.parameter("Currency")

    @property
    def notification_url(self) -> str:
        return f"{self.api_url}/notifications"

    def resource_name(self, logical_id: str) -> str:
        """The local name of a table or secret of the template, e.g. resource_name("OrdersTable")."""
        return self._names[logical_id]

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        """Run any function of the template (the reconciliation too) with `event`, as Lambda would."""
        return self._pool(function).invoke(event)

    def _invoke_observed(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        result = self.invoke(function, event)
        if self.on_invocation is not None:
            self.on_invocation(function, result)
        return result

    def call(self, method: str, path: str, body: bytes = b"") -> Answer:
        """What the API answers a request made from this process, without HTTP and unobserved."""
        return _started(self.api).call(method, path, body)

    def schedules(self) -> dict[str, str]:
        """Each function the template runs on a schedule, and its ScheduleExpression resolved here."""
        return {function: self._resolve(function, expression) for function, expression in schedules().items()}

    def parameter(self, name: str) -> str:
        """A parameter of the template as this stack resolves it (a local value, else its default)."""
        return str(self._parameters.get(name, load_template()["Parameters"][name].get("Default", "")))

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
        # Bound first, so the functions can be told where their own /notifications is.
        self.api = LocalApi(
            routes(), self.invoke, self._ports["api"], self._parameters["Stage"], observer=self.on_request
        )
        self.port_fallbacks = _fell_back(
            "local API",
            self._ports["api"],
            self.api.port,
            "the README's examples say 3000: use the URLs and commands `python -m local` prints",
        )
        # The shop's own pages, where ETpay's funnel sends the payer back (they read this API).
        self.merchant = MerchantSite(self.api.url, self._ports["merchant"])
        self.port_fallbacks += _fell_back(
            "merchant page",
            self._ports["merchant"],
            self.merchant.port,
            "the demo's orders are sent back to it there (their return URLs are made from its real port)",
        )
        # The merchant's webhook receiver, unless the parameters point MerchantWebhookUrl elsewhere.
        if WEBHOOK_URL_PARAMETER not in self._parameters:
            self._parameters[WEBHOOK_URL_PARAMETER] = self.events.start_receiver()
            self.port_fallbacks += _fell_back(
                "merchant webhook receiver",
                self.events.receiver.requested_port,
                self.events.receiver.port,
                "MerchantWebhookUrl follows it (the functions are told its real port)",
            )
        # The sandbox is a merchant of the country the stack's Currency parameter serves.
        currency = self.parameter("Currency")
        self._services = Services(
            self._ports["aws"],
            self._ports["sandbox"],
            self.log_dir,
            self._python,
            merchant_code=SANDBOX_MERCHANT_CODES.get(currency, SANDBOX_MERCHANT_CODE),
            currency=currency,
        )
        self._services.start()
        self.port_fallbacks += self._services.port_fallbacks
        self.aws, self.sandbox = self._services.aws, self._services.sandbox
        self._names = self._services.names
        # The template's Conditions for the local parameters: which queues, buses and event
        # sources exist here (the webhook ones only with a MerchantWebhookUrl).
        template = load_template()
        self._conditions = evaluate_conditions(template, parameter_values(template, self._parameters))
        self._names.update(self.events.create_resources(self.aws, STACK_NAME, self._conditions, self._names))
        # events/create_session.json then opens the session events/notification.json was signed for.
        _started(self.sandbox).reserve_session(EXAMPLE_ORDER_ID, EXAMPLE_SESSION_TOKEN, EXAMPLE_SIGNATURE_TOKEN)
        # One warm environment per function before the first request or event, started side by side.
        served = sorted({route.function for route in routes()} | set(self.events.functions(self._conditions)))
        with ThreadPoolExecutor(max_workers=len(served) or 1) as starting:
            for started in [starting.submit(self._pool(name).warm) for name in served]:
                started.result()
        self.api.start()
        self.merchant.start()
        self.events.start_event_sources(self._invoke_observed, self.aws_url, self._conditions, self._names)
        logger.info("local API on %s", self.api_url)

    def stop(self) -> None:
        """Stop everything started, newest first. Safe to call more than once."""
        if self._stopped:
            return
        # First, while the functions still run: no event source starts an invocation after this.
        self.events.stop()
        self._stopped = True
        if self.merchant is not None:
            self.merchant.stop()
        if self.api is not None:
            self.api.stop()
        with self._pools_lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.stop()
        if self._services is not None:
            self._services.stop()
        atexit.unregister(self.stop)

    @classmethod
    def on_free_ports(cls, log_dir: Path, **options: Any) -> "LocalStack":
        """A stack whose every server takes a free port of the system's choosing (tests, benchmarks):
        several can run side by side, and next to `make local`."""
        return cls(api_port=0, sandbox_port=0, aws_port=0, merchant_port=0, webhook_port=0, log_dir=log_dir, **options)

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
        if isinstance(reference, str) and reference in load_template().get("Parameters", {}):
            return self.parameter(reference)
        raise LocalStackError(f"cannot resolve {key} locally: {value!r}; give it a local value in local/stack.py")


class Services:
    """What the functions talk to: AWS (moto's server, in a process of its own) holding every table
    and secret of the template, and the ETpay sandbox (served by a thread of this process), whose
    credentials are the secret's value. start() starts both side by side; stop() stops both."""

    def __init__(
        self,
        aws_port: int,
        sandbox_port: int,
        log_dir: Path,
        python: str = sys.executable,
        stack_name: str = STACK_NAME,
        merchant_code: str = SANDBOX_MERCHANT_CODE,
        merchant_api_token: str = SANDBOX_MERCHANT_API_TOKEN,
        sandbox_keep_alive: bool = False,
        currency: str = "CLP",
    ):
        self.aws = AwsEmulator(aws_port, Path(log_dir) / "aws-emulator.log", python)
        self._sandbox_port = sandbox_port
        self._merchant = (merchant_code, merchant_api_token)
        self._currency = currency
        self._keep_alive = sandbox_keep_alive
        self.sandbox: EtpaySandbox | None = None
        # What `!Ref` of each table and secret gives here (names are per stack, as in AWS).
        self.names = physical_names(stack_name)
        self.port_fallbacks: list[PortFallback] = []

    def start(self) -> "Services":
        try:
            # moto takes the longest to start: it boots in its own process while the sandbox starts here.
            with ThreadPoolExecutor(max_workers=1) as background:
                aws_started = background.submit(self.aws.start)
                try:
                    self.sandbox = start_sandbox(
                        self._sandbox_port, *self._merchant, keep_alive=self._keep_alive, currency=self._currency
                    )
                finally:
                    aws_started.result()
            self.aws.create_resources(self.names, self.sandbox.credentials())
        except BaseException:
            self.stop()
            raise
        self.port_fallbacks = _fell_back(
            "ETpay sandbox",
            self._sandbox_port,
            self.sandbox.port,
            "the functions follow (the ETpay secret holds its URL); the README's examples say 8700",
        ) + _fell_back("AWS emulator (moto)", self.aws.requested_port, self.aws.port, self._aws_consequence())
        return self

    def _aws_consequence(self) -> str:
        endpoint = _env_json_endpoint()
        if endpoint and urlsplit(endpoint).port == self.aws.requested_port:
            return (
                f"events/env.json still points at {endpoint} (AWS_ENDPOINT_URL), so "
                f"`sam local invoke --env-vars events/env.json` will not reach it; free port "
                f"{self.aws.requested_port} and restart, or edit the copy you pass to sam"
            )
        return "the functions follow (they are given its URL)"

    def stop(self) -> None:
        """Safe to call more than once."""
        if self.sandbox is not None:
            self.sandbox.stop()
        self.aws.stop()

    def __enter__(self) -> "Services":
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()


def start_sandbox(
    port: int,
    merchant_code: str = SANDBOX_MERCHANT_CODE,
    merchant_api_token: str = SANDBOX_MERCHANT_API_TOKEN,
    keep_alive: bool = False,
    currency: str = "CLP",
) -> EtpaySandbox:
    """The ETpay sandbox on `port`, or on a free port when that one is taken (Services warns)."""
    try:
        sandbox = EtpaySandbox(merchant_code, merchant_api_token, port=port, keep_alive=keep_alive, currency=currency)
    except OSError:
        if port == 0:
            raise
        sandbox = EtpaySandbox(merchant_code, merchant_api_token, port=0, keep_alive=keep_alive, currency=currency)
    return sandbox.start()

"""The whole local stack on 127.0.0.1, without Docker: the emulator (`local/emulator/`: AWS with
the template's resources, every function in Lambda-like worker processes, the API routes, the
event sources), the ETpay sandbox the functions pay through (`local/etpay_sandbox/`), and the
merchant's side (`local/demo/`: the page ETpay sends the payer back to, the webhook receiver).

    with LocalStack.on_free_ports(log_dir) as stack:
        stack.api_url, stack.sandbox, stack.aws_url, stack.merchant.url, stack.webhooks

Everything it starts it also stops: on stop(), on leaving the `with`, and at interpreter exit.
`request_stop()` (safe in a signal handler) makes a start() under way stop at its next step and
stop() everything it had started, so a Ctrl-C at any moment leaves nothing behind.
`Services` is the part the functions talk to (AWS and the ETpay sandbox) on its own: the
benchmarks (bench/stack.py) start that and run the functions their own way.
"""

import atexit
import dataclasses
import json
import logging
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from local.demo.merchant import DEFAULT_MERCHANT_PORT, MerchantSite
from local.demo.webhooks import ReceivedWebhook, WebhookReceiver
from local.emulator.api import Answer, LocalApi, Observer
from local.emulator.aws import (
    FAKE_CREDENTIALS,
    REGION,
    AwsEmulator,
    Created,
    child_environment,
    client,
    create_queues_and_buses,
    create_secrets,
    create_tables,
    physical_names,
)
from local.emulator.dynamodb_local import DynamoDBLocal
from local.emulator.event_sources import EventSources, event_source_mappings
from local.emulator.functions import FunctionPool, FunctionSpec
from local.emulator.processes import SLICE_SECONDS
from local.emulator.template import (
    ROOT,
    choose,
    evaluate_conditions,
    exists,
    function_environment,
    load_template,
    parameter_values,
    resources_of_type,
    routes,
    schedules,
)
from local.etpay_sandbox import EtpaySandbox
from local.examples import EXAMPLE_ORDER_ID, EXAMPLE_SESSION_TOKEN, EXAMPLE_SIGNATURE_TOKEN

logger = logging.getLogger("local.stack")

DEFAULT_API_PORT = 3000
DEFAULT_SANDBOX_PORT = 8700
DEFAULT_AWS_PORT = 5055
DEFAULT_WEBHOOK_PORT = 8900
STACK_NAME = "etpay-local"
# Local stand-ins for the template's parameters (the others keep their defaults).
LOCAL_PARAMETERS = {"Stage": "sandbox", "LogLevel": "INFO"}
WEBHOOK_URL_PARAMETER = "MerchantWebhookUrl"
WEBHOOK_SECRET = "WebhookSecret"
# The sandbox's merchant: local test credentials, never real ones. ETpay Mexico's codes look like mx_...
SANDBOX_MERCHANT_CODE = "local-merchant"
SANDBOX_MERCHANT_API_TOKEN = "local-merchant-api-token"
SANDBOX_MERCHANT_CODES = {"CLP": SANDBOX_MERCHANT_CODE, "MXN": "mx_local-merchant"}
# Lambda's defaults where the template says nothing.
DEFAULT_TIMEOUT_SECONDS = 3
DEFAULT_MEMORY_MB = 128
ENV_JSON = ROOT / "events" / "env.json"
# `make local PERSIST=1`: DynamoDB Local's files (the tables, their streams) live here.
PERSIST_DIR = ROOT / ".local" / "state"


class LocalStackError(RuntimeError):
    pass


class Interrupted(LocalStackError):
    """request_stop() came while the stack was starting: everything started so far is stopped."""


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
        endpoint = json.loads(ENV_JSON.read_text())["Parameters"]["AWS_ENDPOINT_URL"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return endpoint if isinstance(endpoint, str) else None


def another_stack_on(port: int) -> bool:
    """Whether a local stack's API (another `make local`) answers on this port."""
    import urllib3

    try:
        answer = urllib3.request("GET", f"http://127.0.0.1:{port}/", timeout=1.0, retries=False)
    except urllib3.exceptions.HTTPError:
        return False
    return str(answer.headers.get("Server", "")).startswith("LocalApiGateway")


class Services:
    """What the functions talk to: AWS (moto's server, in a process of its own; with `tables_in`
    DynamoDB Local keeps the tables there) holding every table and secret of the template, and the
    ETpay sandbox (served by a thread of this process), whose credentials are the secret's value."""

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
        tables_in: Path | None = None,
        stopping: Callable[[], bool] = lambda: False,
    ):
        self.aws = AwsEmulator(aws_port, Path(log_dir) / "aws-emulator.log", python)
        self.tables = DynamoDBLocal(tables_in) if tables_in is not None else None
        self._sandbox_port = sandbox_port
        self._sandbox_options: dict[str, Any] = {"keep_alive": sandbox_keep_alive, "currency": currency}
        self._merchant = (merchant_code, merchant_api_token)
        self._stopping = stopping
        self.sandbox: EtpaySandbox | None = None
        self.names = physical_names(stack_name)  # what `!Ref` of each table and secret gives here
        self.created = Created()
        self.port_fallbacks: list[PortFallback] = []

    @property
    def tables_url(self) -> str:
        return self.tables.endpoint if self.tables is not None else self.aws.endpoint_url

    def start(self) -> "Services":
        try:
            # moto (and the JVM) take the longest: they boot in their own processes meanwhile.
            with ThreadPoolExecutor(max_workers=2) as background:
                started: list[Future[object]] = [background.submit(self.aws.start, self._stopping)]
                if self.tables is not None:
                    started.append(background.submit(self.tables.start, self._stopping))
                try:
                    self.sandbox = _start_sandbox(self._sandbox_port, *self._merchant, **self._sandbox_options)
                finally:
                    for future in started:
                        future.result()
            if self._stopping():
                raise Interrupted("stopped while starting")
            create_tables(self.tables_url, self.names, self.created)
            create_secrets(self.aws.endpoint_url, self.names, self.sandbox.credentials())
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
        if self.tables is not None:
            self.tables.stop()
        self.aws.stop()

    def __enter__(self) -> "Services":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _start_sandbox(port: int, code: str, token: str, keep_alive: bool, currency: str) -> EtpaySandbox:
    """The ETpay sandbox on `port`, or on a free port when that one is taken (Services warns)."""
    try:
        sandbox = EtpaySandbox(code, token, port=port, keep_alive=keep_alive, currency=currency)
    except OSError:
        if port == 0:
            raise
        sandbox = EtpaySandbox(code, token, port=0, keep_alive=keep_alive, currency=currency)
    return sandbox.start()


class StackEvents:
    """The merchant's webhook receiver and the template's event source mappings, polled as Lambda would."""

    def __init__(self, receiver: WebhookReceiver):
        self.receiver = receiver
        self.sources: EventSources | None = None

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Until every stream is read to its end and no queue has a visible message or an invocation under way."""
        return self.sources is None or self.sources.wait_idle(timeout)


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
        persist: Path | None = None,
        on_stage: Callable[[str], None] | None = None,
    ):
        # Sees every request the API answers over HTTP (the live terminal of `make local`).
        self.on_request = on_request
        # Told of each invocation an event source (a queue, the table's stream) made, and its result.
        self.on_invocation: Callable[[str, Any], None] | None = None
        # Told of each step of start() as it is done (`python -m local` prints them).
        self.on_stage = on_stage or (lambda _: None)
        self._ports = {"api": api_port, "sandbox": sandbox_port, "aws": aws_port, "merchant": merchant_port}
        self.events = StackEvents(WebhookReceiver(webhook_port, on_webhook, clock_offset=lambda: self.clock_offset))
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="etpay-local-logs-"))
        self._python = python
        self._parameters = LOCAL_PARAMETERS | {"LogLevel": log_level} | (parameters or {})
        # None: every table in moto's memory, gone at stop; else DynamoDB Local's files there.
        self.persist = persist
        # Seconds the functions' clock runs ahead of this machine's (move_clock()).
        self.clock_offset = 0.0
        self.sandbox: EtpaySandbox | None = None
        self.aws: AwsEmulator | None = None
        self.api: LocalApi | None = None
        self.merchant: MerchantSite | None = None
        # Every server that had to take another port than the one asked for (each one is warned about).
        self.port_fallbacks: list[PortFallback] = []
        # Tables a previous run left in the persisted state (empty: this run started clean).
        self.kept_tables: list[str] = []
        self._services: Services | None = None
        self._pools: dict[str, FunctionPool] = {}
        self._lock = threading.Lock()
        self._names: dict[str, str] = {}
        self._conditions: dict[str, bool] = {}
        self._stop_requested = threading.Event()
        self._stopped = False
        self._pools_closed = False

    # -- what it serves ---------------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return _started(self.api).url

    @property
    def aws_url(self) -> str:
        return _started(self.aws).endpoint_url

    @property
    def tables_url(self) -> str:
        """Where the tables are: the AWS emulator, or DynamoDB Local when they persist."""
        return _started(self._services).tables_url

    @property
    def sandbox_url(self) -> str:
        return _started(self.sandbox).base_url

    @property
    def webhooks(self) -> WebhookReceiver:
        """The merchant's webhook receiver (MerchantWebhookUrl, unless the parameters set it)."""
        return self.events.receiver

    @property
    def currency(self) -> str:
        """The template's Currency as this stack runs it: CLP (ETpay Chile) or MXN (ETpay Mexico)."""
        return self.parameter("Currency")

    @property
    def notification_url(self) -> str:
        return f"{self.api_url}/notifications"

    def resource_name(self, logical_id: str) -> str:
        """The local name of a resource of the template, e.g. resource_name("OrdersTable")."""
        return self._names[logical_id]

    def parameter(self, name: str) -> str:
        """A parameter of the template as this stack resolves it (a local value, else its default)."""
        return str(self._parameters.get(name, load_template()["Parameters"][name].get("Default", "")))

    def schedules(self) -> dict[str, str]:
        """Each function the template runs on a schedule, and its ScheduleExpression resolved here."""
        return {function: self._resolve(function, expression) for function, expression in schedules().items()}

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """Run any function of the template (the reconciliation too) with `event`, as Lambda would."""
        return self._pool(function).invoke(event)

    def call(self, method: str, path: str, body: bytes = b"") -> Answer:
        """What the API answers a request made from this process, without HTTP and unobserved."""
        return _started(self.api).call(method, path, body)

    def move_clock(self, seconds: float) -> None:
        """Every function's clock runs `seconds` further ahead from now on (a session expiring, a
        status check coming due), and so does the merchant's receiver checking webhook timestamps."""
        self.clock_offset += seconds

    # -- lifecycle --------------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Stop at the next step of a start() under way (safe from a signal handler); stop() still ends it."""
        self._stop_requested.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested.is_set()

    def _check(self) -> None:
        if self._stop_requested.is_set():
            raise Interrupted("stopped while starting")

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
        self.api = LocalApi(routes(), self.invoke, self._ports["api"], self._parameters["Stage"], self.on_request)
        consequence = "the README's examples say 3000: use the URLs and commands `python -m local` prints"
        if self.api.port != self.api.requested_port != 0 and another_stack_on(self.api.requested_port):
            consequence = (
                f"another local stack is probably running (a `make local` in another terminal? its API answers "
                f"on {self.api.requested_port}), so every port of this one may move; " + consequence
            )
        self.port_fallbacks = _fell_back("local API", self._ports["api"], self.api.port, consequence)
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
            receiver = self.events.receiver.start()
            self._parameters[WEBHOOK_URL_PARAMETER] = receiver.url
            self.port_fallbacks += _fell_back(
                "merchant webhook receiver",
                receiver.requested_port,
                receiver.port,
                "MerchantWebhookUrl follows it (the functions are told its real port)",
            )
        self._check()
        currency = self.parameter("Currency")
        self._services = Services(
            self._ports["aws"],
            self._ports["sandbox"],
            self.log_dir,
            self._python,
            merchant_code=SANDBOX_MERCHANT_CODES.get(currency, SANDBOX_MERCHANT_CODE),
            currency=currency,
            tables_in=self.persist,
            stopping=self._stop_requested.is_set,
        )
        self._services.start()
        self.port_fallbacks += self._services.port_fallbacks
        self.aws, self.sandbox = self._services.aws, self._services.sandbox
        self._names = dict(self._services.names)
        self.kept_tables = list(self._services.created.kept_tables)
        tables = f"; tables in DynamoDB Local ({self.persist})" if self.persist is not None else ""
        self.on_stage(f"AWS emulator (moto) on {self.aws_url}{tables}; ETpay sandbox on {self.sandbox_url}")
        self._check()
        # The template's Conditions for the local parameters: which queues, buses and event
        # sources exist here (the webhook ones only with a MerchantWebhookUrl).
        template = load_template()
        self._conditions = evaluate_conditions(template, parameter_values(template, self._parameters))
        self._names |= create_queues_and_buses(self.aws_url, STACK_NAME, self._conditions).refs
        secret = template["Resources"].get(WEBHOOK_SECRET)
        if secret is not None and exists(secret, self._conditions):
            # The receiver learns the secret the stack generated, as the merchant would from its ARN.
            value = client(self.aws_url, "secretsmanager").get_secret_value(SecretId=self._names[WEBHOOK_SECRET])
            self.events.receiver.set_secret(value["SecretString"])
        # events/create_session.json then opens the session events/notification.json was signed for.
        _started(self.sandbox).reserve_session(EXAMPLE_ORDER_ID, EXAMPLE_SESSION_TOKEN, EXAMPLE_SIGNATURE_TOKEN)
        self.on_stage("the template's tables, secrets, queues and buses created")
        self._check()
        # One warm environment per function before the first request or event, started side by side.
        mappings = event_source_mappings(template, self._conditions)
        served = sorted({route.function for route in routes()} | {mapping.function for mapping in mappings})
        with ThreadPoolExecutor(max_workers=len(served) or 1) as starting:
            warming = [starting.submit(self._pool(name).warm) for name in served]
            while not all(future.done() for future in warming):
                if self._stop_requested.wait(SLICE_SECONDS):
                    self._stop_pools()  # ends the starts under way: their threads then return
            self._check()
            for future in warming:
                future.result()
        self.on_stage(f"{len(served)} functions warm, one execution environment each")
        self.api.start()
        self.merchant.start()
        self._start_event_sources(mappings)
        logger.info("local API on %s", self.api_url)

    def _start_event_sources(self, mappings: list[Any]) -> None:
        services = _started(self._services)
        if self.kept_tables:
            # A stream's records before this run were handed over by the last one: read on from now.
            mappings = [
                dataclasses.replace(m, starting_position="LATEST") if m.kind == "dynamodb" else m for m in mappings
            ]
        tables = {logical_id: self._names[logical_id] for logical_id in resources_of_type("AWS::DynamoDB::Table")}
        queues = {
            logical_id: self._names[logical_id]
            for logical_id in resources_of_type("AWS::SQS::Queue")
            if logical_id in self._names
        }

        def clients(service: str) -> Any:
            return client(services.tables_url if service.startswith("dynamodb") else self.aws_url, service)

        self.events.sources = EventSources(mappings, self._invoke_observed, clients, tables, queues).start()

    def _invoke_observed(self, function: str, event: dict[str, Any]) -> Any:
        result = self.invoke(function, event)
        if self.on_invocation is not None:
            self.on_invocation(function, result)
        return result

    def stop(self) -> None:
        """Stop everything started, newest first. Safe to call more than once."""
        self._stop_requested.set()
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        # First, while the functions still run: no event source starts an invocation after this.
        if self.events.sources is not None:
            self.events.sources.stop()
        self.events.receiver.stop()
        for server in (self.merchant, self.api):
            if server is not None:
                server.stop()
        self._stop_pools()
        if self._services is not None:
            self._services.stop()
        atexit.unregister(self.stop)

    def _stop_pools(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
            self._pools_closed = True
        for pool in pools:
            pool.stop()

    @classmethod
    def on_free_ports(cls, log_dir: Path, **options: Any) -> "LocalStack":
        """A stack whose every server takes a free port of the system's choosing (tests, benchmarks):
        several can run side by side, and next to `make local`."""
        return cls(api_port=0, sandbox_port=0, aws_port=0, merchant_port=0, webhook_port=0, log_dir=log_dir, **options)

    def __enter__(self) -> "LocalStack":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- functions --------------------------------------------------------------------------------------
    def _pool(self, function: str) -> FunctionPool:
        with self._lock:
            if self._stopped or self._pools_closed:
                raise LocalStackError("the local stack is stopping")
            pool = self._pools.get(function)
            if pool is None:
                pool = FunctionPool(self._function_spec(function), self._python, clock_offset=lambda: self.clock_offset)
                self._pools[function] = pool
            return pool

    def _function_spec(self, function: str) -> FunctionSpec:
        template = load_template()
        resource = template["Resources"].get(function)
        if resource is None or resource["Type"] != "AWS::Serverless::Function":
            raise LocalStackError(f"{function} is not a function of template.yaml")
        settings = template.get("Globals", {}).get("Function", {}) | resource["Properties"]
        timeout = float(settings.get("Timeout", DEFAULT_TIMEOUT_SECONDS))
        memory = int(settings.get("MemorySize", DEFAULT_MEMORY_MB))
        # Each `!Ref` to a layer of the template is its ContentUri: Lambda puts that on sys.path.
        layers = resources_of_type("AWS::Serverless::LayerVersion")
        layer_dirs = []
        for layer in settings.get("Layers") or []:
            name = layer.get("Ref") if isinstance(layer, dict) else None
            if name not in layers:
                raise LocalStackError(f"layer {layer!r} is not one of template.yaml's layers")
            layer_dirs.append(ROOT / layers[name]["Properties"]["ContentUri"])
        return FunctionSpec(
            name=function,
            code_dir=ROOT / settings["CodeUri"],
            handler=settings["Handler"],
            layer_dirs=tuple(layer_dirs),
            environment=self._function_environment(function, timeout, memory),
            timeout_seconds=timeout,
            memory_mb=memory,
            log_path=self.log_dir / f"{function}.log",
        )

    def _function_environment(self, function: str, timeout: float, memory: int) -> dict[str, str]:
        # What points the function at this stack, whatever the template says ...
        overrides = {
            "AWS_ENDPOINT_URL": self.aws_url,
            "NOTIFICATION_URL": self.notification_url,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        if self.persist is not None:
            overrides["AWS_ENDPOINT_URL_DYNAMODB"] = self.tables_url
        # ... over the template's own variables, resolved for this machine.
        variables = {
            key: self._resolve(key, value)
            for key, value in function_environment(function).items()
            if key not in overrides
        }
        return (
            child_environment()
            | FAKE_CREDENTIALS
            | {
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                # What Lambda sets in every execution environment.
                "AWS_LAMBDA_FUNCTION_NAME": f"{STACK_NAME}-{function}",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(timeout)),
                "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            }
            | variables
            | overrides
        )

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


def _started[T](part: T | None) -> T:
    if part is None:
        raise LocalStackError("the local stack is not started")
    return part

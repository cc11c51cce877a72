"""The local stand-ins the benchmark talks to: `local/`'s own start-up code (local.stack.Services):
moto's server in a process of its own with the template's tables and secret, and the ETpay
sandbox, served by a thread of the benchmark's driver (bench/run.py).

Neither server runs in a measured process: every measurement is a child process of the driver
(cold_runner.py, warm_worker.py, etpay_client_worker.py), and the driver itself only waits for
it, so the sandbox's CPU never lands in a measured process either."""

import os
from pathlib import Path

from local.emulator.aws import FAKE_CREDENTIALS, REGION, create_queues_and_buses, physical_names
from local.emulator.template import evaluate_conditions, load_template, parameter_values
from local.stack import LOCAL_PARAMETERS, Services

STACK_NAME = "etpay-bench"
NAMES = physical_names(STACK_NAME)
TABLE_NAME = NAMES["OrdersTable"]
SECRET_ID = NAMES["EtpaySecret"]
# The secret local/ creates with the example key (ours and the baselines read it, as deployed).
NOTIFICATION_KEY_SECRET_ID = NAMES["NotificationKeySecret"]
MERCHANT_CODE = "bench-merchant"
MERCHANT_API_TOKEN = "bench-merchant-api-token-0123456789"  # noqa: S105 - a local benchmark credential
FAKE_AWS = {**FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}


class BenchStack:
    """moto server + ETpay sandbox on 127.0.0.1, with the template's table and credentials secret."""

    def __init__(self, workdir: Path):
        self._workdir = workdir
        self._services: Services | None = None
        self.aws_endpoint = ""
        self.etpay_credentials: dict[str, str] = {}
        self.reconcile_queue_url = ""

    def __enter__(self) -> "BenchStack":
        self._workdir.mkdir(parents=True, exist_ok=True)
        self._services = Services(
            aws_port=0,
            sandbox_port=0,
            log_dir=self._workdir,
            stack_name=STACK_NAME,
            merchant_code=MERCHANT_CODE,
            merchant_api_token=MERCHANT_API_TOKEN,
            # ETpay's real API is HTTPS with keep-alive: a client that pools connections (ours)
            # reuses them, one that opens a connection per call (etpay-sdk) does not.
            sandbox_keep_alive=True,
        ).start()
        self.aws_endpoint = self._services.aws.endpoint_url
        self.etpay_credentials = self._services.sandbox.credentials()
        # The template's queues too: a scheduled run hands the sessions it finds due to the check queue.
        template = load_template()
        conditions = evaluate_conditions(template, parameter_values(template, LOCAL_PARAMETERS))
        queues = create_queues_and_buses(self._services.aws, STACK_NAME, conditions)
        self.reconcile_queue_url = queues.refs["ReconcileQueue"]
        # The driver's own boto3 calls (seeding sessions, reading items back) go to moto too.
        os.environ.update(FAKE_AWS, AWS_ENDPOINT_URL=self.aws_endpoint)
        return self

    def __exit__(self, *_) -> None:
        self.stop()

    def stop(self) -> None:
        if self._services is not None:
            self._services.stop()
            self._services = None

    def function_environment(self, service: str) -> dict[str, str]:
        """What template.yaml gives a function, pointed at the local stand-ins. Tracing is off: there
        is no X-Ray daemon here (Powertools turns it off outside Lambda anyway)."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **FAKE_AWS,
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "TABLE_NAME": TABLE_NAME,
            "ETPAY_SECRET_ID": SECRET_ID,
            "NOTIFICATION_KEY_SECRET_ID": NOTIFICATION_KEY_SECRET_ID,
            "STAGE": "sandbox",
            "CURRENCY": "CLP",
            "MAX_ORDER_AMOUNT": "7000000",
            "NOTIFICATION_URL": "https://example.invalid/notifications",
            "POWERTOOLS_SERVICE_NAME": service,
            "POWERTOOLS_METRICS_NAMESPACE": "EtpayPayments",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "RECONCILE_AFTER_SECONDS": "900",
            "RECONCILE_BATCH_SIZE": "50",
            "RECONCILE_QUEUE_URL": self.reconcile_queue_url,
            # Read by the servers' processes; the -I runs get -B on the command line instead.
            "PYTHONDONTWRITEBYTECODE": "1",
        }

"""Run by test_trace_hygiene.py in a process of its own, with X-Ray tracing on as in Lambda
(LAMBDA_TASK_ROOT and a sampled _X_AMZN_TRACE_ID set by the test; the root conftest, which turns
tracing off, is never imported here).

It captures every trace entity the X-Ray SDK would send to the daemon while the main flows run
(a session opened with payer data, its notification, a re-delivery, a wrong key, GET /orders, a
scheduled reconciliation; then, as an MXN stack, a session carrying the payer's phone, a phone
refused, and its payment), and prints one JSON object: the entities, and the values no trace may
carry.
"""

import importlib.util
import json
import os
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "layers" / "etpay"), str(ROOT)]

import boto3  # noqa: E402
from aws_xray_sdk.core import xray_recorder  # type: ignore[import-untyped]  # noqa: E402  # no types-aws-xray-sdk installed
from moto import mock_aws  # noqa: E402

from local.emulator.api import api_gateway_event  # noqa: E402
from local.emulator.template import table_definitions  # noqa: E402
from local.etpay_sandbox import EtpaySandbox  # noqa: E402
from payments.config import wiring  # noqa: E402

TABLE_NAME = "etpay-orders-trace"
SECRET_ID = "etpay/credentials-trace"
KEY_SECRET_ID = "etpay/notification-key-trace"
NOTIFICATION_KEY = "TraceNotificationKey0123456789abcdefghijklmnopqr"
MERCHANT_API_TOKEN = "trace-merchant-api-token-0123456789"
PAYER_RUT = "123456785"
PAYER_PHONE = "5598765432"
DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"


class CapturingEmitter:
    """Stands in for the UDP emitter: what would have gone to the X-Ray daemon, serialized."""

    def __init__(self) -> None:
        self.entities: list[str] = []

    def send_entity(self, entity) -> None:
        self.entities.append(entity.serialize())

    def set_daemon_address(self, address) -> None:
        pass


class Context:
    function_name = "trace-function"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:trace-function"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 100_000


def handler(function: str):
    spec = importlib.util.spec_from_file_location(f"{function}_app", ROOT / "functions" / function / "app.py")
    assert spec is not None and spec.loader is not None, function
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


def main() -> int:
    emitter = CapturingEmitter()
    # Every closed subsegment is sent at once: nothing waits for a batch that never fills.
    xray_recorder.configure(emitter=emitter, context_missing="LOG_ERROR", streaming_threshold=0)
    forbidden = {
        "merchant_api_token": MERCHANT_API_TOKEN,
        "notification key": NOTIFICATION_KEY,
        "user_rut": PAYER_RUT,
        "customer_phone": PAYER_PHONE,
    }
    with mock_aws(), EtpaySandbox("trace-merchant", MERCHANT_API_TOKEN, port=0) as sandbox:
        boto3.client("dynamodb").create_table(TableName=TABLE_NAME, **table_definitions()["OrdersTable"])
        secrets = boto3.client("secretsmanager")
        secrets.create_secret(Name=SECRET_ID, SecretString=json.dumps(sandbox.credentials()))
        secrets.create_secret(Name=KEY_SECRET_ID, SecretString=NOTIFICATION_KEY)
        payments, notifications, reconcile = handler("payments"), handler("notifications"), handler("reconcile")
        worker = handler("reconcile_worker")

        order_id = f"OC-{uuid.uuid4().hex[:10]}"
        body = {"merchant_order_id": order_id, "order_amount": 50_000, "user_rut": PAYER_RUT, "is_rut_block": True}
        created = payments(
            api_gateway_event("POST", "/sessions", "/sessions", json.dumps(body), domain=DOMAIN), Context()
        )
        session_token = json.loads(created["body"])["session_token"]
        session = sandbox.session(session_token)
        forbidden["session_token"] = session_token
        forbidden["signature_token"] = session.signature_token
        notification = sandbox.notification_jwt(session_token, "paid", user_rut=PAYER_RUT)
        forbidden["notification JWT"] = notification
        forbidden["notification JWT signature"] = notification.split(".")[2]

        for key in (NOTIFICATION_KEY, NOTIFICATION_KEY, "a-wrong-key"):
            event = api_gateway_event(
                "POST", "/notifications", "/notifications", json.dumps({"payment": notification}),
                query={"key": key}, domain=DOMAIN,
            )  # fmt: skip
            notifications(event, Context())
        payments(
            api_gateway_event(
                "GET", "/orders/{merchant_order_id}", f"/orders/{order_id}",
                path_parameters={"merchant_order_id": order_id}, domain=DOMAIN,
            ),
            Context(),
        )  # fmt: skip
        reconcile({"source": "aws.scheduler"}, Context())

        # A second payer's session that ETpay never notifies: a status-check worker settles it.
        checked_id = f"OC-{uuid.uuid4().hex[:10]}"
        body = {"merchant_order_id": checked_id, "order_amount": 20_000, "user_rut": PAYER_RUT, "is_rut_block": True}
        created = payments(
            api_gateway_event("POST", "/sessions", "/sessions", json.dumps(body), domain=DOMAIN), Context()
        )
        checked_token = json.loads(created["body"])["session_token"]
        forbidden["checked session_token"] = checked_token
        forbidden["checked signature_token"] = sandbox.session(checked_token).signature_token
        sandbox.complete(checked_token, "paid", deliver=False)
        message = json.dumps({"merchant_order_id": checked_id, "session_token": checked_token})
        worker({"Records": [{"messageId": str(uuid.uuid4()), "body": message}]}, Context())
        checked = payments(
            api_gateway_event(
                "GET", "/orders/{merchant_order_id}", f"/orders/{checked_id}",
                path_parameters={"merchant_order_id": checked_id}, domain=DOMAIN,
            ),
            Context(),
        )  # fmt: skip
        if json.loads(checked["body"]).get("status") != "PAID":
            raise SystemExit(f"the status check did not settle the order: {checked['body']}")

    # The stack redeployed as ETpay Mexico: a session carrying the payer's phone, paid by SPEI.
    with mock_aws(), EtpaySandbox("mx_trace-merchant", MERCHANT_API_TOKEN, port=0, currency="MXN") as sandbox:
        os.environ["CURRENCY"] = "MXN"
        wiring.reset()
        boto3.client("dynamodb").create_table(TableName=TABLE_NAME, **table_definitions()["OrdersTable"])
        secrets = boto3.client("secretsmanager")
        secrets.create_secret(Name=SECRET_ID, SecretString=json.dumps(sandbox.credentials()))
        secrets.create_secret(Name=KEY_SECRET_ID, SecretString=NOTIFICATION_KEY)
        mx_id = f"OC-{uuid.uuid4().hex[:10]}"
        body = {"merchant_order_id": mx_id, "order_amount": 1_500, "target_flow": "spei", "customer_phone": PAYER_PHONE}
        created = payments(
            api_gateway_event("POST", "/sessions", "/sessions", json.dumps(body), domain=DOMAIN), Context()
        )
        mx_token = json.loads(created["body"])["session_token"]
        forbidden["MXN session_token"] = mx_token
        forbidden["MXN signature_token"] = sandbox.session(mx_token).signature_token
        # A phone refused (11 digits): the error names the field, never the value.
        bad = {**body, "merchant_order_id": f"OC-{uuid.uuid4().hex[:10]}", "customer_phone": PAYER_PHONE + "1"}
        payments(api_gateway_event("POST", "/sessions", "/sessions", json.dumps(bad), domain=DOMAIN), Context())
        notification = sandbox.notification_jwt(mx_token, "paid")
        forbidden["MXN notification JWT"] = notification
        event = api_gateway_event(
            "POST", "/notifications", "/notifications", json.dumps({"payment": notification}),
            query={"key": NOTIFICATION_KEY}, domain=DOMAIN,
        )  # fmt: skip
        notifications(event, Context())
        paid = payments(
            api_gateway_event(
                "GET", "/orders/{merchant_order_id}", f"/orders/{mx_id}",
                path_parameters={"merchant_order_id": mx_id}, domain=DOMAIN,
            ),
            Context(),
        )  # fmt: skip
        if json.loads(paid["body"]).get("status") != "PAID":
            raise SystemExit(f"the MXN order was not paid: {paid['body']}")
    print(json.dumps({"entities": emitter.entities, "forbidden": forbidden}))  # noqa: T201 - the protocol
    return 0


if __name__ == "__main__":
    sys.exit(main())

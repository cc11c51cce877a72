"""The local stack's events: the merchant's webhook receiver (where the stack's
MerchantWebhookUrl points), the template's queues and EventBridge buses in the AWS emulator, and
its event source mappings polling them as Lambda would (`local/event_sources.py`)."""

import logging
from collections.abc import Callable, Mapping
from typing import Any, Literal

import boto3
from botocore.config import Config

from local.aws import FAKE_CREDENTIALS, REGION
from local.event_sources import EventSources, event_source_mappings
from local.intrinsics import exists
from local.messaging import create_queues_and_buses
from local.template import load_template, resources_of_type
from local.webhook_receiver import ReceivedWebhook, WebhookReceiver

logger = logging.getLogger("local.events")

# The sandbox is on 8700 and the shop's pages on 8800.
DEFAULT_WEBHOOK_PORT = 8900
WEBHOOK_URL_PARAMETER = "MerchantWebhookUrl"
WEBHOOK_SECRET = "WebhookSecret"
# The services the local stack's AWS emulator is asked for.
EmulatedService = Literal["dynamodb", "dynamodbstreams", "events", "secretsmanager", "sqs"]


def emulator_client(endpoint_url: str, service: EmulatedService) -> Any:
    """A client of the AWS emulator. botocore 1.44 would otherwise put the account id into
    DynamoDB's endpoint, which moto's DynamoDB Streams answers with 404."""
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        config=Config(account_id_endpoint_mode="disabled", retries={"mode": "standard", "max_attempts": 3}),
    )


class LocalEvents:
    def __init__(
        self, webhook_port: int = DEFAULT_WEBHOOK_PORT, on_webhook: Callable[[ReceivedWebhook], None] | None = None
    ):
        self.receiver = WebhookReceiver(webhook_port, on_webhook)
        self.sources: EventSources | None = None
        self._functions: list[str] = []

    def start_receiver(self) -> str:
        """Listen as the merchant; the URL the stack's MerchantWebhookUrl is set to."""
        self.receiver.start()
        logger.info("merchant webhook receiver on %s", self.receiver.url)
        return self.receiver.url

    def create_resources(
        self, aws: Any, stack_name: str, conditions: Mapping[str, bool], names: Mapping[str, str]
    ) -> dict[str, str]:
        """The template's queues and buses; what `Ref` gives for each. The receiver learns the
        webhook secret the stack generated, as the merchant would from its ARN."""
        created = create_queues_and_buses(aws, stack_name, conditions)
        secret = load_template()["Resources"].get(WEBHOOK_SECRET)
        if secret is not None and exists(secret, conditions):
            value = aws.client("secretsmanager").get_secret_value(SecretId=names[WEBHOOK_SECRET])["SecretString"]
            self.receiver.set_secret(value)
        return dict(created.refs)

    def functions(self, conditions: Mapping[str, bool]) -> list[str]:
        """The functions the event sources invoke (worth a warm environment before the first event)."""
        return sorted({mapping.function for mapping in event_source_mappings(load_template(), conditions)})

    def start_event_sources(
        self,
        invoke: Callable[[str, dict[str, Any]], dict[str, Any]],
        endpoint_url: str,
        conditions: Mapping[str, bool],
        names: Mapping[str, str],
    ) -> None:
        tables = {logical_id: names[logical_id] for logical_id in resources_of_type("AWS::DynamoDB::Table")}
        queues = {
            logical_id: names[logical_id] for logical_id in resources_of_type("AWS::SQS::Queue") if logical_id in names
        }
        self.sources = EventSources(
            event_source_mappings(load_template(), conditions),
            invoke,
            lambda service: emulator_client(endpoint_url, service),
            tables,
            queues,
        ).start()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        return self.sources is None or self.sources.wait_idle(timeout)

    def stop(self) -> None:
        if self.sources is not None:
            self.sources.stop()
            self.sources = None
        self.receiver.stop()

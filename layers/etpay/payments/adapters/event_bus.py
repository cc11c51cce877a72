"""The two ways an event leaves the stack: the stack's EventBridge bus, and the queue of webhooks to
the merchant. The only code that speaks EventBridge and SQS."""

import json
from datetime import datetime
from typing import Any, Literal

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from payments.aws_clients import aws_client
from payments.errors import PublishFailed
from payments.events import EVENT_SOURCE, StoredEvent

logger = Logger(child=True)

# Like DynamoDB's: fail fast and let the event source retry the record or message.
CONNECT_TIMEOUT_SECONDS = 1
READ_TIMEOUT_SECONDS = 3
MAX_ATTEMPTS = 3


def _client(service: Literal["events", "sqs"]) -> Any:
    return aws_client(service, CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, MAX_ATTEMPTS)


def _failed(service: str, error: Exception) -> PublishFailed:
    code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
    logger.error(f"{service} call failed", extra={"error_type": type(error).__name__, "error_code": code})
    return PublishFailed(f"{service} is temporarily unavailable; retry")


class EventBus:
    def __init__(self, bus_name: str, client: Any = None):
        self._bus = bus_name
        self._client = client or _client("events")

    def put(self, event: StoredEvent) -> None:
        """One event on the bus, its `detail` the stored body; PublishFailed unless accepted."""
        entry = {
            "Source": EVENT_SOURCE,
            "DetailType": event.type.detail_type,
            "Detail": event.body,
            "EventBusName": self._bus,
            # The transition's time, so a replayed event carries the time of the first.
            "Time": datetime.fromisoformat(event.created_at),
        }
        try:
            answer = self._client.put_events(Entries=[entry])
        except (ClientError, BotoCoreError) as error:
            raise _failed("EventBridge", error) from error
        if answer.get("FailedEntryCount"):
            refused = (answer.get("Entries") or [{}])[0]
            logger.error(
                "EventBridge refused the event",
                extra={"event_id": event.id, "error_code": refused.get("ErrorCode")},
            )
            raise PublishFailed("EventBridge refused the event; retry")


class WebhookQueue:
    def __init__(self, queue_url: str, client: Any = None):
        self._url = queue_url
        self._client = client or _client("sqs")

    def send(self, event_id: str, redelivery: bool = False) -> None:
        """Queue one webhook: the message names the event, whose stored body is what is sent."""
        body = {"event_id": event_id, "redelivery": redelivery}
        try:
            self._client.send_message(QueueUrl=self._url, MessageBody=json.dumps(body, separators=(",", ":")))
        except (ClientError, BotoCoreError) as error:
            raise _failed("SQS", error) from error

    def retry_after(self, receipt_handle: str, seconds: int) -> bool:
        """Hide a received message for `seconds` (its next attempt). False when SQS refused: the
        message then comes back after the queue's own visibility timeout, which is merely early."""
        try:
            self._client.change_message_visibility(
                QueueUrl=self._url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
            )
        except (ClientError, BotoCoreError) as error:
            code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
            logger.warning(
                "could not postpone the webhook's next attempt",
                extra={"error_type": type(error).__name__, "error_code": code},
            )
            return False
        return True

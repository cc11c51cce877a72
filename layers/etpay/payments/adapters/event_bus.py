"""The stack's EventBridge bus (payments.app.ports.EventBus): the only code that speaks EventBridge."""

from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from payments.adapters.aws import AWS_ERRORS, aws_client, error_code
from payments.domain.errors import PublishFailed
from payments.domain.events import EVENT_SOURCE, StoredEvent

logger = Logger(child=True)


def publish_failed(service: str, error: Exception) -> PublishFailed:
    logger.error(f"{service} call failed", extra={"error_type": type(error).__name__, "error_code": error_code(error)})
    return PublishFailed(f"{service} is temporarily unavailable; retry")


class EventBus:
    def __init__(self, bus_name: str, client: Any = None):
        self._bus = bus_name
        self._client = client or aws_client("events")

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
        except AWS_ERRORS as error:
            raise publish_failed("EventBridge", error) from error
        if answer.get("FailedEntryCount"):
            refused = (answer.get("Entries") or [{}])[0]
            logger.error(
                "EventBridge refused the event",
                extra={"event_id": event.id, "error_code": refused.get("ErrorCode")},
            )
            raise PublishFailed("EventBridge refused the event; retry")

"""The stack's two SQS queues: the check queue (the sweep hands status checks to the workers) and
the webhook queue (each message names an event whose webhook is due). The only code that speaks
SQS, and the one home of both queues' message formats, written and read.

The tables are the truth, the queues only carry the hand-over: a check message lost or sent twice
costs a check, never a result (a lost one is handed out again at the session's next scheduled
check; a duplicate is settled once, because every transition is a conditional write). A webhook
message sent twice is delivered at least once; the merchant dedupes on `webhook-id`.
"""

import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

from payments.adapters.aws import AWS_ERRORS, aws_client, error_code
from payments.adapters.event_bus import publish_failed
from payments.domain.checks import CheckTask
from payments.domain.errors import StorageUnavailable
from payments.domain.webhooks import QueuedWebhook

logger = Logger(child=True)

# SQS takes at most this many messages per SendMessageBatch.
BATCH_LIMIT = 10


class InvalidCheckMessage(ValueError):
    """A queue message that is not a check this code sends: it can never succeed."""


def message_body(task: CheckTask) -> str:
    return json.dumps({"merchant_order_id": task.merchant_order_id, "session_token": task.session_token})


def task_from_message(body: str) -> CheckTask:
    try:
        values = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidCheckMessage("not JSON") from None
    if not isinstance(values, Mapping):
        raise InvalidCheckMessage("not a JSON object")
    order_id, token = values.get("merchant_order_id"), values.get("session_token")
    if not isinstance(order_id, str) or not isinstance(token, str) or not order_id or not token:
        raise InvalidCheckMessage("no merchant_order_id and session_token")
    return CheckTask(order_id, token)


class CheckQueue:
    def __init__(self, queue_url: str | None, client: Any = None):
        self._url = queue_url
        self._client = client or aws_client("sqs")

    def send(self, tasks: list[CheckTask]) -> None:
        """Queue every task; StorageUnavailable if SQS refuses any (the sweep then fails, and
        what it leased is handed out again at its next scheduled check)."""
        if not self._url:
            raise StorageUnavailable("the check queue is not configured (RECONCILE_QUEUE_URL)")
        for start in range(0, len(tasks), BATCH_LIMIT):
            entries = [
                {"Id": str(index), "MessageBody": message_body(task)}
                for index, task in enumerate(tasks[start : start + BATCH_LIMIT])
            ]
            try:
                answer = self._client.send_message_batch(QueueUrl=self._url, Entries=entries)
            except AWS_ERRORS as error:
                logger.error("check queue unavailable", extra={"error_type": type(error).__name__})
                raise StorageUnavailable("the check queue is unavailable") from error
            if answer.get("Failed"):
                codes = sorted({failure.get("Code", "") for failure in answer["Failed"]})
                logger.error("check queue refused messages", extra={"codes": codes})
                raise StorageUnavailable("the check queue refused messages")


class WebhookQueue:
    def __init__(self, queue_url: str, client: Any = None):
        self._url = queue_url
        self._client = client or aws_client("sqs")

    def send(self, event_id: str, redelivery: bool = False) -> None:
        """Queue one webhook: the message names the event, whose stored body is what is sent."""
        body = {"event_id": event_id, "redelivery": redelivery}
        try:
            self._client.send_message(QueueUrl=self._url, MessageBody=json.dumps(body, separators=(",", ":")))
        except AWS_ERRORS as error:
            raise publish_failed("SQS", error) from error

    def retry_after(self, receipt_handle: str, seconds: int) -> bool:
        """Hide a received message for `seconds` (its next attempt). False when SQS refused: the
        message then comes back after the queue's own visibility timeout, which is merely early."""
        try:
            self._client.change_message_visibility(
                QueueUrl=self._url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
            )
        except AWS_ERRORS as error:
            logger.warning(
                "could not postpone the webhook's next attempt",
                extra={"error_type": type(error).__name__, "error_code": error_code(error)},
            )
            return False
        return True


def webhooks_from_sqs_event(event: Mapping[str, Any]) -> list[QueuedWebhook]:
    """The messages of a Lambda SQS event of the webhook queue; one that names no event gets
    event_id None (it is dropped, loudly)."""
    webhooks = []
    for record in event.get("Records") or []:
        try:
            body = json.loads(record.get("body") or "")
        except (ValueError, RecursionError):
            body = None
        body = body if isinstance(body, dict) else {}
        event_id = body.get("event_id")
        try:
            receive_count = int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1))
        except (TypeError, ValueError):
            receive_count = 1
        webhooks.append(
            QueuedWebhook(
                message_id=record.get("messageId", ""),
                receipt_handle=record.get("receiptHandle", ""),
                event_id=event_id if isinstance(event_id, str) and event_id else None,
                receive_count=receive_count,
                redelivery=body.get("redelivery") is True,
            )
        )
    return webhooks

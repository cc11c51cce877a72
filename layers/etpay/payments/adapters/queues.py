"""The queue between the sweep and the workers that ask ETpay: one message per status check.

The table is the truth about what is due, the queue only carries the hand-over: a message lost
or sent twice costs a check, never a result. A lost one is handed out again at the session's next
scheduled check; a duplicate is settled once, because every transition is a conditional write.
"""

import functools
import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from payments.aws_clients import aws_client
from payments.errors import StorageUnavailable
from payments.service import CheckTask
from payments.settings import SQS_CONNECT_TIMEOUT_SECONDS, SQS_MAX_ATTEMPTS, SQS_READ_TIMEOUT_SECONDS

logger = Logger(child=True)

# SQS takes at most this many messages per SendMessageBatch.
BATCH_LIMIT = 10


class InvalidCheckMessage(ValueError):
    """A queue message that is not a check this code sends: it can never succeed."""


@functools.cache
def sqs_client() -> Any:
    return aws_client("sqs", SQS_CONNECT_TIMEOUT_SECONDS, SQS_READ_TIMEOUT_SECONDS, SQS_MAX_ATTEMPTS)


def message_body(task: CheckTask) -> str:
    return json.dumps({"merchant_order_id": task.merchant_order_id, "session_token": task.session_token})


def task_from_message(body: str) -> CheckTask:
    try:
        values = json.loads(body)
    except ValueError:
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
        self._client = client

    def send(self, tasks: list[CheckTask]) -> None:
        """Queue every task; StorageUnavailable if SQS refuses any (the sweep then fails, and
        what it leased is handed out again at its next scheduled check)."""
        if not self._url:
            raise StorageUnavailable("the check queue is not configured (RECONCILE_QUEUE_URL)")
        client = self._client or sqs_client()
        for start in range(0, len(tasks), BATCH_LIMIT):
            entries = [
                {"Id": str(index), "MessageBody": message_body(task)}
                for index, task in enumerate(tasks[start : start + BATCH_LIMIT])
            ]
            try:
                answer = client.send_message_batch(QueueUrl=self._url, Entries=entries)
            except (ClientError, BotoCoreError) as error:
                logger.error("check queue unavailable", extra={"error_type": type(error).__name__})
                raise StorageUnavailable("the check queue is unavailable") from error
            if answer.get("Failed"):
                codes = sorted({failure.get("Code", "") for failure in answer["Failed"]})
                logger.error("check queue refused messages", extra={"codes": codes})
                raise StorageUnavailable("the check queue refused messages")

"""The check queue's messages as the reconcile worker reads them: anything that is not a check this
code sends is refused as such (the worker drops it loudly instead of retrying it for ever)."""

import pytest

from payments.adapters.queues import InvalidCheckMessage, message_body, task_from_message
from payments.domain.checks import CheckTask


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        "{not json",
        '"OC-1"',
        "null",
        "{}",
        '{"merchant_order_id": "OC-1"}',
        '{"merchant_order_id": "", "session_token": "s"}',
        '{"merchant_order_id": 7, "session_token": "s"}',
        '{"merchant_order_id": "OC-1", "session_token": ["s"]}',
    ],
)
def test_a_check_message_without_an_order_and_a_session_is_never_a_check(body):
    with pytest.raises(InvalidCheckMessage):
        task_from_message(body)


def test_a_check_message_reads_back_as_the_check_sent():
    task = CheckTask("OC-1", "s-1")

    assert task_from_message(message_body(task)) == task

"""The functions' root logger writes the lines Powertools writes: a sentence stays a sentence, a
JSON object or array logged as text is still written as JSON, and text that only looks like JSON
is kept as text. No record carries the thread or process names the lines never show."""

import io
import json
import logging

import pytest
from aws_lambda_powertools import Logger

from payments.config import logs


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch) -> tuple[Logger, io.StringIO]:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "logs-test")
    stream = io.StringIO()
    logger = logs.function_logger()
    for handler in logger.handlers:
        monkeypatch.setattr(handler, "stream", stream)
    return logger, stream


def written(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("order paid", "order paid"),
        ('{"step": "claimed", "attempt": 2}', {"step": "claimed", "attempt": 2}),
        ("[1, 2]", [1, 2]),
        ("{not json", "{not json"),
        ("[", "["),
        ("", ""),
    ],
)
def test_a_message_is_written_as_powertools_writes_it(lines, message, expected):
    logger, stream = lines
    logger.info(message, extra={"merchant_order_id": "OC-1"})
    (line,) = written(stream)
    assert line["message"] == expected
    assert line["merchant_order_id"] == "OC-1"
    assert line["level"] == "INFO"


def test_records_leave_out_the_thread_and_process_names():
    record = logging.getLogger("logs-test").makeRecord("logs-test", logging.INFO, __file__, 1, "x", (), None)
    assert record.threadName is None and record.processName is None and record.process is None

"""Each function's root logger: Powertools' JSON lines, without the per-record work nobody reads.

A warm request writes one or two log lines, and each is a measurable share of its CPU
(docs/BENCHMARKS.md compares the functions with bare handlers that log nothing). Two things are
left out of every record, and the lines are the same:

- the thread, process and multiprocessing names the standard library's LogRecord looks up for each
  record: Powertools' lines show none of them (the logging HOWTO's "Optimization" section);
- Powertools' attempt to read every message as a JSON document, which for a sentence such as
  "order paid" raises and catches a JSONDecodeError: only a message that starts like a JSON object
  or array is tried.
"""

import json
import logging
from typing import Any

from aws_lambda_powertools import Logger

logging.logThreads = False
logging.logProcesses = False
logging.logMultiprocessing = False


def _json_message(message: Any) -> Any:
    """A message that may be a JSON object or array, decoded; anything else refused as Powertools
    expects (ValueError), so it is logged as the text it is."""
    if not isinstance(message, str) or message[:1] not in ("{", "["):
        raise ValueError("not a JSON document")
    return json.loads(message)


def function_logger() -> Logger:
    """The function's Logger (its modules' `Logger(child=True)` write through it)."""
    return Logger(json_deserializer=_json_message)

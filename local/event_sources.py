"""Moved to `local.emulator.event_sources`; this name stays for bench/, scripts/ and tests/ until they import that."""

from local.emulator.event_sources import (
    QueuePoller,
    StreamPoller,
    event_source_mappings,
    lambda_sqs_record,
    lambda_stream_record,
)

__all__ = ["QueuePoller", "StreamPoller", "event_source_mappings", "lambda_sqs_record", "lambda_stream_record"]

"""What the functions printed: their metrics and their error log lines."""

import json
import logging

import pytest


def emitted_metrics(text: str) -> list[str]:
    """Names of the CloudWatch EMF metrics Powertools printed."""
    names: list[str] = []
    for line in text.splitlines():
        if '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            names.extend(metric["Name"] for metric in directive["Metrics"])
    return names


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Messages logged at ERROR or above during the test."""
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]

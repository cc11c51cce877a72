"""Fixtures of the API fuzzing suite: one local stack for the run, what it has stored, and how many
generated requests each operation got.

Its fixtures are this tier's (its conftest.py imports them), named apart from the e2e tier's."""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from local.emulator.aws import FAKE_CREDENTIALS, REGION
from local.emulator.template import resources_of_type
from local.stack import LocalStack
from payments.domain.clock import iso_utc, utc_now


@dataclass(frozen=True)
class StoredState:
    """Everything a request could have changed: every item of every table of the template, and
    every session request ETpay received."""

    items: dict[str, list[dict[str, Any]]]
    etpay_session_requests: int
    # When this was read (ISO 8601 UTC, as the tables' timestamps).
    taken_at: str = ""
    # The events table is written after the fact by the stack's event sources: the events (and
    # webhook attempts) of transitions earlier requests made arrive whenever they do.
    events_table: str = ""

    def changes_since(self, before: "StoredState", transitions_after: str = "") -> str:
        """What changed, by table and count only: items hold signature tokens, which stay out of
        reports. In the events table only events of transitions after `transitions_after` count."""
        changes = []
        for table in sorted(set(before.items) | set(self.items)):
            old, new = before.items.get(table, []), self.items.get(table, [])
            if table == self.events_table:
                old, new = _transitions_after(old, transitions_after), _transitions_after(new, transitions_after)
            gone = [item for item in old if item not in new]
            written = [item for item in new if item not in old]
            if gone or written:
                changes.append(f"{table}: {len(gone)} items changed or removed, {len(written)} written")
        if self.etpay_session_requests != before.etpay_session_requests:
            changes.append(f"ETpay: {self.etpay_session_requests - before.etpay_session_requests} session requests")
        return "; ".join(changes)


def _transitions_after(items: list[dict[str, Any]], moment: str) -> list[dict[str, Any]]:
    return [item for item in items if item.get("created_at", {}).get("S", "") > moment]


class StackProbe:
    """Reads the local stack's state the way an operator would: DynamoDB over its endpoint, and
    the ETpay sandbox's own record of the requests it received."""

    def __init__(self, stack: LocalStack):
        self._stack = stack
        self._tables = [stack.resource_name(logical_id) for logical_id in resources_of_type("AWS::DynamoDB::Table")]
        self._dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=stack.aws_url,
            region_name=REGION,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        )

    def state(self) -> StoredState:
        assert self._stack.sandbox is not None  # a started stack's
        taken_at = iso_utc(utc_now())
        return StoredState(
            items={table: self._scan(table) for table in self._tables},
            etpay_session_requests=len(self._stack.sandbox.initialize_requests),
            taken_at=taken_at,
            events_table=self._stack.resource_name("EventsTable"),
        )

    def _scan(self, table: str) -> list[dict[str, Any]]:
        items = []
        for page in self._dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            items.extend(page["Items"])
        # Scan order is the engine's business; what is stored is the set of items.
        return sorted(items, key=repr)


@pytest.fixture(scope="session")
def fuzzed_stack(tmp_path_factory) -> Iterator[LocalStack]:
    with LocalStack.on_free_ports(tmp_path_factory.mktemp("fuzz-stack-logs")) as stack:
        yield stack


@pytest.fixture(scope="session")
def stack_probe(fuzzed_stack) -> StackProbe:
    return StackProbe(fuzzed_stack)


@pytest.fixture(scope="session")
def mx_fuzzed_stack(tmp_path_factory) -> Iterator[LocalStack]:
    """The stack deployed with Currency=MXN (ETpay Mexico), for what differs there: POST /sessions."""
    with LocalStack.on_free_ports(
        tmp_path_factory.mktemp("mx-fuzz-stack-logs"), parameters={"Currency": "MXN"}
    ) as stack:
        yield stack


@pytest.fixture(scope="session")
def mx_stack_probe(mx_fuzzed_stack) -> StackProbe:
    return StackProbe(mx_fuzzed_stack)


class ExampleTally:
    """How many requests each operation was sent: by generation mode (positive / negative) and by
    Schemathesis phase (the contract's examples, its boundary cases, random fuzzing)."""

    def __init__(self) -> None:
        self.modes: dict[str, Counter[str]] = {}
        self.phases: dict[str, Counter[str]] = {}

    def count(self, operation: str, mode: str, phase: str) -> None:
        self.modes.setdefault(operation, Counter())[mode] += 1
        self.phases.setdefault(operation, Counter())[phase] += 1

    def lines(self) -> list[str]:
        return [
            f"{operation}: {modes.total()} ({_listing(modes)}; {_listing(self.phases[operation])})"
            for operation, modes in self.modes.items()
        ]

    def properties(self) -> list[tuple[str, int]]:
        return [
            (f"examples[{operation}][{name}]", examples)
            for tally in (self.modes, self.phases)
            for operation, counts in tally.items()
            for name, examples in sorted(counts.items())
        ]


def _listing(counts: Counter[str]) -> str:
    return ", ".join(f"{name} {examples}" for name, examples in sorted(counts.items()))


TALLY = ExampleTally()


@pytest.fixture(scope="session")
def example_tally() -> ExampleTally:
    return TALLY


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    finally:
        # As record_property would: JUnit XML carries them, and so do the test reports.
        if "example_tally" in getattr(item, "fixturenames", ()):
            item.user_properties.extend(TALLY.properties())


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TALLY.modes:
        terminalreporter.section("API fuzzing: requests sent per operation")
        for line in TALLY.lines():
            terminalreporter.write_line(line)

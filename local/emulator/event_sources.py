"""Lambda's event source mappings, on this machine: the template's DynamoDB stream and SQS queue
mappings (raw `AWS::Lambda::EventSourceMapping` resources, or a function's `DynamoDB` / `SQS`
events) poll the AWS emulator and invoke their function with the event Lambda would build,
honouring the mapping's settings:

- streams: StartingPosition, BatchSize, FilterCriteria, FunctionResponseTypes
  (ReportBatchItemFailures: retried from the lowest sequence number reported; an invalid one fails
  the whole batch), BisectBatchOnFunctionError (a failing batch is retried in halves until the bad
  record is alone), MaximumRetryAttempts, MaximumRecordAgeInSeconds, and the on-failure
  destination (an SQS queue, given Lambda's failure record: shard and sequence numbers);
- queues: BatchSize, FilterCriteria (a message that does not match is deleted, as Lambda does),
  batchItemFailures (the rest of the batch is deleted), a function error (nothing is deleted), and
  whatever the function does to a message's visibility. SQS itself (moto) counts receives and
  moves a message to its dead-letter queue after the redrive policy's maxReceiveCount.

Not emulated: ParallelizationFactor above 1, tumbling windows, batching windows (records are
handed over as soon as they are read), and Lambda's scaling beyond one poller per mapping.
"""

import base64
import functools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from local.emulator.functions import InvocationError
from local.emulator.template import choose, exists

logger = logging.getLogger("local.event_sources")

# Lambda polls each shard of a DynamoDB stream about four times a second.
STREAM_POLL_SECONDS = 0.25
# Shards open and close over a stream's life (DynamoDB Local rolls them over): looked up this often.
SHARD_REFRESH_SECONDS = 10.0
# Lambda long-polls SQS; one second keeps stop() prompt.
QUEUE_WAIT_SECONDS = 1
# SQS hands out at most 10 messages per receive.
SQS_MAX_MESSAGES = 10
# A failed stream batch is retried after this, doubling up to the cap (Lambda retries at once,
# locally a hot loop would only burn the laptop).
RETRY_BACKOFF_SECONDS = 0.2
RETRY_BACKOFF_CAP_SECONDS = 2.0
# Lambda's defaults where the mapping says nothing.
DEFAULT_STREAM_BATCH_SIZE = 100
DEFAULT_QUEUE_BATCH_SIZE = 10
UNLIMITED = -1
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"

Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]
# A client of the AWS emulator for one of the services an event source reads.
Clients = Callable[[Literal["dynamodb", "dynamodbstreams", "sqs"]], Any]


class EventSourceError(RuntimeError):
    pass


# -- the mappings of the template --------------------------------------------------------------------
@dataclass(frozen=True)
class EventSourceMapping:
    name: str  # the mapping's logical id (or Function.Event for a SAM event)
    function: str  # logical id
    kind: str  # "dynamodb" or "sqs"
    source: str  # logical id of the table (its stream) or of the queue
    batch_size: int
    starting_position: str = "TRIM_HORIZON"
    filters: tuple[Mapping[str, Any], ...] = ()
    report_batch_item_failures: bool = False
    bisect_on_error: bool = False
    maximum_retry_attempts: int = UNLIMITED
    maximum_record_age_seconds: int = UNLIMITED
    on_failure: str | None = None  # logical id of an SQS queue
    enabled: bool = True


def event_source_mappings(template: Mapping[str, Any], conditions: Mapping[str, bool]) -> list[EventSourceMapping]:
    """Every stream and queue mapping the template creates for these conditions."""
    resources = template["Resources"]
    found = []
    for name, resource in resources.items():
        if not exists(resource, conditions):
            continue
        if resource["Type"] == "AWS::Lambda::EventSourceMapping":
            properties = resource["Properties"]
            # `!Ref X.Alias` (SAM's reference to the function's alias): here, the function itself.
            function = _logical_id(properties["FunctionName"], "function").removesuffix(".Alias")
            found.append(_mapping(name, function, properties, properties["EventSourceArn"], resources, conditions))
        elif resource["Type"] == "AWS::Serverless::Function":
            for event_name, event in (resource["Properties"].get("Events") or {}).items():
                if event.get("Type") in ("DynamoDB", "SQS"):
                    properties = event["Properties"]
                    source = properties.get("Stream") or properties.get("Queue")
                    found.append(_mapping(f"{name}.{event_name}", name, properties, source, resources, conditions))
    return found


def _logical_id(reference: Any, what: str) -> str:
    if isinstance(reference, dict) and "Ref" in reference:
        return str(reference["Ref"])
    if isinstance(reference, dict) and "Fn::GetAtt" in reference:
        return str(reference["Fn::GetAtt"][0])
    raise EventSourceError(f"cannot resolve the {what} {reference!r} locally")


def _mapping(
    name: str,
    function: str,
    properties: Mapping[str, Any],
    source: Any,
    resources: Mapping[str, Any],
    conditions: Mapping[str, bool],
) -> EventSourceMapping:
    source_id = _logical_id(source, "event source")
    kind = {"AWS::DynamoDB::Table": "dynamodb", "AWS::SQS::Queue": "sqs"}.get(resources[source_id]["Type"])
    if kind is None:
        raise EventSourceError(f"{name}: {source_id} is neither a DynamoDB table nor an SQS queue")
    destination = (choose(properties.get("DestinationConfig"), conditions) or {}).get("OnFailure", {})
    patterns = (choose(properties.get("FilterCriteria"), conditions) or {}).get("Filters", [])
    default_batch = DEFAULT_STREAM_BATCH_SIZE if kind == "dynamodb" else DEFAULT_QUEUE_BATCH_SIZE
    return EventSourceMapping(
        name=name,
        function=function,
        kind=kind,
        source=source_id,
        batch_size=int(choose(properties.get("BatchSize", default_batch), conditions)),
        starting_position=str(properties.get("StartingPosition", "TRIM_HORIZON")),
        filters=tuple(json.loads(entry["Pattern"]) for entry in patterns),
        report_batch_item_failures="ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or []),
        bisect_on_error=bool(properties.get("BisectBatchOnFunctionError", False)),
        maximum_retry_attempts=int(properties.get("MaximumRetryAttempts", UNLIMITED)),
        maximum_record_age_seconds=int(properties.get("MaximumRecordAgeInSeconds", UNLIMITED)),
        on_failure=_logical_id(destination["Destination"], "destination") if destination.get("Destination") else None,
        enabled=bool(properties.get("Enabled", True)),
    )


# -- filter criteria (EventBridge patterns, the operators Lambda's filtering supports) -------------------
def matches(pattern: Mapping[str, Any], value: Any) -> bool:
    """Whether `value` (a record, a message) matches one filter pattern."""
    for key, expected in pattern.items():
        present = isinstance(value, Mapping) and key in value
        actual = value.get(key) if present else None
        if isinstance(expected, Mapping):
            if not (present and matches(expected, actual)):
                return False
        elif isinstance(expected, list):
            if not any(_matches_rule(rule, present, actual) for rule in expected):
                return False
        else:
            raise EventSourceError(f"a filter pattern's leaves must be lists, not {expected!r}")
    return True


def _matches_rule(rule: Any, present: bool, actual: Any) -> bool:
    values = actual if isinstance(actual, list) else [actual]
    if not isinstance(rule, Mapping):
        return present and rule in values
    ((operator, operand),) = rule.items()
    if operator == "exists":
        return present is bool(operand)
    if not present:
        return False
    if operator == "prefix":
        return any(isinstance(value, str) and value.startswith(operand) for value in values)
    if operator == "suffix":
        return any(isinstance(value, str) and value.endswith(operand) for value in values)
    if operator == "equals-ignore-case":
        return any(isinstance(value, str) and value.lower() == operand.lower() for value in values)
    if operator == "anything-but":
        excluded = operand if isinstance(operand, list) else [operand]
        return all(value not in excluded for value in values)
    raise EventSourceError(f"filter operator {operator!r} is not emulated locally")


def passes(filters: tuple[Mapping[str, Any], ...], value: Any) -> bool:
    """No filters: everything passes; else any one pattern must match."""
    return not filters or any(matches(pattern, value) for pattern in filters)


# -- the events Lambda builds ------------------------------------------------------------------------
def _json_safe(value: Any) -> Any:
    """What Lambda's JSON carries for SDK values: binary as base64, times as epoch seconds."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return float(int(value.timestamp()))
    return value


def _attribute(value: Any) -> Any:
    """An attribute value as DynamoDB writes it. DynamoDB Local's stream writes an empty map as
    `{}` where DynamoDB writes `{"M": {}}` (an empty list likewise): read as the map it was."""
    if not isinstance(value, dict):
        return value
    if not value:
        return {"M": {}}
    if "M" in value:
        return {"M": {name: _attribute(item) for name, item in value["M"].items()}}
    if "L" in value:
        return {"L": [_attribute(item) for item in value["L"]]}
    return value


def lambda_stream_record(record: Mapping[str, Any], stream_arn: str, region: str = REGION) -> dict[str, Any]:
    """A record of DynamoDB Streams' GetRecords as Lambda hands it to the function."""
    stream = dict(record["dynamodb"])
    for image in ("Keys", "NewImage", "OldImage"):
        if image in stream:
            stream[image] = {name: _attribute(value) for name, value in stream[image].items()}
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", region),
        "dynamodb": _json_safe(stream),
        "eventSourceARN": stream_arn,
    }


def lambda_sqs_record(message: Mapping[str, Any], queue_arn: str, region: str = REGION) -> dict[str, Any]:
    """A message of SQS's ReceiveMessage as Lambda hands it to the function."""
    attributes = {
        name: message.get("Attributes", {}).get(name)
        for name in ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp")
        if name in message.get("Attributes", {})
    }
    message_attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": _json_safe(value.get("BinaryValue")),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value.get("DataType"),
        }
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


@dataclass(frozen=True)
class BatchResult:
    """What an invocation said about its batch."""

    # None: every record succeeded. Otherwise the index of the first record to retry (0: all).
    retry_from: int | None
    function_error: bool = False


def batch_result(
    records: Sequence[Mapping[str, Any]], response: Any, key: Callable[[Mapping[str, Any]], str]
) -> BatchResult:
    """Lambda's reading of a ReportBatchItemFailures response: the failures name records by `key`;
    an empty list succeeds, an identifier that names no record of the batch fails it whole."""
    if not isinstance(response, Mapping) or not response.get("batchItemFailures"):
        return BatchResult(None)
    identifiers = [key(record) for record in records]
    failed = []
    for failure in response["batchItemFailures"]:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if identifier not in identifiers:
            return BatchResult(0)
        failed.append(identifiers.index(identifier))
    return BatchResult(min(failed))


# -- pollers ----------------------------------------------------------------------------------------
class _Poller(threading.Thread):
    def __init__(self, mapping: EventSourceMapping, invoke: Invoke, clients: Clients):
        super().__init__(name=f"event-source-{mapping.name}", daemon=True)
        self.mapping = mapping
        self._invoke = invoke
        self._clients = clients
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._status = threading.Condition()
        self._busy = False
        # When the last poll that found no work started (time.monotonic()).
        self._idle_poll_started: float | None = None
        self.invocations = 0
        # How long each invocation took, as the event source saw it (what Lambda bills, roughly).
        self.invocation_ms: list[float] = []

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def poke(self) -> None:
        """Poll now rather than at the next interval."""
        self._wake.set()

    @property
    def busy(self) -> bool:
        with self._status:
            return self._busy

    def idle_since(self, moment: float) -> bool:
        with self._status:
            return not self._busy and self._idle_poll_started is not None and self._idle_poll_started >= moment

    def _mark(self, busy: bool, idle_poll_started: float | None = None) -> None:
        with self._status:
            self._busy = busy
            if idle_poll_started is not None:
                self._idle_poll_started = idle_poll_started
            self._status.notify_all()

    def _call(self, event: dict[str, Any]) -> tuple[Any, bool]:
        """(the function's response, whether it failed)."""
        self.invocations += 1
        started = time.monotonic()
        try:
            return self._invoke(self.mapping.function, event), False
        except InvocationError as error:
            logger.warning("%s: %s failed: %s", self.mapping.name, self.mapping.function, error)
            return None, True
        finally:
            self.invocation_ms.append((time.monotonic() - started) * 1000)

    def run(self) -> None:
        while not self._stopping.is_set():
            started: float | None = time.monotonic()
            try:
                worked = self.poll_once()
            except (BotoCoreError, ClientError) as error:
                if self._stopping.is_set():
                    return
                logger.warning("%s: polling failed: %s", self.mapping.name, type(error).__name__)
                worked = False
                started = None
            except Exception:  # noqa: BLE001 - re-raised unless the stack is stopping under an invocation
                if self._stopping.is_set():
                    return
                raise
            self._mark(False, None if worked else started)
            if not worked:
                self._wake.wait(self.idle_wait_seconds)
                self._wake.clear()

    idle_wait_seconds = STREAM_POLL_SECONDS

    def poll_once(self) -> bool:  # pragma: no cover - every poller has its own
        raise NotImplementedError


@dataclass
class _Shard:
    id: str
    iterator: str | None
    buffer: list[dict[str, Any]] = field(default_factory=list)
    # How many times the head of the buffer failed in a row, and the batch size while bisecting.
    failures: int = 0
    limit: int = 0


class StreamPoller(_Poller):
    """One DynamoDB stream: each shard read in order, one batch at a time (ParallelizationFactor 1)."""

    def __init__(
        self,
        mapping: EventSourceMapping,
        invoke: Invoke,
        clients: Clients,
        table_name: str,
        failure_queue_url: str | None = None,
    ):
        super().__init__(mapping, invoke, clients)
        self._table = table_name
        self._failure_queue_url = failure_queue_url
        self._streams = clients("dynamodbstreams")
        self._sqs = clients("sqs") if failure_queue_url else None
        self.stream_arn: str = clients("dynamodb").describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        self._shards: dict[str, _Shard] = {}
        self._shards_checked = 0.0
        self.discarded: list[dict[str, Any]] = []

    def poll_once(self) -> bool:
        if time.monotonic() - self._shards_checked > SHARD_REFRESH_SECONDS:
            self._refresh_shards()
        worked = False
        for shard in list(self._shards.values()):
            self._read(shard)
            if shard.buffer:
                self._mark(True)
                self._process(shard)
                worked = True
        return worked

    def _refresh_shards(self) -> None:
        description = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            if shard["ShardId"] not in self._shards:
                iterator = self._streams.get_shard_iterator(
                    StreamArn=self.stream_arn,
                    ShardId=shard["ShardId"],
                    ShardIteratorType=self.mapping.starting_position if not self._shards_checked else "TRIM_HORIZON",
                )["ShardIterator"]
                self._shards[shard["ShardId"]] = _Shard(shard["ShardId"], iterator, limit=self.mapping.batch_size)
        self._shards_checked = time.monotonic()

    def _read(self, shard: _Shard) -> None:
        while shard.iterator and len(shard.buffer) < self.mapping.batch_size:
            answer = self._streams.get_records(ShardIterator=shard.iterator, Limit=self.mapping.batch_size)
            shard.iterator = answer.get("NextShardIterator")
            records = answer.get("Records", [])
            if not records:
                return
            for record in records:
                converted = lambda_stream_record(record, self.stream_arn)
                # Lambda drops a record no filter matches, without invoking.
                if passes(self.mapping.filters, converted):
                    shard.buffer.append(converted)

    def _process(self, shard: _Shard) -> None:
        batch = shard.buffer[: max(1, min(shard.limit, self.mapping.batch_size))]
        response, failed = self._call({"Records": batch})
        if failed:
            result = BatchResult(0, function_error=True)
        elif self.mapping.report_batch_item_failures:
            result = batch_result(batch, response, lambda record: record["dynamodb"]["SequenceNumber"])
        else:
            result = BatchResult(None)
        if result.retry_from is None:
            del shard.buffer[: len(batch)]
            shard.failures, shard.limit = 0, self.mapping.batch_size
            return
        if result.retry_from > 0:
            # Checkpointed up to the first failure; the rest is retried.
            del shard.buffer[: result.retry_from]
            shard.failures = 0
            batch = batch[result.retry_from :]
        shard.failures += 1
        if result.function_error and self.mapping.bisect_on_error and len(batch) > 1:
            shard.limit = max(1, len(batch) // 2)
        if self._expired(shard, batch):
            self._discard(shard, batch)
            return
        self._wake.wait(min(RETRY_BACKOFF_CAP_SECONDS, RETRY_BACKOFF_SECONDS * 2 ** (shard.failures - 1)))
        self._wake.clear()

    def _expired(self, shard: _Shard, batch: list[dict[str, Any]]) -> str | None:
        mapping = self.mapping
        if mapping.maximum_retry_attempts != UNLIMITED and shard.failures > mapping.maximum_retry_attempts:
            return "RetryAttemptsExhausted"
        created = batch[0]["dynamodb"].get("ApproximateCreationDateTime")
        if mapping.maximum_record_age_seconds != UNLIMITED and created is not None:
            if time.time() - float(created) > mapping.maximum_record_age_seconds:
                return "RecordAgeExceeded"
        return None

    def _discard(self, shard: _Shard, batch: list[dict[str, Any]]) -> None:
        """Give up on a batch: its description goes to the on-failure destination."""
        condition = self._expired(shard, batch)
        failure = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.mapping.function}",
                "condition": condition,
                "approximateInvokeCount": shard.failures,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": shard.id,
                "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": batch[0]["dynamodb"].get("ApproximateCreationDateTime"),
                "approximateArrivalOfLastRecord": batch[-1]["dynamodb"].get("ApproximateCreationDateTime"),
                "batchSize": len(batch),
                "streamArn": self.stream_arn,
            },
        }
        logger.error("%s: %d records given up (%s)", self.mapping.name, len(batch), condition)
        self.discarded.append(failure)
        if self._sqs is not None:
            self._sqs.send_message(QueueUrl=self._failure_queue_url, MessageBody=json.dumps(failure))
        del shard.buffer[: len(batch)]
        shard.failures, shard.limit = 0, self.mapping.batch_size


class QueuePoller(_Poller):
    """One SQS queue: receive, invoke, delete what succeeded."""

    idle_wait_seconds = 0.0

    def __init__(
        self,
        mapping: EventSourceMapping,
        invoke: Invoke,
        clients: Clients,
        queue_url: str,
        wait_seconds: int = QUEUE_WAIT_SECONDS,
    ):
        """`wait_seconds`: how long a receive waits for a message (SQS long polling, as Lambda
        polls); 0 for a caller that polls only when it knows messages are visible."""
        super().__init__(mapping, invoke, clients)
        self._url = queue_url
        self._wait_seconds = wait_seconds
        self._sqs = clients("sqs")
        self.queue_arn = self._sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    def poll_once(self) -> bool:
        answer = self._sqs.receive_message(
            QueueUrl=self._url,
            MaxNumberOfMessages=min(SQS_MAX_MESSAGES, self.mapping.batch_size),
            WaitTimeSeconds=self._wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            return False
        self._mark(True)
        records = [lambda_sqs_record(message, self.queue_arn) for message in messages]
        wanted = [record for record in records if passes(self.mapping.filters, _filterable(record))]
        self._delete_messages([record for record in records if record not in wanted])
        if not wanted:
            return True
        response, failed = self._call({"Records": wanted})
        if failed:
            return True  # nothing deleted: every message comes back after its visibility timeout
        if self.mapping.report_batch_item_failures:
            failures = _failed_message_ids(wanted, response)
            if failures is None:
                return True  # an invalid failure report fails the whole batch
            self._delete_messages([record for record in wanted if record["messageId"] not in failures])
        else:
            self._delete_messages(wanted)
        return True

    def queue_is_empty(self) -> bool:
        """No message visible now (messages hidden for a later attempt do not count)."""
        attributes = self._sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"]) == 0

    def _delete_messages(self, records: list[dict[str, Any]]) -> None:
        for first in range(0, len(records), SQS_MAX_MESSAGES):
            chunk = records[first : first + SQS_MAX_MESSAGES]
            self._sqs.delete_message_batch(
                QueueUrl=self._url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": record["receiptHandle"]} for index, record in enumerate(chunk)
                ],
            )


def _filterable(record: Mapping[str, Any]) -> dict[str, Any]:
    """An SQS record as Lambda's filtering sees it: a JSON body is matched as JSON."""
    try:
        body = json.loads(record["body"])
    except ValueError:
        body = record["body"]
    return {**record, "body": body}


def _failed_message_ids(records: Sequence[Mapping[str, Any]], response: Any) -> set[str] | None:
    if not isinstance(response, Mapping) or not response.get("batchItemFailures"):
        return set()
    ids = {record["messageId"] for record in records}
    failed: set[str] = set()
    for failure in response["batchItemFailures"]:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not isinstance(identifier, str) or identifier not in ids:
            return None
        failed.add(identifier)
    return failed


# -- all of them ------------------------------------------------------------------------------------
class EventSources:
    """Every enabled mapping of the template, each polled by a thread of its own."""

    def __init__(
        self,
        mappings: list[EventSourceMapping],
        invoke: Invoke,
        clients: Clients,
        tables: Mapping[str, str],
        queues: Mapping[str, str],
    ):
        """`tables`: logical id -> table name; `queues`: logical id -> queue URL."""
        self._pollers: list[_Poller] = []
        for mapping in mappings:
            if not mapping.enabled:
                continue
            if mapping.kind == "dynamodb":
                failure_queue = queues[mapping.on_failure] if mapping.on_failure else None
                self._pollers.append(StreamPoller(mapping, invoke, clients, tables[mapping.source], failure_queue))
            else:
                self._pollers.append(QueuePoller(mapping, invoke, clients, queues[mapping.source]))

    @property
    def pollers(self) -> list[_Poller]:
        return list(self._pollers)

    def start(self) -> "EventSources":
        for poller in self._pollers:
            poller.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop polling. A poller still inside an invocation ends when the invocation does (the
        stack stops its functions next)."""
        for poller in self._pollers:
            poller.stop()
        deadline = time.monotonic() + timeout
        for poller in self._pollers:
            poller.join(max(0.0, deadline - time.monotonic()))

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Until every stream has been read to its end and every record handed over, and no queue
        has a visible message nor an invocation under way. False if that did not happen in time."""
        deadline = time.monotonic() + timeout
        streams = [poller for poller in self._pollers if isinstance(poller, StreamPoller)]
        queues = [poller for poller in self._pollers if isinstance(poller, QueuePoller)]
        while time.monotonic() < deadline:
            moment = time.monotonic()
            for poller in streams:
                poller.poke()
            if not self._wait_until(functools.partial(_all_idle_since, streams, moment), deadline):
                return False
            # Twice, a moment apart: a message being received right now is invisible already but
            # its poller is not marked busy yet.
            if self._queues_idle(queues):
                time.sleep(0.02)
                if self._queues_idle(queues):
                    return True
            time.sleep(0.02)
        return False

    @staticmethod
    def _queues_idle(queues: list["QueuePoller"]) -> bool:
        return all(not poller.busy and poller.queue_is_empty() for poller in queues)

    @staticmethod
    def _wait_until(condition: Callable[[], bool], deadline: float) -> bool:
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True


def _all_idle_since(pollers: Sequence[StreamPoller], moment: float) -> bool:
    return all(poller.idle_since(moment) for poller in pollers)

"""DynamoDB plumbing shared by the tables' adapters: typed values to and from DynamoDB JSON, and one
way to call DynamoDB, in which every failure becomes a domain error. A refused condition is
ConcurrentUpdate (carrying the item as the refused write found it, when DynamoDB returned it); any
other failure, after the client's own retries, is StorageUnavailable.
"""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from payments.adapters.aws import AWS_ERRORS, aws_client, error_code
from payments.domain.errors import ConcurrentUpdate, StorageUnavailable

logger = Logger(child=True)

CONDITION_FAILED = "ConditionalCheckFailedException"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """An item in DynamoDB JSON; attributes whose value is None are left out."""
    return {name: _serializer.serialize(value) for name, value in values.items() if value is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item's values; numbers are whole numbers everywhere in our tables, maps and lists too."""
    return {name: _whole(_deserializer.deserialize(value)) for name, value in item.items()}


def _whole(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {name: _whole(inner) for name, inner in value.items()}
    if isinstance(value, list):
        return [_whole(inner) for inner in value]
    return value


def expression_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """ExpressionAttributeValues: `{"now": x}` becomes `{":now": <x in DynamoDB JSON>}`."""
    return {f":{name}": _serializer.serialize(value) for name, value in values.items()}


def dynamodb_client() -> Any:
    # Every request is built by our adapters from typed values, and DynamoDB validates it again:
    # botocore's client-side check of each nested attribute value is pure CPU cost.
    return aws_client("dynamodb", parameter_validation=False)


class Table:
    """One table: its name, a client, and `call`, which maps every failure to a domain error."""

    def __init__(self, name: str, client: Any = None):
        self.name = name
        self._client = client or dynamodb_client()

    def call(self, operation: str, **request: Any) -> dict[str, Any]:
        """One SDK call (`operation` as boto3 names it: get_item, update_item, ...)."""
        try:
            answer: dict[str, Any] = getattr(self._client, operation)(**request)
        except AWS_ERRORS as error:
            code = error_code(error)
            if code == CONDITION_FAILED:
                old = getattr(error, "response", {}).get("Item")
                raise ConcurrentUpdate(from_item(old) if isinstance(old, dict) else {}) from error
            logger.error("DynamoDB call failed", extra={"error_type": type(error).__name__, "error_code": code})
            raise StorageUnavailable("storage is temporarily unavailable; retry the request") from error
        return answer

    def get(
        self, key: Mapping[str, Any], projection: str | None = None, names: Mapping[str, str] | None = None
    ) -> dict[str, Any] | None:
        """The item's values (a consistent read), or None if there is none."""
        request: dict[str, Any] = {"TableName": self.name, "Key": dict(key), "ConsistentRead": True}
        if projection:
            request["ProjectionExpression"] = projection
        if names:
            request["ExpressionAttributeNames"] = dict(names)
        item = self.call("get_item", **request).get("Item")
        return from_item(item) if item else None

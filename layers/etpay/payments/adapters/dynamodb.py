"""DynamoDB plumbing shared by the tables' adapters: typed values to and from DynamoDB JSON, and one
way to call DynamoDB, in which every failure becomes a domain error. A refused condition is
ConcurrentUpdate (carrying the item as the refused write found it, when DynamoDB returned it); any
other failure, after the client's own retries, is StorageUnavailable.
"""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger

from payments.adapters.aws import AWS_ERRORS, aws_client, error_code
from payments.domain.errors import ConcurrentUpdate, StorageUnavailable

logger = Logger(child=True)

CONDITION_FAILED = "ConditionalCheckFailedException"


# DynamoDB JSON, for the values our tables hold: strings, whole numbers, booleans, bytes, maps and
# lists of them, null inside a map or list, and sets of strings (an open review's reasons). Written
# here rather than taken from boto3's TypeSerializer: importing boto3 imports s3transfer and
# multiprocessing, tens of milliseconds of every cold start for two small functions, and ours does
# not go through Decimal on every number.
def encode(value: Any) -> dict[str, Any]:
    """One value in DynamoDB JSON."""
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):  # before int: a bool is an int
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, (dict, Mapping)):  # dict first: the abstract Mapping check is the slow one
        return {"M": {str(name): encode(inner) for name, inner in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [encode(inner) for inner in value]}
    if isinstance(value, (bytes, bytearray)):
        return {"B": bytes(value)}
    if value is None:
        return {"NULL": True}
    if isinstance(value, (set, frozenset)) and value and all(isinstance(inner, str) for inner in value):
        return {"SS": sorted(value)}
    # Floats have no place in money state, and DynamoDB has no empty set: refuse rather than guess.
    raise TypeError(f"no DynamoDB encoding for {type(value).__name__}")


def decode(value: Mapping[str, Any]) -> Any:
    """One value from DynamoDB JSON; numbers are whole numbers everywhere in our tables."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return inner
    if kind == "N":
        return _whole_number(inner)
    if kind == "M":
        return {name: decode(item) for name, item in inner.items()}
    if kind == "L":
        return [decode(item) for item in inner]
    if kind == "BOOL":
        return bool(inner)
    if kind == "NULL":
        return None
    if kind == "B":
        return bytes(inner)
    if kind == "SS":
        return set(inner)
    if kind == "NS":
        return {_whole_number(number) for number in inner}
    if kind == "BS":
        return {bytes(item) for item in inner}
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:  # written as 1E+2 or 5.0 by someone else: still the whole number it holds
        return int(Decimal(text))


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """An item in DynamoDB JSON; attributes whose value is None are left out."""
    return {name: encode(value) for name, value in values.items() if value is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item's values."""
    return {name: decode(value) for name, value in item.items()}


def expression_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """ExpressionAttributeValues: `{"now": x}` becomes `{":now": <x in DynamoDB JSON>}`."""
    return {f":{name}": encode(value) for name, value in values.items()}


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

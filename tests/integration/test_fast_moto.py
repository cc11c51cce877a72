"""moto with tests/support/fast_moto.py's changes still refuses what DynamoDB refuses, and an
update expression remembered from one request never carries that request's values into another."""

import pytest
from botocore.exceptions import ClientError

from tests.support.aws import TABLE_NAME, aws_client

pytestmark = pytest.mark.usefixtures("aws")

KEY = {"pk": {"S": "ORDER#OC-fast-moto"}}


def update(expression: str, values: dict | None = None, names: dict | None = None) -> dict:
    request = {"TableName": TABLE_NAME, "Key": KEY, "UpdateExpression": expression, "ReturnValues": "ALL_NEW"}
    if values:
        request["ExpressionAttributeValues"] = values
    if names:
        request["ExpressionAttributeNames"] = names
    return aws_client("dynamodb").update_item(**request)["Attributes"]


def refusal(expression: str, values: dict | None = None, names: dict | None = None) -> str:
    with pytest.raises(ClientError) as refused:
        update(expression, values, names)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    return refused.value.response["Error"]["Message"]


def test_the_same_expression_applies_each_requests_own_values():
    for amount in ("100", "250", "7"):
        attributes = update("SET amount = :amount, note = :note", {":amount": {"N": amount}, ":note": {"S": amount}})
        assert attributes["amount"] == {"N": amount}
        assert attributes["note"] == {"S": amount}


def test_a_path_set_twice_is_refused_wherever_it_sits_in_the_expression():
    one = {":one": {"N": "1"}}
    assert "Two document paths overlap" in refusal("SET a = :one, a = :one", one)
    assert "Two document paths overlap" in refusal("SET b = :one, c = :one, d = :one, e = :one, b = :one", one)
    assert "Two document paths overlap" in refusal("SET f = :one, g.h = :one, g = :one", one)
    assert "Two document paths overlap" in refusal("SET #x = :one, #y = :one", one, {"#x": "same", "#y": "same"})
    assert "Two document paths overlap" in refusal("SET i = :one REMOVE j, k, i", one)


def test_two_clauses_of_one_kind_are_refused():
    one = {":one": {"N": "1"}}
    assert 'The "SET" section can only be used once' in refusal("SET a = :one SET b = :one", one)
    assert 'The "REMOVE" section can only be used once' in refusal("REMOVE a REMOVE b")
    assert 'The "ADD" section can only be used once' in refusal("ADD a :one SET b = :one ADD c :one", one)


def test_a_malformed_expression_is_refused_every_time():
    for _ in range(2):
        assert "Invalid UpdateExpression" in refusal("SET = :one", {":one": {"N": "1"}})


def test_every_kind_of_value_reads_back_as_written():
    item = {
        **KEY,
        "text": {"S": "x"},
        "number": {"N": "12"},
        "blob": {"B": b"\x00\x01"},
        "flag": {"BOOL": False},
        "nothing": {"NULL": True},
        "texts": {"SS": ["a", "b"]},
        "numbers": {"NS": ["1", "2"]},
        "map": {"M": {"inner": {"L": [{"S": "y"}, {"N": "3"}, {"M": {}}]}}},
    }
    client = aws_client("dynamodb")
    client.put_item(TableName=TABLE_NAME, Item=item)
    for _ in range(2):
        read = client.get_item(TableName=TABLE_NAME, Key=KEY, ConsistentRead=True)["Item"]
        assert {name: value for name, value in read.items() if name not in ("texts", "numbers")} == {
            name: value for name, value in item.items() if name not in ("texts", "numbers")
        }
        assert sorted(read["texts"]["SS"]) == ["a", "b"] and sorted(read["numbers"]["NS"]) == ["1", "2"]
        (queried,) = client.query(
            TableName=TABLE_NAME,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": KEY["pk"]},
        )["Items"]
        assert queried["map"] == item["map"] and queried["blob"] == item["blob"]

"""Our DynamoDB JSON codec against boto3's TypeSerializer and TypeDeserializer, an independent
reading: the same wire form for every value our tables hold, and the same values back (numbers as
whole numbers, not Decimal)."""

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from payments.adapters.dynamodb import decode, encode, expression_values, from_item, to_item

scalars = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.booleans(),
    st.binary(max_size=20),
    st.frozensets(st.text(max_size=5), min_size=1, max_size=4),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)


def as_boto3_reads(value: Any) -> Any:
    """boto3's reading of a value, in the form ours gives: Decimal as int, Binary as bytes."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, Binary):
        return value.value  # type: ignore[attr-defined]  # the stubs lack Binary.value
    if isinstance(value, dict):
        return {name: as_boto3_reads(inner) for name, inner in value.items()}
    if isinstance(value, list):
        return [as_boto3_reads(inner) for inner in value]
    return value


def canonical(encoded: Any) -> Any:
    """Wire forms compared without the order of a set's members (a set has none)."""
    if isinstance(encoded, dict):
        return {kind: sorted(inner) if kind == "SS" else canonical(inner) for kind, inner in encoded.items()}
    if isinstance(encoded, list):
        return [canonical(inner) for inner in encoded]
    return encoded


@given(values)
def test_encodes_as_boto3_does(value):
    assert canonical(encode(value)) == canonical(TypeSerializer().serialize(value))


@given(values)
def test_reads_back_what_it_wrote_and_what_boto3_wrote(value):
    written = TypeSerializer().serialize(value)
    assert decode(encode(value)) == decode(written) == as_boto3_reads(TypeDeserializer().deserialize(written))


def test_items_leave_out_none_and_expression_values_take_colons():
    assert to_item({"a": "x", "b": None, "c": 3}) == {"a": {"S": "x"}, "c": {"N": "3"}}
    assert from_item({"a": {"S": "x"}, "c": {"N": "3"}, "n": {"NULL": True}}) == {"a": "x", "c": 3, "n": None}
    assert expression_values({"now": 5, "seen": None}) == {":now": {"N": "5"}, ":seen": {"NULL": True}}


def test_numbers_another_writer_spelled_otherwise_are_still_whole():
    assert decode({"N": "1E+2"}) == 100
    assert decode({"NS": ["1", "2"]}) == {1, 2}


@pytest.mark.parametrize("value", [1.5, Decimal("1.5"), set(), frozenset({1, 2}), object()])
def test_refuses_what_has_no_place_in_our_tables(value):
    with pytest.raises(TypeError):
        encode(value)


def test_refuses_an_unknown_type():
    with pytest.raises(ValueError, match="unknown DynamoDB type"):
        decode({"X": "1"})

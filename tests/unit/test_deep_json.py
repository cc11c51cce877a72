"""JSON nested deeper than Python's decoder goes (it raises RecursionError, not ValueError), or
larger than a parser takes, in everything we parse: our routes' bodies, ETpay's answers (session
and status API), notification bodies and JWT segments, both queues' messages, secrets and the
review cursor. Each parser answers with its own refusal, never an error the edge would make a 500.
Generated deep and mixed nestings, the same on every run (derandomized)."""

import base64
import json
from typing import cast

import pytest
import urllib3
from hypothesis import example, given, settings
from hypothesis import strategies as st

from etpay.client import EtpayClient
from etpay.errors import EtpayResponseError, InvalidNotification
from etpay.notification import read_notification, token_from_body, verify_notification
from etpay.sessions import SessionRequest
from payments.adapters.queues import InvalidCheckMessage, task_from_message, webhooks_from_sqs_event
from payments.adapters.secrets import UnusableSecret, json_object
from payments.api.validation import parse_json_object
from payments.domain.errors import ValidationFailed
from payments.domain.reviews import decode_cursor
from tests.unit.etpay.test_etpay_client import CREDENTIALS, Answer, Pool

DEPTHS = st.sampled_from([1, 2, 100, 999, 1000, 1001, 5000, 20_000])


@st.composite
def nestings(draw: st.DrawFn) -> str:
    """A JSON text nested `depth` deep, of lists, objects or both, closed or not."""
    depth = draw(DEPTHS)
    kinds = draw(st.lists(st.sampled_from(["[", '{"a":']), min_size=1, max_size=3))
    openers = "".join(kinds[level % len(kinds)] for level in range(depth))
    closers = "".join("]" if kinds[level % len(kinds)] == "[" else "}" for level in reversed(range(depth)))
    inner = draw(st.sampled_from(["1", '"x"', "null", "[]", "{}"]))
    closed = draw(st.booleans())
    return openers + inner + (closers if closed else "")


def DEEP(test):  # noqa: N802 - a decorator, named as the settings it stands for
    """20 generated nestings, the same every run, and always the two deepest kinds."""
    deep_list = "[" * 20_000 + "1" + "]" * 20_000
    deep_object = '{"a":' * 20_000 + "1" + "}" * 20_000
    return settings(derandomize=True, max_examples=20, deadline=None)(example(deep_list)(example(deep_object)(test)))


@DEEP
@given(nestings())
def test_a_request_body_is_a_validation_error(text):
    with pytest.raises(ValidationFailed):
        value = parse_json_object(text)
        # Shallow enough to decode: a body that is not an object is refused, an object taken.
        assert isinstance(value, dict)
        raise ValidationFailed({"body": "decoded"})


@DEEP
@given(nestings())
def test_a_notification_body_holds_no_token(text):
    assert token_from_body(text, "application/json") in (None, text.strip())


@DEEP
@given(nestings())
def test_a_token_with_a_deep_segment_is_an_invalid_notification(text):
    segment = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    token = f"eyJhbGciOiJIUzI1NiJ9.{segment}.c2ln"
    with pytest.raises(InvalidNotification):
        read_notification(token)
    with pytest.raises(InvalidNotification):
        verify_notification(read_notification(token), "k" * 43)


@DEEP
@given(nestings())
def test_a_check_queue_message_is_unreadable(text):
    with pytest.raises(InvalidCheckMessage):
        task_from_message(text)


@DEEP
@given(nestings())
def test_a_webhook_queue_message_names_no_event(text):
    (webhook,) = webhooks_from_sqs_event({"Records": [{"messageId": "m", "body": text}]})
    assert webhook.event_id is None


@DEEP
@given(nestings())
def test_a_secret_is_unusable(text):
    with pytest.raises(UnusableSecret):
        value = json_object(text)
        assert isinstance(value, dict)
        raise UnusableSecret("decoded")


@DEEP
@given(nestings())
def test_a_review_cursor_is_a_validation_error(text):
    cursor = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    with pytest.raises(ValidationFailed):
        decode_cursor(cursor)


@DEEP
@given(nestings())
def test_an_etpay_answer_is_a_response_error(text):
    client = EtpayClient(CREDENTIALS, pool=cast(urllib3.PoolManager, Pool(Answer(text.encode()))))
    # None of these is a session answer (no token) ...
    with pytest.raises(EtpayResponseError):
        client.initialize_session(SessionRequest("OC-1", 1000))
    # ... and a status answer is a list of records, or refused as a response error.
    try:
        records = client.check_payment_status(session_token="s1")
    except EtpayResponseError:
        return
    assert all(isinstance(record, dict) for record in records)


def test_the_parsers_take_what_is_shallow_enough():
    # The other side of the same parsers: ordinary JSON still goes through.
    assert parse_json_object('{"a": [1]}') == {"a": [1]}
    assert json.loads(json.dumps(json_object('{"k": "v"}'))) == {"k": "v"}
    assert task_from_message('{"merchant_order_id": "OC-1", "session_token": "s"}').session_token == "s"

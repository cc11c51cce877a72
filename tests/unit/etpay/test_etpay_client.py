"""The ETpay client on answers the sandbox cannot give: each way an answer can be unusable or break
off is a distinct, log-safe error, and nothing is retried."""

import json
from datetime import UTC, datetime
from typing import cast

import pytest
import urllib3

from etpay.client import MAX_RESPONSE_BYTES, EtpayClient, parse_retry_after
from etpay.credentials import Credentials
from etpay.errors import EtpayRateLimited, EtpayResponseError, EtpayTimeout, EtpayUnavailable
from etpay.sessions import SessionRequest

CREDENTIALS = Credentials.from_mapping(
    {
        "merchant_code": "m",
        "merchant_api_token": "token-" + "t" * 20,
        "api_url": "https://api.etpay.example",
        "pmt_url": "https://pmt.etpay.example",
    }
)


class Answer:
    def __init__(
        self,
        body: bytes = b"",
        status: int = 200,
        read_error: Exception | None = None,
        headers: dict[str, str] | None = None,
    ):
        self.status = status
        self.headers = headers or {}
        self._body = body
        self._read_error = read_error

    def read(self, amount: int) -> bytes:
        if self._read_error is not None:
            raise self._read_error
        return self._body[:amount]

    def release_conn(self) -> None:
        pass


class Pool:
    """urllib3's pool as the client uses it: one answer (or error) per request. EtpayClient's
    `pool` is annotated urllib3.PoolManager, hence the casts where one is passed."""

    def __init__(self, answer: Answer | Exception):
        self._answer = answer
        self.requests = 0

    def request(self, *args, **kwargs):
        self.requests += 1
        if isinstance(self._answer, Exception):
            raise self._answer
        return self._answer


def client(answer: Answer | Exception) -> EtpayClient:
    return EtpayClient(CREDENTIALS, pool=cast(urllib3.PoolManager, Pool(answer)))


def json_answer(value) -> Answer:
    return Answer(json.dumps(value).encode())


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (json_answer(["a list"]), EtpayResponseError),
        (json_answer({"token": "has space", "signature_token": "s" * 20}), EtpayResponseError),
        (json_answer({"signature_token": "s" * 20}), EtpayResponseError),
        (Answer(b"x" * (MAX_RESPONSE_BYTES + 1)), EtpayResponseError),
        (Answer(b"<html>"), EtpayResponseError),
        (Answer(b"{}", status=503), EtpayUnavailable),
        # urllib3 wants the pool the error came from (it only names it in the message): none here.
        (Answer(read_error=urllib3.exceptions.ReadTimeoutError(None, "/", "slow")), EtpayTimeout),  # type: ignore[arg-type]
        (Answer(read_error=urllib3.exceptions.ProtocolError("connection broken")), EtpayUnavailable),
        (urllib3.exceptions.ProtocolError("reset"), EtpayUnavailable),
        (urllib3.exceptions.ConnectTimeoutError("slow"), EtpayTimeout),
    ],
)
def test_an_unusable_session_answer_is_a_distinct_error_that_never_quotes_the_token(answer, error):
    with pytest.raises(error) as raised:
        client(answer).initialize_session(SessionRequest("OC-1", 1000))

    assert CREDENTIALS.merchant_api_token not in str(raised.value)


def test_a_single_status_object_is_read_as_a_list_of_one():
    record = {"session_token": "s1", "payment_status": True}

    assert client(json_answer(record)).check_payment_status(session_token="s1") == [record]


@pytest.mark.parametrize("payload", ["text", [1, 2]])
def test_a_status_answer_that_is_not_payment_objects_is_refused(payload):
    with pytest.raises(EtpayResponseError):
        client(json_answer(payload)).check_payment_status(session_token="s1")


def test_a_status_check_needs_a_lookup_key_and_asks_nothing_without_one():
    pool = Pool(json_answer([]))

    with pytest.raises(ValueError):
        EtpayClient(CREDENTIALS, pool=cast(urllib3.PoolManager, pool)).check_payment_status()
    assert pool.requests == 0


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [
        (429, {}, None),
        (429, {"Retry-After": "120"}, 120.0),
        (503, {"Retry-After": "7"}, 7.0),
        (429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date in the past: at once
        (429, {"Retry-After": "soon"}, None),
    ],
)
def test_a_request_to_slow_down_is_its_own_error_with_the_wait_asked_for(status, headers, retry_after):
    client = EtpayClient(CREDENTIALS, pool=cast(urllib3.PoolManager, Pool(Answer(b"{}", status, headers=headers))))

    with pytest.raises(EtpayRateLimited) as raised:
        client.check_payment_status(session_token="s")

    assert raised.value.status == status
    assert raised.value.retry_after == retry_after


def test_retry_after_as_an_http_date_counts_from_now():
    now = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Sun, 29 Nov 2026 12:01:30 GMT", now) == 90.0


@pytest.mark.parametrize("value", ["Sun, 29 Nov 2026 12:01:30 -0000", "Sun, 29 Nov 2026 12:01:30", "soon"])
def test_a_retry_after_date_with_no_known_zone_is_unreadable(value):
    # "-0000" is RFC 5322's "zone unknown": the wait it asks for is unknowable, so the default applies.
    assert parse_retry_after(value, datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)) is None

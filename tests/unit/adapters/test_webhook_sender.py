"""One webhook attempt on answers a local receiver cannot easily give: how an attempt that got no
HTTP answer is recorded (its kind is what the merchant reads in the delivery record), what a
broken or oversized answer to a 2xx means, and SQS records whose receive count is unreadable."""

import json
from typing import cast

import pytest
import urllib3

from payments.adapters.queues import webhooks_from_sqs_event
from payments.adapters.webhook_http import WEBHOOK_MAX_RESPONSE_BYTES, WebhookSender
from payments.domain.webhooks import CONNECTION_ERROR, TIMEOUT, TLS_ERROR

URL = "https://merchant.example/webhooks"


class Answer:
    def __init__(self, status: int, body: bytes = b"", read_error: Exception | None = None):
        self.status = status
        self._body = body
        self._read_error = read_error
        self.released = self.closed = False

    def read(self, amount: int) -> bytes:
        if self._read_error is not None:
            raise self._read_error
        return self._body[:amount]

    def release_conn(self) -> None:
        self.released = True

    def close(self) -> None:
        self.closed = True


class Pool:
    """urllib3's pool as the sender uses it: one answer, or the error the request raised.
    WebhookSender's `pool` is annotated urllib3.PoolManager, hence the cast where one is passed."""

    def __init__(self, answer: Answer | Exception):
        self._answer = answer

    def request(self, *args, **kwargs):
        if isinstance(self._answer, Exception):
            raise self._answer
        return self._answer


def post(answer: Answer | Exception):
    return WebhookSender(pool=cast(urllib3.PoolManager, Pool(answer))).post(URL, "{}", {"webhook-id": "evt_1"})


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        # urllib3 wants the pool (or connection) an error came from; the sender reads only the
        # error's type and reason, so none here.
        (urllib3.exceptions.SSLError("certificate verify failed"), TLS_ERROR),
        (urllib3.exceptions.MaxRetryError(None, URL, urllib3.exceptions.SSLError("bad handshake")), TLS_ERROR),  # type: ignore[arg-type]
        (urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError()), CONNECTION_ERROR),
        (urllib3.exceptions.NewConnectionError(None, "Connection refused"), CONNECTION_ERROR),  # type: ignore[arg-type]
        (urllib3.exceptions.ReadTimeoutError(None, URL, "read timed out"), TIMEOUT),  # type: ignore[arg-type]
    ],
)
def test_an_attempt_without_an_answer_is_not_delivered_and_says_why(error, kind):
    outcome = post(error)

    assert (outcome.delivered, outcome.status_code, outcome.error) == (False, None, kind)


def test_a_2xx_whose_body_breaks_off_is_delivered_and_its_connection_not_reused():
    # The merchant's status is its answer; the body means nothing to us.
    answer = Answer(200, read_error=urllib3.exceptions.ProtocolError("IncompleteRead"))

    outcome = post(answer)

    assert (outcome.delivered, outcome.status_code) == (True, 200)
    assert answer.closed and not answer.released


def test_an_oversized_answer_is_not_read_to_its_end_and_its_connection_is_closed():
    answer = Answer(500, body=b"x" * (WEBHOOK_MAX_RESPONSE_BYTES + 1))

    outcome = post(answer)

    assert (outcome.delivered, outcome.status_code) == (False, 500)
    assert answer.closed and not answer.released


def test_a_short_answer_returns_its_connection_to_the_pool():
    answer = Answer(204)

    assert post(answer).delivered
    assert answer.released and not answer.closed


@pytest.mark.parametrize(
    "attributes", [{}, {"ApproximateReceiveCount": "many"}, {"ApproximateReceiveCount": None}, None]
)
def test_a_message_whose_receive_count_is_unreadable_counts_as_its_first_attempt(attributes):
    # Never its last: an unreadable count must not dead-letter a webhook early.
    record = {"messageId": "m-1", "receiptHandle": "r-1", "body": json.dumps({"event_id": "evt_1"})}
    if attributes is not None:
        record["attributes"] = attributes

    (webhook,) = webhooks_from_sqs_event({"Records": [record]})

    assert (webhook.event_id, webhook.receive_count, webhook.redelivery) == ("evt_1", 1, False)

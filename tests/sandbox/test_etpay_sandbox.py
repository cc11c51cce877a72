"""The local ETpay sandbox behaves as docs/ETPAY.md describes ETpay, over real HTTP on 127.0.0.1."""

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import urllib3

from local.etpay_sandbox import EtpaySandbox, SessionFinished, UnknownSession

MERCHANT_CODE = "sandbox-test-merchant"
MERCHANT_API_TOKEN = "sandbox-test-api-token-0123456789"
REPO_ROOT = Path(__file__).resolve().parents[2]
# Short enough that hanging requests keep the suite fast, long enough for a loaded machine.
CLIENT_TIMEOUT = urllib3.Timeout(connect=2.0, read=3.0)
HANG_TIMEOUT = urllib3.Timeout(connect=2.0, read=0.3)
CLAIMS = {
    "session_token",
    "merchant_order_id",
    "merchant_amount",
    "merchant_currency",
    "merchant_name",
    "merchant_account",
    "merchant_account_bank",
    "merchant_account_type",
    "user_bank",
    "user_rut",
    "user_account",
    "payment_token",
    "payment_status",
    "payment_process",
    "iat",
}


# -- helpers and factories -------------------------------------------------------------------------------
class Receiver:
    """A merchant's notification endpoint: records every POST and answers `reply_status`."""

    def __init__(self):
        self.received: list[dict[str, Any]] = []
        self.reply_status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(
                    {"path": self.path, "content_type": self.headers.get("Content-Type"), "body": json.loads(body)}
                )
                data = json.dumps({"received": True}).encode()
                self.send_response(receiver.reply_status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/notifications"

    @property
    def jwts(self) -> list[str]:
        return [item["body"]["payment"] for item in self.received]

    def start(self) -> "Receiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def etpay():
    with EtpaySandbox(
        merchant_code=MERCHANT_CODE, merchant_api_token=MERCHANT_API_TOKEN, port=0, merchant_name="Tienda <Demo>"
    ) as sandbox:
        yield sandbox


@pytest.fixture
def receiver():
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def http():
    return urllib3.PoolManager(retries=False, timeout=CLIENT_TIMEOUT)


def session_request(merchant_order_id: str = "OC-700104", order_amount: int = 50_000, **extra) -> dict[str, Any]:
    return {
        "merchant_code": MERCHANT_CODE,
        "merchant_api_token": MERCHANT_API_TOKEN,
        "merchant_order_id": merchant_order_id,
        "order_amount": order_amount,
        **extra,
    }


def post_json(http, url: str, body: Any, **kwargs) -> urllib3.BaseHTTPResponse:
    return http.request(
        "POST", url, body=json.dumps(body), headers={"Content-Type": "application/json"}, redirect=False, **kwargs
    )


def initialize(http, etpay: EtpaySandbox, **fields) -> urllib3.BaseHTTPResponse:
    return post_json(http, f"{etpay.api_url}/session/initialize", session_request(**fields))


def open_session(http, etpay: EtpaySandbox, **fields) -> str:
    reply = initialize(http, etpay, **fields)
    assert reply.status == 200, reply.data
    return reply.json()["token"]


def submit_form(http, url: str, **fields) -> urllib3.BaseHTTPResponse:
    return http.request("POST", url, fields=fields, encode_multipart=False, redirect=False)


def verified_claims(etpay: EtpaySandbox, token: str, notification: str) -> dict[str, Any]:
    key = etpay.sessions[token].signature_token
    return jwt.decode(notification, key, algorithms=["HS256"], options={"require": ["iat"]})


def check_status(http, etpay: EtpaySandbox, **keys) -> urllib3.BaseHTTPResponse:
    body = {"merchant_code": MERCHANT_CODE, "merchant_api_token": MERCHANT_API_TOKEN, **keys}
    return post_json(http, f"{etpay.api_url}/merchant/check_payment_status", body)


def control(http, etpay: EtpaySandbox, path: str, body: Any = None) -> urllib3.BaseHTTPResponse:
    return post_json(http, f"{etpay.base_url}/_control/{path}", {} if body is None else body)


# -- POST /session/initialize ------------------------------------------------------------------------------
class TestInitialize:
    def test_a_valid_request_opens_a_session(self, http, etpay):
        # given a request with every optional field ETpay documents
        request = session_request(
            customer_email="payer@example.com",
            metadata=[{"name": "Product", "value": "Shoes", "show": True}],
            user_bank_code="cl_bci",
            user_rut="111111111",
            is_rut_block=True,
            payment_completed_url="http://127.0.0.1:1/ok",
            payment_cancellation_url="http://127.0.0.1:1/cancel",
            payment_webhook_url="http://127.0.0.1:1/hook",
            concat="&",
        )

        # when
        reply = post_json(http, f"{etpay.api_url}/session/initialize", request)

        # then
        assert reply.status == 200
        body = reply.json()
        assert set(body) == {"token", "signature_token", "terms_url"}
        assert body["terms_url"] is None
        assert len(body["signature_token"]) >= 43  # 32 random bytes, urlsafe base64
        session = etpay.sessions[body["token"]]
        assert (session.merchant_order_id, session.order_amount, session.status) == ("OC-700104", 50_000, "pending")
        assert session.signature_token == body["signature_token"]
        assert session.request == request
        assert session.payment_token is None
        assert etpay.initialize_requests == [request]

    def test_every_session_gets_fresh_tokens(self, http, etpay):
        first = initialize(http, etpay).json()
        second = initialize(http, etpay).json()

        assert first["token"] != second["token"]
        assert first["signature_token"] != second["signature_token"]

    @pytest.mark.parametrize(
        "credentials",
        [
            {"merchant_api_token": "wrong"},
            {"merchant_code": "someone-else"},
            {"merchant_api_token": None},
        ],
    )
    def test_wrong_credentials_are_401(self, http, etpay, credentials):
        reply = post_json(http, f"{etpay.api_url}/session/initialize", {**session_request(), **credentials})

        assert reply.status == 401
        assert "message" in reply.json()
        assert etpay.sessions == {}

    @pytest.mark.parametrize(
        "fields",
        [
            {"merchant_order_id": None},
            {"merchant_order_id": 700104},
            {"merchant_order_id": ""},
            {"merchant_order_id": "x" * 65},
            {"merchant_order_id": "OC 700104"},
            {"merchant_order_id": "OC-7001ñ"},
            {"order_amount": "50000"},
            {"order_amount": 0},
            {"order_amount": -1},
            {"order_amount": 500.5},
            {"order_amount": True},
            {"customer_email": 5},
            {"metadata": {"name": "a", "value": "b", "show": True}},
            {"metadata": [{"name": "a", "value": "b"}]},
            {"metadata": [{"name": "a", "value": 1, "show": True}]},
            {"metadata": [{"name": "a", "value": "b", "show": "yes"}]},
            {"metadata": ["a"]},
            {"user_bank_code": 1},
            {"user_rut": 111111111},
            {"is_rut_block": "true"},
            {"payment_completed_url": ["http://127.0.0.1/"]},
            {"payment_cancellation_url": 1},
            {"payment_webhook_url": None},
            {"concat": "&&"},
            {"concat": ""},
        ],
    )
    def test_invalid_fields_are_400(self, http, etpay, fields):
        reply = post_json(http, f"{etpay.api_url}/session/initialize", {**session_request(), **fields})

        assert reply.status == 400
        assert reply.json()["message"]
        assert etpay.sessions == {}

    def test_a_missing_order_amount_is_400(self, http, etpay):
        request = session_request()
        del request["order_amount"]

        assert post_json(http, f"{etpay.api_url}/session/initialize", request).status == 400

    @pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"", b'"text"'])
    def test_a_body_that_is_not_a_json_object_is_400_and_still_recorded(self, http, etpay, raw):
        reply = http.request("POST", f"{etpay.api_url}/session/initialize", body=raw)

        assert reply.status == 400
        assert len(etpay.initialize_requests) == 1

    def test_a_64_character_order_id_with_hyphen_and_underscore_is_accepted(self, http, etpay):
        assert initialize(http, etpay, merchant_order_id="A-_" + "9" * 61).status == 200


# -- injected failures -------------------------------------------------------------------------------------
class TestInitializeFailures:
    def test_error_answers_the_status_with_a_json_message_once(self, http, etpay):
        etpay.fail_next_initialize("error", status=503)

        failed = initialize(http, etpay)
        retried = initialize(http, etpay)

        assert failed.status == 503
        assert "message" in failed.json()
        assert retried.status == 200
        assert len(etpay.sessions) == 1
        assert len(etpay.initialize_requests) == 2

    def test_failures_apply_before_the_credentials_are_checked(self, http, etpay):
        etpay.fail_next_initialize("error", status=500)

        reply = post_json(http, f"{etpay.api_url}/session/initialize", {"merchant_api_token": "wrong"})

        assert reply.status == 500

    def test_malformed_is_200_with_a_body_that_is_not_json(self, http, etpay):
        etpay.fail_next_initialize("malformed")

        reply = initialize(http, etpay)

        assert reply.status == 200
        with pytest.raises(ValueError):
            json.loads(reply.data)
        assert etpay.sessions == {}

    def test_incomplete_is_200_json_without_a_signature_token(self, http, etpay):
        etpay.fail_next_initialize("incomplete")

        reply = initialize(http, etpay)

        assert reply.status == 200
        assert "token" in reply.json()
        assert "signature_token" not in reply.json()

    def test_count_fails_that_many_calls(self, http, etpay):
        etpay.fail_next_initialize("error", count=2, status=502)

        statuses = [initialize(http, etpay).status for _ in range(3)]

        assert statuses == [502, 502, 200]

    def test_slow_answers_correctly_after_the_delay(self, http, etpay):
        etpay.fail_next_initialize("slow", delay=0.3)

        started = time.monotonic()
        reply = initialize(http, etpay)

        assert time.monotonic() - started >= 0.3
        assert reply.status == 200
        assert reply.json()["token"] in etpay.sessions

    def test_hang_never_answers_until_released_and_then_opens_the_session(self, http, etpay):
        # given
        etpay.fail_next_initialize("hang")

        # when the merchant's client gives up
        with pytest.raises(urllib3.exceptions.ReadTimeoutError):
            post_json(http, f"{etpay.api_url}/session/initialize", session_request(), timeout=HANG_TIMEOUT)
        assert etpay.sessions == {}
        etpay.release_hangs()

        # then ETpay did open the session the merchant never heard about (a timeout is ambiguous)
        deadline = time.monotonic() + 2
        while not etpay.sessions and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(etpay.sessions) == 1
        assert initialize(http, etpay).status == 200

    def test_release_hangs_does_not_release_a_hang_injected_later(self, http, etpay):
        etpay.release_hangs()
        etpay.fail_next_initialize("hang")

        with pytest.raises(urllib3.exceptions.ReadTimeoutError):
            post_json(http, f"{etpay.api_url}/session/initialize", session_request(), timeout=HANG_TIMEOUT)

    def test_stop_releases_a_hanging_request_at_once(self, http):
        # given a request held by hang, whose client would wait a long time
        etpay = EtpaySandbox(MERCHANT_CODE, MERCHANT_API_TOKEN).start()
        etpay.fail_next_initialize("hang")
        outcome: list[Any] = []

        def call():
            try:
                outcome.append(initialize(http, etpay).status)
            except urllib3.exceptions.HTTPError as error:
                outcome.append(error)

        caller = threading.Thread(target=call)
        caller.start()
        while not etpay.initialize_requests:
            time.sleep(0.01)

        # when
        started = time.monotonic()
        etpay.stop()
        caller.join(2)

        # then the connection is closed, no answer, and nothing waited for the client's timeout
        assert time.monotonic() - started < 2
        assert not caller.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], urllib3.exceptions.HTTPError)
        assert etpay.sessions == {}

    @pytest.mark.parametrize("arguments", [{"mode": "explode"}, {"mode": "error", "count": 0}])
    def test_unknown_modes_and_bad_counts_are_refused(self, etpay, arguments):
        with pytest.raises(ValueError):
            etpay.fail_next_initialize(**arguments)


# -- the funnel --------------------------------------------------------------------------------------------
class TestFunnelPage:
    def test_it_shows_the_order_and_escapes_what_the_merchant_sent(self, http, etpay):
        # given
        token = open_session(
            http,
            etpay,
            order_amount=1_234_567,
            metadata=[
                {"name": "Product", "value": "<script>alert(1)</script>", "show": True},
                {"name": "Internal", "value": "do-not-show", "show": False},
            ],
        )

        # when
        page = http.request("GET", f"{etpay.pmt_url}/session/{token}")

        # then
        html = page.data.decode()
        assert page.status == 200
        assert page.headers["Content-Type"].startswith("text/html")
        assert "Tienda &lt;Demo&gt;" in html
        assert "OC-700104" in html
        assert "$1.234.567 CLP" in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script>" not in html
        assert "do-not-show" not in html
        assert "<select id='bank' name='bank'>" in html
        assert "value='CL_TEST'" in html
        assert "value='CL_ESTADO'" in html
        assert "<button id='pay'" in html
        assert "<button id='cancel'" in html
        assert f"action='/session/{token}/pay'" in html
        assert f"action='/session/{token}/cancel'" in html

    def test_the_requested_bank_is_preselected(self, http, etpay):
        token = open_session(http, etpay, user_bank_code="cl_santander")

        html = http.request("GET", f"{etpay.pmt_url}/session/{token}").data.decode()

        assert "value='CL_SANTANDER' selected" in html

    def test_an_unknown_session_is_a_404_page(self, http, etpay):
        page = http.request("GET", f"{etpay.pmt_url}/session/no-such-token")

        assert page.status == 404
        assert "No such payment session" in page.data.decode()

    def test_a_finished_session_shows_its_result_and_no_buttons(self, http, etpay):
        token = open_session(http, etpay)
        etpay.complete(token, "failed", deliver=False)

        html = http.request("GET", f"{etpay.pmt_url}/session/{token}").data.decode()

        assert "data-status='failed'" in html
        assert "id='pay'" not in html
        assert "id='cancel'" not in html


class TestFunnelActions:
    def test_pay_redirects_with_the_jwt_and_notifies_the_merchant(self, http, etpay, receiver):
        # given
        token = open_session(
            http,
            etpay,
            user_rut="111111111",
            payment_webhook_url=receiver.url,
            payment_completed_url="http://127.0.0.1:9/shop/done",
            payment_cancellation_url="http://127.0.0.1:9/shop/cancelled",
        )

        # when the payer picks a bank and pays
        reply = submit_form(http, f"{etpay.pmt_url}/session/{token}/pay", bank="CL_BCI")

        # then the browser goes back to the shop with the JWT
        assert reply.status == 303
        location = urlsplit(reply.headers["Location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == "http://127.0.0.1:9/shop/done"
        (redirect_jwt,) = parse_qs(location.query)["jwt"]
        # and the merchant got the same notification as JSON {"payment": jwt}
        assert receiver.received[0]["content_type"] == "application/json"
        assert receiver.received[0]["path"] == "/notifications"
        assert receiver.jwts == [redirect_jwt]
        session = etpay.sessions[token]
        assert session.status == "paid"
        assert session.notifications == [redirect_jwt]
        # and the notification is signed with the session's key and carries ETpay's claims
        claims = verified_claims(etpay, token, redirect_jwt)
        assert set(claims) == CLAIMS
        assert claims["session_token"] == token
        assert claims["merchant_order_id"] == "OC-700104"
        assert claims["merchant_amount"] == 50_000 and type(claims["merchant_amount"]) is int
        assert claims["merchant_currency"] == "CLP"
        assert claims["merchant_name"] == "Tienda <Demo>"
        assert claims["user_bank"] == "CL_BCI"
        assert claims["user_rut"] == "111111111"
        assert claims["payment_status"] is True
        assert claims["payment_process"] == "auto"
        assert claims["payment_token"] == session.payment_token
        assert abs(claims["iat"] - time.time()) < 10
        assert jwt.get_unverified_header(redirect_jwt)["alg"] == "HS256"

    def test_cancel_redirects_to_the_cancellation_url_and_notifies_a_failure(self, http, etpay, receiver):
        token = open_session(
            http, etpay, payment_webhook_url=receiver.url, payment_cancellation_url="http://127.0.0.1:9/cancelled"
        )

        reply = submit_form(http, f"{etpay.pmt_url}/session/{token}/cancel")

        assert reply.status == 303
        assert reply.headers["Location"].startswith("http://127.0.0.1:9/cancelled?jwt=")
        claims = verified_claims(etpay, token, receiver.jwts[0])
        assert claims["payment_status"] is False
        assert etpay.sessions[token].status == "failed"

    @pytest.mark.parametrize(
        ("concat", "url", "expected_prefix"),
        [
            (None, "http://127.0.0.1:9/done?order=OC-1", "http://127.0.0.1:9/done?order=OC-1&jwt="),
            (";", "http://127.0.0.1:9/done?order=OC-1", "http://127.0.0.1:9/done?order=OC-1;jwt="),
            (";", "http://127.0.0.1:9/done", "http://127.0.0.1:9/done?jwt="),
        ],
    )
    def test_the_jwt_is_appended_with_concat_when_the_url_has_a_query(self, http, etpay, concat, url, expected_prefix):
        extra = {"concat": concat} if concat else {}
        token = open_session(http, etpay, payment_completed_url=url, **extra)

        reply = submit_form(http, f"{etpay.pmt_url}/session/{token}/pay", bank="CL_TEST")

        assert reply.headers["Location"].startswith(expected_prefix)
        assert reply.headers["Location"].endswith(etpay.sessions[token].notifications[0])

    @pytest.mark.parametrize(("action", "status"), [("pay", "paid"), ("cancel", "failed")])
    def test_without_redirect_urls_the_payer_lands_on_a_result_page_a_reload_shows_again(
        self, http, etpay, action, status
    ):
        token = open_session(http, etpay)

        reply = submit_form(http, f"{etpay.pmt_url}/session/{token}/{action}", bank="CL_TEST")

        assert reply.status == 303
        assert reply.headers["Location"] == f"/session/{token}/result"
        for _ in range(2):  # the page, then a reload of it
            page = http.request("GET", f"{etpay.pmt_url}{reply.headers['Location']}", redirect=False)
            assert page.status == 200
            assert page.headers["Content-Type"].startswith("text/html")
            assert f"data-status='{status}'" in page.data.decode()
        assert len(etpay.sessions[token].notifications) == 1

    def test_a_browser_following_the_redirect_gets_the_result_page(self, http, etpay):
        token = open_session(http, etpay)

        # A pool that follows redirects: a 303 is then followed with a GET, as a browser does.
        browser = urllib3.PoolManager(timeout=CLIENT_TIMEOUT)
        page = browser.request(
            "POST", f"{etpay.pmt_url}/session/{token}/pay", fields={"bank": "CL_TEST"}, encode_multipart=False
        )
        browser.clear()

        assert page.status == 200
        assert urlsplit(page.url).path == f"/session/{token}/result"
        assert "data-status='paid'" in page.data.decode()

    def test_the_action_urls_as_a_get_lead_back_to_the_funnel(self, http, etpay):
        token = open_session(http, etpay)

        for action in ("pay", "cancel"):
            reply = http.request("GET", f"{etpay.pmt_url}/session/{token}/{action}", redirect=False)
            assert (reply.status, reply.headers["Location"]) == (303, f"/session/{token}")
        assert etpay.sessions[token].status == "pending"

    def test_the_result_page_of_an_unfinished_session_is_its_funnel(self, http, etpay):
        token = open_session(http, etpay)

        reply = http.request("GET", f"{etpay.pmt_url}/session/{token}/result", redirect=False)

        assert (reply.status, reply.headers["Location"]) == (303, f"/session/{token}")

    def test_the_result_page_of_an_unknown_session_is_a_404_page(self, http, etpay):
        page = http.request("GET", f"{etpay.pmt_url}/session/nope/result")

        assert page.status == 404
        assert "No such payment session" in page.data.decode()

    def test_paying_a_finished_session_is_409_and_sends_nothing(self, http, etpay, receiver):
        token = open_session(http, etpay, payment_webhook_url=receiver.url)
        submit_form(http, f"{etpay.pmt_url}/session/{token}/pay", bank="CL_TEST")

        again = submit_form(http, f"{etpay.pmt_url}/session/{token}/cancel")

        assert again.status == 409
        assert len(receiver.received) == 1
        assert etpay.sessions[token].status == "paid"

    def test_paying_an_unknown_session_is_404(self, http, etpay):
        assert submit_form(http, f"{etpay.pmt_url}/session/nope/pay", bank="CL_TEST").status == 404

    def test_a_webhook_off_this_machine_is_skipped_with_a_warning(self, http, etpay, caplog):
        token = open_session(
            http, etpay, payment_webhook_url="https://example.com/hook", payment_completed_url="http://127.0.0.1:9/ok"
        )

        with caplog.at_level(logging.WARNING, logger="etpay_sandbox"):
            reply = submit_form(http, f"{etpay.pmt_url}/session/{token}/pay", bank="CL_TEST")

        assert reply.status == 303
        assert etpay.sessions[token].status == "paid"
        assert any("not delivered" in record.getMessage() for record in caplog.records)


# -- POST /merchant/check_payment_status ---------------------------------------------------------------------
class TestCheckPaymentStatus:
    def test_a_session_without_a_result_is_an_empty_list(self, http, etpay):
        token = open_session(http, etpay)

        reply = check_status(http, etpay, session_token=token)

        assert (reply.status, reply.json()) == (200, [])

    def test_a_paid_session_is_found_by_each_of_its_keys(self, http, etpay):
        # given
        token = open_session(http, etpay)
        notification = etpay.complete(token, "paid", deliver=False)["jwt"]
        payment_token = etpay.sessions[token].payment_token

        # when
        replies = [
            check_status(http, etpay, session_token=token),
            check_status(http, etpay, merchant_order_id="OC-700104"),
            check_status(http, etpay, payment_token=payment_token),
            check_status(http, etpay, payment_token=payment_token, session_token=token),
        ]

        # then
        for reply in replies:
            assert reply.status == 200
            (payment,) = reply.json()
            assert set(payment) == CLAIMS
            assert payment["payment_status"] is True
            assert payment["payment_token"] == payment_token
            assert payment["merchant_amount"] == 50_000
        signed = verified_claims(etpay, token, notification)
        assert {k: v for k, v in replies[0].json()[0].items() if k != "iat"} == {
            k: v for k, v in signed.items() if k != "iat"
        }

    def test_every_finished_session_of_an_order_is_listed(self, http, etpay):
        first = open_session(http, etpay)
        second = open_session(http, etpay)
        etpay.complete(first, "failed", deliver=False)
        etpay.complete(second, "paid", deliver=False)

        payments = check_status(http, etpay, merchant_order_id="OC-700104").json()

        assert sorted(payment["payment_status"] for payment in payments) == [False, True]

    def test_keys_that_match_different_sessions_find_nothing(self, http, etpay):
        token = open_session(http, etpay)
        etpay.complete(token, "paid", deliver=False)

        assert check_status(http, etpay, session_token=token, merchant_order_id="OC-other").json() == []

    def test_a_wrong_api_token_is_401(self, http, etpay):
        reply = post_json(
            http, f"{etpay.api_url}/merchant/check_payment_status", {"merchant_api_token": "x", "session_token": "t"}
        )

        assert reply.status == 401

    def test_no_lookup_key_is_400(self, http, etpay):
        assert check_status(http, etpay).status == 400


# -- the Python API ------------------------------------------------------------------------------------------
class TestNotifications:
    def test_notification_jwt_signs_any_outcome_without_sending_it(self, http, etpay, receiver):
        token = open_session(http, etpay, payment_webhook_url=receiver.url)

        paid = verified_claims(etpay, token, etpay.notification_jwt(token, outcome="paid"))
        failed = verified_claims(etpay, token, etpay.notification_jwt(token, "failed"))
        raw = verified_claims(etpay, token, etpay.notification_jwt(token, "success"))

        assert (paid["payment_status"], failed["payment_status"], raw["payment_status"]) == (True, False, "success")
        # one payment per session: every notification names the same payment, the one complete() keeps
        assert paid["payment_token"] == failed["payment_token"] == etpay.sessions[token].payment_token
        assert receiver.received == []
        assert etpay.sessions[token].status == "pending"
        assert etpay.sessions[token].notifications == []

    def test_claim_overrides_replace_claims(self, http, etpay):
        token = open_session(http, etpay)

        claims = verified_claims(
            etpay, token, etpay.notification_jwt(token, "paid", merchant_amount=1, session_token="other")
        )

        assert (claims["merchant_amount"], claims["session_token"]) == (1, "other")

    def test_complete_records_a_raw_status_it_cannot_read_as_unknown(self, http, etpay):
        token = open_session(http, etpay)

        result = etpay.complete(token, "processing", deliver=False)

        assert verified_claims(etpay, token, result["jwt"])["payment_status"] == "processing"
        assert etpay.sessions[token].status == "unknown"

    def test_complete_delivers_and_reports_the_merchants_answer(self, http, etpay, receiver):
        token = open_session(http, etpay, payment_webhook_url=receiver.url)

        result = etpay.complete(token)

        assert (result["delivery_status"], result["delivery_body"]) == (200, {"received": True})
        assert receiver.jwts == [result["jwt"]]
        with pytest.raises(SessionFinished):
            etpay.complete(token, "failed")

    def test_redeliver_sends_the_same_notification_again(self, http, etpay, receiver):
        token = open_session(http, etpay, payment_webhook_url=receiver.url)
        first = etpay.complete(token, "paid")["jwt"]
        receiver.reply_status = 500

        again = etpay.redeliver(token)

        assert again["jwt"] == first
        assert again["delivery_status"] == 500
        assert receiver.jwts == [first, first]

    def test_a_merchant_that_is_down_is_reported_not_raised(self, http, etpay):
        token = open_session(http, etpay, payment_webhook_url="http://127.0.0.1:9/down")

        result = etpay.complete(token, "paid")

        assert result["delivery_status"] is None
        assert "unreachable" in result["delivery_error"]
        assert etpay.sessions[token].status == "paid"

    def test_an_unknown_session_is_refused(self, etpay):
        with pytest.raises(UnknownSession):
            etpay.notification_jwt("no-such-token")
        with pytest.raises(KeyError):
            etpay.complete("no-such-token")

    @pytest.mark.parametrize(
        "url",
        [
            "http://example.com/notifications",
            "http://10.0.0.1/notifications",
            "http://127.0.0.1.example.com/notifications",
            "ftp://127.0.0.1/notifications",
            "notifications",
        ],
    )
    def test_deliver_refuses_anything_off_this_machine(self, etpay, url):
        with pytest.raises(ValueError):
            etpay.deliver("a.b.c", url)

    def test_deliver_posts_the_jwt_as_json(self, etpay, receiver):
        status, body = etpay.deliver("a.b.c", receiver.url.replace("127.0.0.1", "localhost"))

        assert (status, body) == (200, {"received": True})
        assert receiver.received[0]["body"] == {"payment": "a.b.c"}

    def test_credentials_are_what_a_secret_would_hold(self, etpay):
        assert etpay.credentials() == {
            "merchant_code": MERCHANT_CODE,
            "merchant_api_token": MERCHANT_API_TOKEN,
            "api_url": etpay.base_url,
            "pmt_url": etpay.base_url,
        }
        assert etpay.api_url == etpay.pmt_url == etpay.base_url
        assert etpay.base_url.startswith("http://127.0.0.1:")

    def test_secrets_never_reach_the_logs(self, http, etpay, receiver, caplog):
        with caplog.at_level(logging.DEBUG):
            token = open_session(http, etpay, payment_webhook_url=receiver.url, payment_completed_url=receiver.url)
            submit_form(http, f"{etpay.pmt_url}/session/{token}/pay", bank="CL_TEST")
            check_status(http, etpay, session_token=token)

        assert MERCHANT_API_TOKEN not in caplog.text
        assert etpay.sessions[token].signature_token not in caplog.text
        assert receiver.jwts[0] not in caplog.text
        assert receiver.jwts[0].split(".")[1] not in caplog.text


# -- the control API ---------------------------------------------------------------------------------------
class TestControlApi:
    def test_health(self, http, etpay):
        reply = http.request("GET", f"{etpay.base_url}/_control/health")

        assert (reply.status, reply.json()) == (200, {"ok": True})

    def test_sessions_lists_each_session_with_its_key(self, http, etpay):
        token = open_session(http, etpay)

        (listed,) = http.request("GET", f"{etpay.base_url}/_control/sessions").json()

        assert listed["token"] == token
        assert listed["signature_token"] == etpay.sessions[token].signature_token
        assert (listed["merchant_order_id"], listed["order_amount"], listed["status"]) == (
            "OC-700104",
            50_000,
            "pending",
        )
        assert listed["payment_token"] is None

    def test_complete_then_redeliver(self, http, etpay, receiver):
        token = open_session(http, etpay, payment_webhook_url=receiver.url)

        completed = control(http, etpay, f"sessions/{token}/complete", {"outcome": "failed", "deliver": True})
        redelivered = control(http, etpay, f"sessions/{token}/redeliver", {"index": -1})

        assert completed.status == 200
        assert completed.json()["delivery_status"] == 200
        assert redelivered.json()["jwt"] == completed.json()["jwt"]
        assert receiver.jwts == [completed.json()["jwt"]] * 2
        assert verified_claims(etpay, token, receiver.jwts[0])["payment_status"] is False

    def test_complete_without_delivery_sends_nothing(self, http, etpay, receiver):
        token = open_session(http, etpay, payment_webhook_url=receiver.url)

        reply = control(http, etpay, f"sessions/{token}/complete", {"outcome": "paid", "deliver": False})

        assert reply.json()["delivery_status"] is None
        assert receiver.received == []
        assert etpay.sessions[token].status == "paid"

    def test_notification_builds_a_jwt_with_overrides_and_deliver_sends_it_later(self, http, etpay, receiver):
        token = open_session(http, etpay)

        built = control(
            http, etpay, f"sessions/{token}/notification", {"outcome": "paid", "overrides": {"merchant_amount": 1}}
        ).json()["jwt"]
        delivered = control(http, etpay, "deliver", {"jwt": built, "url": receiver.url})

        assert verified_claims(etpay, token, built)["merchant_amount"] == 1
        assert delivered.json() == {"delivery_status": 200, "delivery_body": {"received": True}}
        assert receiver.jwts == [built]

    def test_deliver_refuses_a_url_off_this_machine(self, http, etpay):
        reply = control(http, etpay, "deliver", {"jwt": "a.b.c", "url": "http://example.com/notifications"})

        assert reply.status == 400

    def test_initialize_failures_and_release_hangs(self, http, etpay):
        injected = control(http, etpay, "initialize-failures", {"mode": "error", "count": 1, "status": 503, "delay": 0})
        released = control(http, etpay, "release-hangs")

        assert (injected.status, released.status) == (200, 200)
        assert initialize(http, etpay).status == 503

    @pytest.mark.parametrize(
        ("path", "body", "status"),
        [
            ("sessions/nope/complete", {"outcome": "paid"}, 404),
            ("sessions/nope/notification", {}, 404),
            ("initialize-failures", {"mode": "explode"}, 400),
            ("initialize-failures", {"mode": "error", "count": "2"}, 400),
            ("deliver", {"jwt": "a.b.c"}, 400),
            ("no-such-thing", {}, 404),
        ],
    )
    def test_bad_control_requests(self, http, etpay, path, body, status):
        assert control(http, etpay, path, body).status == status

    def test_completing_twice_is_409_and_redelivering_nothing_is_409(self, http, etpay):
        token = open_session(http, etpay)

        assert control(http, etpay, f"sessions/{token}/redeliver").status == 409
        control(http, etpay, f"sessions/{token}/complete", {"outcome": "paid", "deliver": False})
        assert control(http, etpay, f"sessions/{token}/complete", {"outcome": "failed"}).status == 409

    def test_a_control_body_that_is_not_a_json_object_is_400(self, http, etpay):
        reply = http.request("POST", f"{etpay.base_url}/_control/initialize-failures", body=b"[1]")

        assert reply.status == 400

    @pytest.mark.parametrize(
        ("method", "path"), [("GET", "/nope"), ("POST", "/session"), ("PUT", "/session/initialize")]
    )
    def test_anything_else_is_a_json_404(self, http, etpay, method, path):
        reply = http.request(method, f"{etpay.base_url}{path}")

        assert (reply.status, reply.json()) == (404, {"message": "not found"})


# -- lifecycle and CLI -------------------------------------------------------------------------------------
class TestLifecycle:
    def test_stop_is_idempotent_and_frees_the_port(self, http):
        etpay = EtpaySandbox(MERCHANT_CODE, MERCHANT_API_TOKEN).start()
        url = etpay.base_url

        etpay.stop()
        etpay.stop()

        with pytest.raises(urllib3.exceptions.HTTPError):
            http.request("GET", f"{url}/_control/health", timeout=HANG_TIMEOUT)

    def test_only_loopback_hosts_are_served(self):
        with pytest.raises(ValueError):
            EtpaySandbox(host="0.0.0.0")  # noqa: S104 - the point of the test

    def test_the_cli_prints_its_url_and_stops_cleanly_on_sigterm(self, http, tmp_path):
        # given
        credentials = tmp_path / "etpay.json"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local.etpay_sandbox",
                "--port",
                "0",
                "--merchant-code",
                "cli-merchant",
                "--credentials-file",
                str(credentials),
            ],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert process.stdout is not None
        try:
            line = process.stdout.readline()
            base_url = line.split()[3]

            # when
            health = http.request("GET", f"{base_url}/_control/health")
            process.send_signal(signal.SIGTERM)

            # then
            assert process.wait(timeout=5) == 0
        finally:
            if process.poll() is None:
                process.kill()
        assert health.json() == {"ok": True}
        assert line.startswith("ETpay sandbox on http://127.0.0.1:")
        assert json.loads(credentials.read_text())["merchant_code"] == "cli-merchant"
        assert json.loads(credentials.read_text())["api_url"] == base_url

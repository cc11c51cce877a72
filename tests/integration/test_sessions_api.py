"""POST /sessions and GET /orders: the merchant backend's side of the contract."""

import json
from datetime import timedelta

import pytest
import urllib3

from etpay.notification import sign_notification
from payments.domain.clock import parse_iso, utc_now
from tests.support.api import api_event, new_order_id, session_payload
from tests.support.aws import (
    NOTIFICATION_KEY,
    NOTIFICATION_URL,
    SECRET_ID,
    TABLE_NAME,
    aws_client,
    stored_items,
    stored_order,
)


class TestCreateSession:
    def test_a_new_order_gets_an_etpay_session(self, api, stack, order_id):
        calls_before = len(stack.initialize_requests)
        before = utc_now()

        reply = api.create_session(session_payload(order_id, 50000))

        assert reply.status == 201
        token = reply.body["session_token"]
        # The session ends EXPIRED if ETpay has no result after the default 30 minutes.
        expires_in = parse_iso(reply.body.pop("expires_at")) - before
        assert timedelta(minutes=30) <= expires_in < timedelta(minutes=30, seconds=10)
        assert reply.body == {
            "merchant_order_id": order_id,
            "order_amount": 50000,
            "currency": "CLP",
            "status": "PENDING",
            "session_token": token,
            "payment_url": f"{stack.pmt_url}/session/{token}",
        }
        assert len(stack.initialize_requests) == calls_before + 1
        sent = stack.initialize_requests[-1]
        assert sent["merchant_order_id"] == order_id
        assert sent["order_amount"] == 50000
        # Our own /notifications, with the stack's notification key: without it ETpay gets 401.
        assert sent["payment_webhook_url"] == f"{NOTIFICATION_URL}?key={NOTIFICATION_KEY}"

    def test_the_reply_never_carries_the_signature_token_or_credentials(self, api, stack, order_id):
        reply = api.create_session(session_payload(order_id))

        text = json.dumps(reply.body)
        assert stack.sessions[reply.body["session_token"]].signature_token not in text
        assert "merchant_api_token" not in text
        assert stack.credentials()["merchant_api_token"] not in text

    def test_optional_fields_are_passed_to_etpay(self, api, stack, order_id):
        payload = session_payload(
            order_id,
            customer_email="payer@example.cl",
            metadata=[{"name": "Order", "value": order_id, "show": True}],
            user_bank_code="cl_estado",
            user_rut="111111111",
            is_rut_block=True,
            payment_completed_url="https://shop.example/ok",
            payment_cancellation_url="https://shop.example/cancel",
        )

        assert api.create_session(payload).status == 201

        sent = stack.initialize_requests[-1]
        for name in ("customer_email", "metadata", "user_bank_code", "user_rut", "is_rut_block"):
            assert sent[name] == payload[name]
        assert sent["payment_completed_url"] == "https://shop.example/ok"
        assert sent["payment_cancellation_url"] == "https://shop.example/cancel"

    def test_the_deployment_redirect_urls_are_used_when_the_request_has_none(self, api, stack, order_id, monkeypatch):
        monkeypatch.setenv("DEFAULT_SUCCESS_URL", "https://shop.example/thanks")
        monkeypatch.setenv("DEFAULT_CANCELLATION_URL", "https://shop.example/sorry")
        monkeypatch.setenv("NOTIFICATION_URL", "https://hooks.shop.example/etpay")

        assert api.create_session(session_payload(order_id)).status == 201

        sent = stack.initialize_requests[-1]
        assert sent["payment_completed_url"] == "https://shop.example/thanks"
        assert sent["payment_cancellation_url"] == "https://shop.example/sorry"
        assert sent["payment_webhook_url"] == f"https://hooks.shop.example/etpay?key={NOTIFICATION_KEY}"

    def test_a_repeat_while_pending_returns_the_same_session_without_calling_etpay(self, api, stack, order_id):
        first = api.create_session(session_payload(order_id))
        calls = len(stack.initialize_requests)

        again = api.create_session(session_payload(order_id))

        assert again.status == 200
        assert again.body == first.body
        assert len(stack.initialize_requests) == calls

    def test_a_different_amount_for_an_existing_order_is_refused(self, api, stack, order_id):
        api.create_session(session_payload(order_id, 50000))
        before = stored_items()

        reply = api.create_session(session_payload(order_id, 50001))

        assert reply.status == 409
        assert reply.error == "order_amount_mismatch"
        assert stored_items() == before


class TestInvalidSessionRequests:
    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({"order_amount": 100}, "merchant_order_id"),
            ({"merchant_order_id": "", "order_amount": 100}, "merchant_order_id"),
            ({"merchant_order_id": "x" * 65, "order_amount": 100}, "merchant_order_id"),
            ({"merchant_order_id": "OC 1", "order_amount": 100}, "merchant_order_id"),
            ({"merchant_order_id": "OC/1", "order_amount": 100}, "merchant_order_id"),
            ({"merchant_order_id": 12, "order_amount": 100}, "merchant_order_id"),
            ({"merchant_order_id": "OC-1"}, "order_amount"),
            ({"merchant_order_id": "OC-1", "order_amount": 10.0}, "order_amount"),
            ({"merchant_order_id": "OC-1", "order_amount": 10.5}, "order_amount"),
            ({"merchant_order_id": "OC-1", "order_amount": "10"}, "order_amount"),
            ({"merchant_order_id": "OC-1", "order_amount": True}, "order_amount"),
            ({"merchant_order_id": "OC-1", "order_amount": 0}, "order_amount"),
            ({"merchant_order_id": "OC-1", "order_amount": -5}, "order_amount"),
            ({"merchant_order_id": "OC-1", "order_amount": 7_000_001}, "order_amount"),
            ({"merchant_order_id": "OC-1", "order_amount": 1, "surprise": 1}, "surprise"),
            ({"merchant_order_id": "OC-1", "order_amount": 1, "customer_email": "nope"}, "customer_email"),
            ({"merchant_order_id": "OC-1", "order_amount": 1, "metadata": [{"name": "a"}]}, "metadata"),
            ({"merchant_order_id": "OC-1", "order_amount": 1, "metadata": "x"}, "metadata"),
            (
                {"merchant_order_id": "OC-1", "order_amount": 1, "metadata": [{"name": "a", "value": "b", "show": 1}]},
                "metadata",
            ),
            (
                {
                    "merchant_order_id": "OC-1",
                    "order_amount": 1,
                    "metadata": [{"name": "", "value": "b", "show": True}],
                },
                "metadata",
            ),
            (
                {
                    "merchant_order_id": "OC-1",
                    "order_amount": 1,
                    "metadata": [{"name": "a", "value": "b" * 257, "show": True}],
                },
                "metadata",
            ),
            ({"merchant_order_id": "OC-1", "order_amount": 1, "user_bank_code": "estado"}, "user_bank_code"),
            ({"merchant_order_id": "OC-1", "order_amount": 1, "user_rut": "11.111.111-1"}, "user_rut"),
            ({"merchant_order_id": "OC-1", "order_amount": 1, "is_rut_block": "yes"}, "is_rut_block"),
            (
                {"merchant_order_id": "OC-1", "order_amount": 1, "payment_completed_url": "http://shop.example/ok"},
                "payment_completed_url",
            ),
            (
                {"merchant_order_id": "OC-1", "order_amount": 1, "payment_cancellation_url": "javascript:alert(1)"},
                "payment_cancellation_url",
            ),
        ],
    )
    def test_invalid_fields_are_named_and_nothing_happens(self, api, stack, payload, field):
        calls = len(stack.initialize_requests)

        reply = api.create_session(payload)

        assert reply.status == 400
        assert reply.error == "validation_error"
        assert field in reply.body["fields"]
        assert stored_items() == []
        assert len(stack.initialize_requests) == calls

    @pytest.mark.parametrize(
        ("payload", "field", "problem"),
        [
            ({"order_amount": 100}, "merchant_order_id", "required: 1 to 64 characters of A-Z a-z 0-9 - _"),
            (
                {"merchant_order_id": "OC 1", "order_amount": 100},
                "merchant_order_id",
                "must be 1 to 64 characters of A-Z a-z 0-9 - _",
            ),
            (
                {"merchant_order_id": None, "order_amount": 100},
                "merchant_order_id",
                "must be 1 to 64 characters of A-Z a-z 0-9 - _",
            ),
            ({"merchant_order_id": "OC-1"}, "order_amount", "required: a JSON integer of whole pesos (CLP)"),
            (
                {"merchant_order_id": "OC-1", "order_amount": "10"},
                "order_amount",
                "must be a JSON integer of whole pesos (CLP)",
            ),
        ],
    )
    def test_a_missing_field_is_required_and_a_present_one_says_what_it_must_be(
        self, api, stack, payload, field, problem
    ):
        reply = api.create_session(payload)

        assert reply.status == 400
        assert reply.body["fields"] == {field: problem}

    @pytest.mark.parametrize("raw", ["", "not json", "[]", '"text"', "null", "{"])
    def test_a_body_that_is_not_a_json_object_is_refused(self, api, stack, raw):
        reply = api.create_session(raw=raw)

        assert reply.status == 400
        assert reply.error == "validation_error"
        assert stored_items() == []

    def test_an_oversized_body_is_refused(self, api, stack):
        huge = [{"name": "a", "value": "x" * 20000, "show": True}]

        reply = api.create_session(session_payload("OC-1", metadata=huge))

        assert reply.status == 400
        assert reply.error == "validation_error"

    def test_a_non_utf8_base64_body_is_refused(self, api, stack):
        reply = api.create_session(raw=b"\xff\xfe{", base64_body=True)

        assert reply.status == 400
        assert reply.error == "validation_error"

    def test_a_base64_body_is_accepted(self, api, stack, order_id):
        reply = api.create_session(raw=json.dumps(session_payload(order_id)), base64_body=True)

        assert reply.status == 201

    def test_a_user_rut_is_never_echoed_in_errors(self, api, stack):
        reply = api.create_session(session_payload("OC-1", user_rut="12345678-5"))

        assert reply.status == 400
        assert "12345678" not in json.dumps(reply.body)


class TestEtpayAndConfigurationFailures:
    @pytest.mark.parametrize(
        ("mode", "status", "code"),
        [
            ("error", 500, "etpay_error"),
            ("error", 503, "etpay_error"),
            ("error", 401, "etpay_error"),
            ("error", 400, "etpay_error"),
            ("malformed", 200, "etpay_error"),
            ("incomplete", 200, "etpay_error"),
        ],
    )
    def test_etpay_failures_are_502_and_the_retry_succeeds(self, api, stack, order_id, mode, status, code):
        stack.fail_next_initialize(mode, status=status)

        failed = api.create_session(session_payload(order_id))

        assert failed.status == 502
        assert failed.error == code
        assert api.get_order(order_id).status == 404
        retried = api.create_session(session_payload(order_id))
        assert retried.status == 201

    def test_a_hanging_etpay_is_a_bounded_504_and_the_retry_succeeds(self, api, stack, order_id, monkeypatch):
        monkeypatch.setattr("etpay.client.TIMEOUT", urllib3.Timeout(connect=3.0, read=0.5, total=1.0))
        stack.fail_next_initialize("hang")

        failed = api.create_session(session_payload(order_id))
        stack.release_hangs()

        assert failed.status == 504
        assert failed.error == "etpay_timeout"
        assert "Retry-After" in failed.headers
        assert api.create_session(session_payload(order_id)).status == 201

    def test_an_unreachable_etpay_is_502(self, api, stack, order_id):
        secrets = aws_client("secretsmanager")
        dead = {**stack.credentials(), "api_url": "http://127.0.0.1:9"}
        secrets.put_secret_value(SecretId=SECRET_ID, SecretString=json.dumps(dead))

        reply = api.create_session(session_payload(order_id))

        assert reply.status == 502
        assert reply.error == "etpay_error"

    def test_a_missing_secret_is_503_and_nothing_is_stored(self, api, stack, order_id):
        aws_client("secretsmanager").delete_secret(SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True)
        calls = len(stack.initialize_requests)

        reply = api.create_session(session_payload(order_id))

        assert reply.status == 503
        assert reply.error == "configuration_unavailable"
        assert "Retry-After" in reply.headers
        assert stored_items() == []
        assert len(stack.initialize_requests) == calls

    @pytest.mark.parametrize(
        "secret",
        [
            "not json",
            json.dumps({"merchant_code": "x"}),
            json.dumps({"merchant_code": "", "merchant_api_token": "", "api_url": "", "pmt_url": ""}),
            json.dumps(["a"]),
        ],
    )
    def test_an_incomplete_secret_is_503(self, api, stack, order_id, secret):
        aws_client("secretsmanager").put_secret_value(SecretId=SECRET_ID, SecretString=secret)

        reply = api.create_session(session_payload(order_id))

        assert reply.status == 503
        assert reply.error == "configuration_unavailable"
        assert stored_items() == []

    def test_the_secret_is_read_once_while_it_is_fresh(self, api, stack, monkeypatch):
        api.create_session(session_payload(new_order_id()))
        aws_client("secretsmanager").put_secret_value(SecretId=SECRET_ID, SecretString="not json any more")

        # Still served from the in-memory copy: no Secrets Manager call per request.
        assert api.create_session(session_payload(new_order_id())).status == 201


class TestGetOrder:
    def test_a_stored_order_is_returned_without_its_signature_token(self, api, stack, order_id):
        created = api.create_session(session_payload(order_id, 1234)).body

        reply = api.get_order(order_id)

        assert reply.status == 200
        body = reply.body
        assert {k: body[k] for k in created} == created
        assert body["review"] == {"required": False, "reasons": []}
        assert body["created_at"] and body["updated_at"]
        assert "payment_token" not in body
        assert stack.sessions[created["session_token"]].signature_token not in json.dumps(body)

    def test_an_unknown_order_is_404(self, api, stack):
        reply = api.get_order("OC-nothing-here")

        assert reply.status == 404
        assert reply.error == "not_found"

    @pytest.mark.parametrize("bad", ["a b", "x" * 65, "OC!1", "ñ"])
    def test_a_malformed_id_is_400(self, api, stack, bad):
        reply = api.get_order(bad)

        assert reply.status == 400
        assert reply.error == "validation_error"


def test_an_unknown_route_is_a_json_404(api, stack):
    reply = api.invoke(api.payments, api_event("DELETE", "/sessions", "/sessions"))

    assert reply.status == 404
    assert reply.error == "not_found"


class TestValuesThatOnlyLookValid:
    """Found by fuzzing: `^...$` with re.match accepts a trailing newline, and `null` is not absent."""

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("merchant_order_id", "NL-1\n"),
            ("user_rut", "111111111\n"),
            ("user_bank_code", "cl_estado\n"),
            ("customer_email", "payer@example.cl\n"),
        ],
    )
    def test_a_trailing_newline_is_refused(self, api, stack, field, value):
        calls = len(stack.initialize_requests)

        reply = api.create_session({**session_payload("NL-1"), field: value})

        assert reply.status == 400
        assert field in reply.body["fields"]
        assert len(stack.initialize_requests) == calls

    @pytest.mark.parametrize(
        "field",
        [
            "customer_email",
            "metadata",
            "user_bank_code",
            "user_rut",
            "is_rut_block",
            "payment_completed_url",
            "payment_cancellation_url",
        ],
    )
    def test_null_is_not_a_value_of_an_optional_field(self, api, stack, field):
        reply = api.create_session({**session_payload("N-1"), field: None})

        assert reply.status == 400
        assert field in reply.body["fields"]
        assert stored_items() == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:4/\U0001641f",
        "https://shop.example/ok page",
        "https://shop.example/\x7f",
        "https://tienda.cl/pagó",
    ],
)
def test_a_redirect_url_must_be_printable_ascii(api, stack, url):
    reply = api.create_session(session_payload("URL-1", payment_completed_url=url))

    assert reply.status == 400
    assert "payment_completed_url" in reply.body["fields"]


class TestClaims:
    """While one request asks ETpay for an order's session, the order is claimed in its item. A
    live claim turns identical requests away; a claim whose invocation died frees itself."""

    @staticmethod
    def claim(order_id: str, amount: int = 50_000, expired: bool = False) -> None:
        from payments.adapters.session_claims import SessionClaims
        from payments.config import wiring
        from payments.domain.clock import utc_now

        repository = SessionClaims(TABLE_NAME)
        stored = wiring.orders().get_order(order_id)
        if stored is None:
            assert repository.claim_new_order(order_id, amount, "CLP", "another-invocation", utc_now()) is None
        else:
            assert repository.claim_next_session(stored, "another-invocation", utc_now()) is None
        if expired:
            aws_client("dynamodb").update_item(
                TableName=TABLE_NAME,
                Key={"pk": {"S": f"ORDER#{order_id}"}},
                UpdateExpression="SET claim_expires = :past",
                ExpressionAttributeValues={":past": {"N": "1"}},
            )

    def failed_order(self, api, stack, order_id: str) -> str:
        token = api.create_session(session_payload(order_id)).body["session_token"]
        assert api.notify_jwt(stack.notification_jwt(token, "failed")).status == 200
        return token

    def test_a_live_claim_on_a_new_order_turns_the_request_away(self, api, stack, order_id):
        self.claim(order_id)
        calls = len(stack.initialize_requests)

        reply = api.create_session(session_payload(order_id))

        assert (reply.status, reply.error) == (409, "request_in_progress")
        assert reply.headers["Retry-After"]
        assert len(stack.initialize_requests) == calls
        assert api.get_order(order_id).status == 404

    def test_a_dead_claim_on_a_new_order_is_taken_over(self, api, stack, order_id):
        self.claim(order_id, amount=10, expired=True)

        reply = api.create_session(session_payload(order_id, 50_000))

        assert reply.status == 201
        assert reply.body["order_amount"] == 50_000
        stored = stored_order(order_id)
        assert {"claim_id", "claim_expires", "expires_at"}.isdisjoint(stored)
        assert list(stored["sessions"]) == [reply.body["session_token"]]

    def test_a_live_claim_on_a_failed_order_turns_the_request_away(self, api, stack, order_id):
        failed = self.failed_order(api, stack, order_id)
        self.claim(order_id)
        calls = len(stack.initialize_requests)

        reply = api.create_session(session_payload(order_id))

        assert (reply.status, reply.error) == (409, "request_in_progress")
        assert len(stack.initialize_requests) == calls
        assert api.get_order(order_id).body["session_token"] == failed

    def test_a_dead_claim_on_a_failed_order_is_taken_over(self, api, stack, order_id):
        failed = self.failed_order(api, stack, order_id)
        self.claim(order_id, expired=True)

        reply = api.create_session(session_payload(order_id))

        assert reply.status == 201
        stored = stored_order(order_id)
        assert "claim_id" not in stored
        assert (stored["status"], stored["session_token"]) == ("PENDING", reply.body["session_token"])
        assert stored["sessions"][failed]["status"] == "FAILED"

    def test_a_claim_is_not_an_order_for_notifications(self, api, stack, order_id):
        self.claim(order_id)
        before = stored_items()

        claims = {
            "session_token": "sess-made-up-0123456789",
            "merchant_order_id": order_id,
            "merchant_amount": 50_000,
            "payment_status": True,
        }

        reply = api.notify_jwt(sign_notification(claims, "k" * 40))

        assert reply.status == 401
        assert stored_items() == before

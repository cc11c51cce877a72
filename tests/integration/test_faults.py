"""Outages and throttling: every failure is answered so the caller retries, nothing is
half-written, and the retry then succeeds exactly once."""

import pytest

from etpay.client import TOTAL_TIMEOUT_SECONDS
from payments.adapters.aws import DYNAMODB_ATTEMPT_SECONDS, DYNAMODB_MAX_ATTEMPTS, SECRETS_MAX_ATTEMPTS
from payments.adapters.secrets import store as secret_store
from tests.support.api import LambdaContext, new_order_id, open_session, session_payload
from tests.support.aws import stored_items, stored_order

THROTTLED = "ProvisionedThroughputExceededException"
# Every one is retried by botocore's standard retry mode.
DYNAMODB_FAULTS = [THROTTLED, "ThrottlingException", "InternalServerError", "RequestLimitExceeded"]
# A fault on every attempt the client makes: the call itself fails.
EVERY_ATTEMPT = DYNAMODB_MAX_ATTEMPTS
SECRETS = "secrets-manager"


def stored_keys():
    return sorted(item["pk"]["S"] for item in stored_items())


class TestSecretsManagerDown:
    @pytest.mark.parametrize("code", ["InternalServiceError", "ThrottlingException", "AccessDeniedException"])
    def test_at_cold_start_the_request_fails_fast_with_503_and_nothing_happens(
        self, api, stack, aws_faults, order_id, code
    ):
        aws_faults.fail_always(SECRETS, "GetSecretValue", code)
        calls = len(stack.initialize_requests)

        reply = api.create_session(session_payload(order_id))

        assert reply.status == 503
        assert reply.error == "configuration_unavailable"
        assert reply.headers["Retry-After"]
        assert stored_items() == []
        assert len(stack.initialize_requests) == calls

    def test_while_warm_the_cached_secret_is_used_until_it_ages_out(self, api, stack, aws_faults):
        assert api.create_session(session_payload(new_order_id())).status == 201
        aws_faults.fail_always(SECRETS, "GetSecretValue", "InternalServiceError")

        still_cached = api.create_session(session_payload(new_order_id()))
        secret_store.forget()  # the in-memory copy ages out
        expired = api.create_session(session_payload(new_order_id()))
        aws_faults.heal()
        recovered = api.create_session(session_payload(new_order_id()))

        assert still_cached.status == 201
        assert expired.status == 503
        assert recovered.status == 201

    def test_a_warm_notifications_function_checks_the_key_from_its_cache(self, api, stack, aws_faults, order_id):
        token = open_session(api, stack, order_id)
        assert api.notify_jwt(stack.notification_jwt(token, "unknown-word")).status == 200  # the key is cached
        aws_faults.fail_always(SECRETS, "GetSecretValue", "InternalServiceError")

        assert api.notify_jwt(stack.notification_jwt(token, "paid")).status == 200
        assert api.get_order(order_id).body["status"] == "PAID"

    def test_a_cold_notifications_function_answers_503_so_etpay_retries(self, api, stack, aws_faults, order_id):
        token = open_session(api, stack, order_id)
        before = stored_items()
        aws_faults.fail_always(SECRETS, "GetSecretValue", "InternalServiceError")
        secret_store.forget()

        reply = api.notify_jwt(stack.notification_jwt(token, "paid"))

        assert (reply.status, reply.error) == (503, "configuration_unavailable")
        assert reply.headers["Retry-After"]
        assert stored_items() == before


class TestRetries:
    """botocore's standard retry mode absorbs a passing fault; our 503 is for a fault that outlasts
    DYNAMODB_MAX_ATTEMPTS (SECRETS_MAX_ATTEMPTS for the secret)."""

    @pytest.mark.parametrize("code", DYNAMODB_FAULTS)
    def test_one_throttle_on_the_claim_is_retried_and_the_session_opens(self, api, stack, aws_faults, order_id, code):
        aws_faults.fail_next("dynamodb", "PutItem", code)
        calls = len(stack.initialize_requests)

        reply = api.create_session(session_payload(order_id))

        assert reply.status == 201
        assert aws_faults.count("dynamodb", "PutItem") == 2
        assert len(stack.initialize_requests) == calls + 1
        assert stored_keys() == [f"ORDER#{order_id}"]

    def test_one_throttle_on_a_transition_is_retried_and_the_order_is_paid(self, api, stack, aws_faults, order_id):
        token = open_session(api, stack, order_id)
        aws_faults.fail_next("dynamodb", "UpdateItem", THROTTLED)
        updates = aws_faults.count("dynamodb", "UpdateItem")

        reply = api.notify_jwt(stack.notification_jwt(token, "paid"))

        assert reply.status == 200
        assert aws_faults.count("dynamodb", "UpdateItem") == updates + 2
        assert api.get_order(order_id).body["status"] == "PAID"

    def test_throttles_on_every_attempt_are_a_503_after_max_attempts(self, api, stack, aws_faults, order_id):
        aws_faults.fail_next("dynamodb", "PutItem", THROTTLED, times=DYNAMODB_MAX_ATTEMPTS + 1)

        reply = api.create_session(session_payload(order_id))

        assert (reply.status, reply.error) == (503, "storage_unavailable")
        assert reply.headers["Retry-After"]
        assert aws_faults.count("dynamodb", "PutItem") == DYNAMODB_MAX_ATTEMPTS
        assert stored_items() == []

    def test_one_secrets_manager_failure_is_retried(self, api, stack, aws_faults, order_id):
        aws_faults.fail_next(SECRETS, "GetSecretValue", "InternalServiceError", times=SECRETS_MAX_ATTEMPTS - 1)

        assert api.create_session(session_payload(order_id)).status == 201
        # The ETpay credentials' read took every attempt; the notification key's then one.
        assert aws_faults.count(SECRETS, "GetSecretValue") == SECRETS_MAX_ATTEMPTS + 1

    def test_a_refused_secret_is_not_retried(self, api, stack, aws_faults, order_id):
        aws_faults.fail_always(SECRETS, "GetSecretValue", "AccessDeniedException")

        assert api.create_session(session_payload(order_id)).status == 503
        assert aws_faults.count(SECRETS, "GetSecretValue") == 1


class TestDynamoDBFaultsOnSessionCreation:
    @pytest.mark.parametrize("code", DYNAMODB_FAULTS)
    def test_before_etpay_is_called(self, api, stack, aws_faults, order_id, code):
        aws_faults.fail_next("dynamodb", "PutItem", code, times=EVERY_ATTEMPT)
        calls = len(stack.initialize_requests)

        failed = api.create_session(session_payload(order_id))

        assert (failed.status, failed.error) == (503, "storage_unavailable")
        assert failed.headers["Retry-After"]
        assert stored_items() == []
        assert len(stack.initialize_requests) == calls
        assert api.create_session(session_payload(order_id)).status == 201
        assert len(stack.initialize_requests) == calls + 1

    @pytest.mark.parametrize("code", DYNAMODB_FAULTS)
    def test_when_storing_the_new_session(self, api, stack, aws_faults, order_id, code):
        aws_faults.fail_next("dynamodb", "UpdateItem", code, times=EVERY_ATTEMPT)

        failed = api.create_session(session_payload(order_id))

        assert (failed.status, failed.error) == (503, "storage_unavailable")
        # The ETpay session just opened was never shown to anyone: nothing refers to it.
        assert stored_items() == []
        retried = api.create_session(session_payload(order_id))
        assert retried.status == 201
        assert stored_keys() == [f"ORDER#{order_id}"]
        assert list(stored_order(order_id)["sessions"]) == [retried.body["session_token"]]


class TestDynamoDBFaultsOnNotifications:
    @pytest.mark.parametrize("code", DYNAMODB_FAULTS)
    @pytest.mark.parametrize(
        ("outcome", "operation", "final"),
        [
            ("paid", "UpdateItem", "PAID"),
            ("failed", "UpdateItem", "FAILED"),
            ("paid", "GetItem", "PAID"),
        ],
    )
    def test_a_transition(self, api, stack, aws_faults, order_id, outcome, operation, final, code):
        token = open_session(api, stack, order_id)
        notification = stack.notification_jwt(token, outcome)
        before = stored_items()
        aws_faults.fail_next("dynamodb", operation, code, times=EVERY_ATTEMPT)

        failed = api.notify_jwt(notification)

        assert (failed.status, failed.error) == (503, "storage_unavailable")
        assert failed.headers["Retry-After"]
        assert stored_items() == before
        assert api.notify_jwt(notification).status == 200
        assert api.get_order(order_id).body["status"] == final
        after = stored_items()
        assert api.notify_jwt(notification).status == 200
        assert stored_items() == after

    @pytest.mark.parametrize("code", DYNAMODB_FAULTS)
    def test_a_review_flag(self, api, stack, aws_faults, order_id, code):
        token = open_session(api, stack, order_id)
        mismatch = stack.notification_jwt(token, "paid", merchant_amount=1)
        aws_faults.fail_next("dynamodb", "UpdateItem", code, times=EVERY_ATTEMPT)

        assert api.notify_jwt(mismatch).error == "storage_unavailable"
        assert api.get_order(order_id).body["review"]["required"] is False
        assert api.notify_jwt(mismatch).status == 200
        assert api.get_order(order_id).body["review"]["reasons"] == ["notification_mismatch"]

    def test_an_unknown_status_record(self, api, stack, aws_faults, order_id):
        token = open_session(api, stack, order_id)
        aws_faults.fail_next("dynamodb", "UpdateItem", THROTTLED, times=EVERY_ATTEMPT)

        assert api.notify_jwt(stack.notification_jwt(token, "processing")).error == "storage_unavailable"
        assert api.notify_jwt(stack.notification_jwt(token, "processing")).status == 200


class TestEtpayFaults:
    def test_a_429_with_a_huge_retry_after_is_not_waited_for_nor_retried(self, api, stack, order_id):
        stack.fail_next_initialize("error", status=429, retry_after=86_400)
        calls = len(stack.initialize_requests)

        reply = api.create_session(session_payload(order_id))

        assert reply.status == 502
        assert reply.error == "etpay_error"
        assert len(stack.initialize_requests) == calls + 1

    def test_slow_but_within_the_bound_succeeds(self, api, stack, order_id):
        stack.fail_next_initialize("slow", delay=0.3)

        assert api.create_session(session_payload(order_id)).status == 201

    def test_an_etpay_failure_never_blocks_the_next_attempt(self, api, stack, order_id):
        stack.fail_next_initialize("error", status=500, count=3)

        replies = [api.create_session(session_payload(order_id)).status for _ in range(4)]

        assert replies == [502, 502, 502, 201]


class TestSlowAws:
    def test_etpay_is_not_asked_when_the_session_could_not_be_stored_in_time(self, api, stack, order_id, monkeypatch):
        """Slow AWS calls ate the invocation's time: an ETpay session opened now might be cut off
        before it is stored, leaving the claim behind. The caller is told to retry instead."""
        too_little_ms = int((TOTAL_TIMEOUT_SECONDS + DYNAMODB_ATTEMPT_SECONDS) * 1000) - 1
        monkeypatch.setattr(LambdaContext, "get_remaining_time_in_millis", lambda self: too_little_ms)
        calls = len(stack.initialize_requests)

        reply = api.create_session(session_payload(order_id))

        assert (reply.status, reply.error) == (503, "storage_unavailable")
        assert reply.headers["Retry-After"]
        assert len(stack.initialize_requests) == calls
        assert stored_items() == []
        monkeypatch.undo()
        assert api.create_session(session_payload(order_id)).status == 201

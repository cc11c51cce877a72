"""The branches that only run when something went wrong elsewhere: an invocation crashed holding a
claim, another one won a race by a hair, a conditional write was refused, a write landed but its
answer was lost, DynamoDB could not be reached. Each is made to happen deterministically, with a
claim put in the table or with `aws_faults` (a fault, or another invocation's write landing just
before ours), and judged by what a caller sees and what is stored."""

from datetime import timedelta

import pytest

from payments.adapters.aws import DYNAMODB_MAX_ATTEMPTS
from payments.adapters.order_store import OrderStore
from payments.adapters.session_claims import SessionClaims
from payments.domain.clock import utc_now
from payments.domain.policy import MAX_DECISION_ATTEMPTS
from payments.domain.sessions import opened_session
from tests.support.api import new_order_id, open_session, session_payload
from tests.support.aws import TABLE_NAME, aws_client, stored_items, stored_order

REFUSED = "ConditionalCheckFailedException"
THROTTLED = "ProvisionedThroughputExceededException"
# A live claim outlasts any test; a stale one expired long ago (its holder crashed).
LIVE, STALE = 4_000_000_000, 1


def dynamodb():
    return aws_client("dynamodb")


def key(order_id: str) -> dict:
    return {"pk": {"S": f"ORDER#{order_id}"}}


def another_invocation() -> OrderStore:
    """The repository of another Lambda invocation, writing to the same table."""
    return OrderStore(TABLE_NAME, dynamodb())


def put_claim(order_id: str, expires: int, claim_id: str = "another-invocation", amount: int = 50_000) -> None:
    """Another invocation's claim on a new order (no session yet), live or left by a crash."""
    dynamodb().put_item(
        TableName=TABLE_NAME,
        Item={
            **key(order_id),
            "kind": {"S": "order"},
            "merchant_order_id": {"S": order_id},
            "order_amount": {"N": str(amount)},
            "currency": {"S": "CLP"},
            "sessions": {"M": {}},
            "claim_id": {"S": claim_id},
            "claim_expires": {"N": str(expires)},
            "expires_at": {"N": str(expires + 86_400)},
        },
    )


def set_claim(order_id: str, expires: int, claim_id: str = "another-invocation") -> None:
    """Another invocation holds (or crashed holding) the claim on an existing order."""
    dynamodb().update_item(
        TableName=TABLE_NAME,
        Key=key(order_id),
        UpdateExpression="SET claim_id = :claim, claim_expires = :expires",
        ExpressionAttributeValues={":claim": {"S": claim_id}, ":expires": {"N": str(expires)}},
    )


def store_session_of_another_invocation(order_id: str, claim_id: str = "another-invocation") -> str:
    """Another invocation took the order's claim over and stored the session ETpay gave it."""
    repository = SessionClaims(TABLE_NAME, dynamodb())
    stored = repository.get_stored_order(order_id)
    replaces = stored.order if stored else None
    set_claim(order_id, LIVE, claim_id)
    now = utc_now()
    order, session = opened_session(
        replaces,
        order_id,
        50_000,
        "CLP",
        "sess-of-the-other",
        "sig-of-the-other-" + "x" * 20,
        "https://pmt/s",
        now,
        timedelta(minutes=30),
    )
    replaced = replaces.session_token if replaces else None
    repository.open_session(order, session, claim_id, replaces=replaced, first_check=now + timedelta(minutes=15))
    return session.session_token


def failed_order(api, stack, order_id: str) -> str:
    token = open_session(api, stack, order_id)
    assert api.notify_jwt(stack.notification_jwt(token, "failed")).status == 200
    return token


class TestClaimRaces:
    def test_a_claim_that_lands_just_before_ours_turns_us_away(self, api, stack, aws_faults, order_id):
        # given another request's claim on the new order lands just before ours
        aws_faults.before_next("dynamodb", "PutItem", lambda: put_claim(order_id, LIVE))
        calls = len(stack.initialize_requests)

        # when we ask for a session
        reply = api.create_session(session_payload(order_id))

        # then our claim was refused with the item it found (no extra read), and we step back
        assert (reply.status, reply.error) == (409, "request_in_progress")
        assert len(stack.initialize_requests) == calls
        assert aws_faults.count("dynamodb", "GetItem") == 0
        assert stored_order(order_id)["claim_id"] == "another-invocation"

    def test_taking_over_a_crashed_claim_on_a_failed_order_is_refused_again_when_someone_else_is_faster(
        self, api, stack, aws_faults, order_id
    ):
        # given a failed order whose claim was left by a crashed invocation
        failed = failed_order(api, stack, order_id)
        set_claim(order_id, STALE)
        # ... and another request takes that claim over just before we do
        aws_faults.before_next("dynamodb", "UpdateItem", lambda: set_claim(order_id, LIVE, "the-faster-one"))
        calls = len(stack.initialize_requests)

        reply = api.create_session(session_payload(order_id))

        # then our takeover is refused, we decide again on what it found, and step back
        assert (reply.status, reply.error) == (409, "request_in_progress")
        assert len(stack.initialize_requests) == calls
        stored = stored_order(order_id)
        assert (stored["claim_id"], stored["session_token"], stored["status"]) == ("the-faster-one", failed, "FAILED")

    def test_a_session_stored_just_before_our_claim_is_handed_out(self, api, stack, aws_faults, order_id):
        # given a failed order, and another request that opens its next session just before we claim it
        failed_order(api, stack, order_id)
        holder: dict[str, str] = {}
        aws_faults.before_next(
            "dynamodb", "UpdateItem", lambda: holder.update(token=store_session_of_another_invocation(order_id))
        )
        calls = len(stack.initialize_requests)

        reply = api.create_session(session_payload(order_id))

        # then we answer with that session, as for any repeat while PENDING, and ETpay is not asked
        assert (reply.status, reply.body["session_token"]) == (200, holder["token"])
        assert len(stack.initialize_requests) == calls

    def test_a_claim_whose_answer_was_lost_is_still_ours(self, api, stack, aws_faults, order_id):
        # given our claim lands but its answer is lost, so the SDK sends it again and is refused
        aws_faults.lose_next_answer("dynamodb", "PutItem")
        calls = len(stack.initialize_requests)

        reply = api.create_session(session_payload(order_id))

        # then the refusal shows our own claim: the session opens, with one ETpay call
        assert reply.status == 201
        assert aws_faults.count("dynamodb", "PutItem") == 2
        assert len(stack.initialize_requests) == calls + 1
        assert list(stored_order(order_id)["sessions"]) == [reply.body["session_token"]]

    def test_claims_refused_every_time_end_in_a_bounded_503(self, api, stack, aws_faults, order_id):
        # given every claim is refused, and what refused it is gone by the time we read it
        aws_faults.fail_always("dynamodb", "PutItem", REFUSED)
        calls = len(stack.initialize_requests)

        reply = api.create_session(session_payload(order_id))

        # then the decision is made again only MAX_DECISION_ATTEMPTS times, ETpay is never asked
        assert (reply.status, reply.error) == (503, "order_busy")
        assert aws_faults.count("dynamodb", "PutItem") == MAX_DECISION_ATTEMPTS
        assert aws_faults.count("dynamodb", "GetItem") == MAX_DECISION_ATTEMPTS
        assert len(stack.initialize_requests) == calls
        aws_faults.heal()
        assert api.create_session(session_payload(order_id)).status == 201


class TestClaimLostWhileEtpayAnswered:
    """Our claim was taken over while we asked ETpay: the session ETpay gave us is never stored nor
    shown to anyone, so no money can move through it."""

    def test_the_session_another_request_stored_meanwhile_is_handed_out(self, api, stack, aws_faults, order_id):
        holder: dict[str, str] = {}
        aws_faults.before_next(
            "dynamodb", "UpdateItem", lambda: holder.update(token=store_session_of_another_invocation(order_id))
        )

        reply = api.create_session(session_payload(order_id))

        assert (reply.status, reply.body["session_token"]) == (200, holder["token"])
        assert list(stored_order(order_id)["sessions"]) == [holder["token"]]

    def test_while_the_other_request_still_asks_etpay_we_step_back(self, api, stack, aws_faults, order_id):
        aws_faults.before_next("dynamodb", "UpdateItem", lambda: set_claim(order_id, LIVE))

        reply = api.create_session(session_payload(order_id))

        assert (reply.status, reply.error) == (409, "request_in_progress")
        stored = stored_order(order_id)
        assert (stored["claim_id"], stored["sessions"]) == ("another-invocation", {})

    def test_on_a_reopened_order_the_other_requests_session_is_handed_out(self, api, stack, aws_faults, order_id):
        failed_order(api, stack, order_id)
        holder: dict[str, str] = {}
        # our claim on the failed order lands; then, just before we store ETpay's session, the
        # other request (which took our claim over) stores its own
        aws_faults.before_next("dynamodb", "UpdateItem", lambda: None)
        aws_faults.before_next(
            "dynamodb", "UpdateItem", lambda: holder.update(token=store_session_of_another_invocation(order_id))
        )

        reply = api.create_session(session_payload(order_id))

        assert (reply.status, reply.body["session_token"]) == (200, holder["token"])
        assert stored_order(order_id)["session_token"] == holder["token"]

    def test_when_the_order_is_gone_meanwhile_we_ask_for_a_retry(self, api, stack, aws_faults, order_id):
        # the request that took our claim over failed in turn and gave the new order's claim back
        aws_faults.before_next(
            "dynamodb", "UpdateItem", lambda: dynamodb().delete_item(TableName=TABLE_NAME, Key=key(order_id))
        )

        reply = api.create_session(session_payload(order_id))

        assert (reply.status, reply.error) == (409, "request_in_progress")
        assert stored_items() == []
        assert api.create_session(session_payload(order_id)).status == 201


class TestReleasingTheClaim:
    def test_etpay_failing_for_a_reopened_order_gives_its_claim_back(self, api, stack, order_id):
        failed = failed_order(api, stack, order_id)
        stack.fail_next_initialize("error", status=500)

        reply = api.create_session(session_payload(order_id))

        assert (reply.status, reply.error) == (502, "etpay_error")
        stored = stored_order(order_id)
        assert "claim_id" not in stored and "claim_expires" not in stored
        assert (stored["status"], stored["session_token"]) == ("FAILED", failed)
        assert api.create_session(session_payload(order_id)).status == 201

    def test_a_claim_taken_over_meanwhile_is_left_to_its_new_holder(self, api, stack, aws_faults, order_id):
        stack.fail_next_initialize("error", status=500)
        aws_faults.before_next("dynamodb", "DeleteItem", lambda: set_claim(order_id, LIVE, "the-new-holder"))

        reply = api.create_session(session_payload(order_id))

        assert (reply.status, reply.error) == (502, "etpay_error")
        assert stored_order(order_id)["claim_id"] == "the-new-holder"

    def test_a_claim_that_cannot_be_released_expires_by_itself(self, api, stack, aws_faults, order_id):
        # given ETpay fails, and DynamoDB fails every attempt to release our claim
        stack.fail_next_initialize("error", status=500)
        aws_faults.fail_next("dynamodb", "DeleteItem", THROTTLED, times=DYNAMODB_MAX_ATTEMPTS)

        reply = api.create_session(session_payload(order_id))

        # then the caller hears about ETpay, the claim stays, and turns retries away until it expires
        assert (reply.status, reply.error) == (502, "etpay_error")
        assert "claim_id" in stored_order(order_id)
        assert api.create_session(session_payload(order_id)).error == "request_in_progress"
        set_claim(order_id, STALE, stored_order(order_id)["claim_id"])
        assert api.create_session(session_payload(order_id)).status == 201


class TestDynamoDBUnreachable:
    @pytest.mark.parametrize("error", ["EndpointConnectionError", "ReadTimeoutError"])
    def test_one_lost_connection_is_retried(self, api, stack, aws_faults, order_id, error):
        aws_faults.fail_next("dynamodb", "PutItem", error)

        assert api.create_session(session_payload(order_id)).status == 201

    @pytest.mark.parametrize("error", ["EndpointConnectionError", "ReadTimeoutError"])
    def test_no_connection_on_any_attempt_is_a_503(self, api, stack, aws_faults, order_id, error):
        aws_faults.fail_always("dynamodb", "PutItem", error)

        reply = api.create_session(session_payload(order_id))

        assert (reply.status, reply.error) == (503, "storage_unavailable")
        assert aws_faults.count("dynamodb", "PutItem") == DYNAMODB_MAX_ATTEMPTS
        assert stored_items() == []


class TestNotificationRaces:
    def test_a_refused_transition_is_decided_again_and_applied_once(self, api, stack, aws_faults, order_id):
        token = open_session(api, stack, order_id)
        aws_faults.fail_next("dynamodb", "UpdateItem", REFUSED)

        reply = api.notify_jwt(stack.notification_jwt(token, "paid"))

        assert reply.status == 200
        order = api.get_order(order_id).body
        assert (order["status"], order["review"]["required"]) == ("PAID", False)

    def test_paid_losing_the_race_to_failed_is_flagged_not_paid(self, api, stack, aws_faults, order_id):
        # given a failed notification for the session lands just before our paid one is written
        token = open_session(api, stack, order_id)
        other = another_invocation()

        def failed_first():
            found = other.get_order_and_session(order_id, token)
            assert found is not None
            order, session = found
            other.mark_failed(order, session, None, utc_now(), fail_order=True)

        aws_faults.before_next("dynamodb", "UpdateItem", failed_first)

        reply = api.notify_jwt(stack.notification_jwt(token, "paid"))

        # then our write is refused, decided again on what won: the order stays FAILED, flagged
        assert reply.status == 200
        order = api.get_order(order_id).body
        assert order["status"] == "FAILED"
        assert order["review"] == {"required": True, "reasons": ["paid_after_failed"]}

    def test_a_transition_contended_every_time_is_a_503_and_the_redelivery_applies_it(
        self, api, stack, aws_faults, order_id
    ):
        token = open_session(api, stack, order_id)
        notification = stack.notification_jwt(token, "paid")
        aws_faults.fail_next("dynamodb", "UpdateItem", REFUSED, times=MAX_DECISION_ATTEMPTS)

        failed = api.notify_jwt(notification)

        assert (failed.status, failed.error) == (503, "order_busy")
        assert api.get_order(order_id).body["status"] == "PENDING"
        assert api.notify_jwt(notification).status == 200
        assert api.get_order(order_id).body["status"] == "PAID"

    def test_an_order_gone_between_two_decisions_is_not_trusted(self, api, stack, aws_faults, order_id):
        token = open_session(api, stack, order_id)
        aws_faults.before_next(
            "dynamodb", "UpdateItem", lambda: dynamodb().delete_item(TableName=TABLE_NAME, Key=key(order_id))
        )

        reply = api.notify_jwt(stack.notification_jwt(token, "paid"))

        assert (reply.status, reply.error) == (401, "invalid_notification")
        assert stored_items() == []


def test_failed_news_about_a_session_that_is_not_the_live_one_leaves_the_order_alone(api, stack, order_id):
    # given an order pending on its second session, and (against every rule, say by a bug of old)
    # its first session still PENDING
    first = failed_order(api, stack, order_id)
    second = open_session(api, stack, order_id)
    dynamodb().update_item(
        TableName=TABLE_NAME,
        Key=key(order_id),
        UpdateExpression="SET sessions.#first.#status = :pending",
        ExpressionAttributeNames={"#first": first, "#status": "status"},
        ExpressionAttributeValues={":pending": {"S": "PENDING"}},
    )

    # when ETpay says the first one failed
    reply = api.notify_jwt(stack.notification_jwt(first, "failed"))

    # then only that session is FAILED; the order stays PENDING on its live session
    assert reply.status == 200
    stored = stored_order(order_id)
    assert stored["sessions"][first]["status"] == "FAILED"
    assert (stored["status"], stored["session_token"]) == ("PENDING", second)


def test_an_unknown_status_for_a_settled_session_changes_nothing(api, stack, order_id):
    token = open_session(api, stack, order_id)
    assert api.notify_jwt(stack.notification_jwt(token, "paid")).status == 200
    settled = stored_items()

    reply = api.notify_jwt(stack.notification_jwt(token, "processing"))

    assert reply.status == 200
    assert stored_items() == settled


def test_a_paid_notification_without_a_payment_token_marks_paid(api, stack, order_id):
    token = open_session(api, stack, order_id)

    reply = api.notify_jwt(stack.notification_jwt(token, "paid", payment_token=None))

    assert reply.status == 200
    order = api.get_order(order_id).body
    assert order["status"] == "PAID"
    assert "payment_token" not in order
    assert "payment_token" not in stored_order(order_id)["sessions"][token]


def test_a_new_order_id_is_unaffected_by_a_crashed_claim_on_another(api, stack, order_id):
    put_claim(new_order_id(), LIVE)

    assert api.create_session(session_payload(order_id)).status == 201

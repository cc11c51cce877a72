"""The review queue through the handlers: an order flagged for review (for any reason) is listed by
GET /reviews until an operator records a resolution with POST /orders/{id}/review; the resolution
is kept forever in GET /orders, never moves money state, and a reason raised afterwards opens the
next review. AWS is moto in-process, ETpay the sandbox over HTTP."""

import base64
import json
from datetime import timedelta

import pytest

from payments.adapters.review_index import ReviewIndex
from payments.api.validation import MAX_REVIEW_NOTE_CHARS
from payments.domain.clock import utc_now
from payments.domain.orders import ReviewReason
from payments.domain.policy import REVIEW_OVERDUE_SECONDS, REVIEW_SHARDS
from payments.domain.reviews import CURSOR_PROBLEM, review_shard
from tests.support.api import LambdaContext, load_handler, new_order_id, open_session, session_payload
from tests.support.aws import TABLE_NAME, stored_items, stored_order
from tests.support.logs import emitted_metrics
from tests.support.orders import flag_for_review

OPERATOR_ARN = "arn:aws:sts::123456789012:assumed-role/PaymentsOperators/ana"
IAM_CALLER = {"userArn": OPERATOR_ARN, "caller": "AROAEXAMPLE:ana", "accessKey": "ASIAEXAMPLE"}
API_KEY_CALLER = {"apiKeyId": "k7example", "apiKey": "the-key-itself-0123456789"}
RESOLUTION = {"resolution": "refunded", "note": "Refunded the second payment (ticket OPS-17)."}
# What a review resolution may never change: the order's money state and its sessions.
MONEY_ATTRIBUTES = (
    "status",
    "order_amount",
    "currency",
    "session_token",
    "payment_url",
    "payment_token",
    "sessions",
    "session_expires_at",
    "check_session",
    "next_check_at",
    "pending_shard",
)


def fail(api, sandbox, token):
    assert api.notify_jwt(sandbox.notification_jwt(token, "failed")).status == 200


def pay(api, sandbox, token):
    assert api.notify_jwt(sandbox.notification_jwt(token, "paid")).status == 200


def flag_notification_mismatch(api, sandbox, order_id):
    token = open_session(api, sandbox, order_id)
    assert api.notify_jwt(sandbox.notification_jwt(token, "paid", merchant_amount=49_999)).status == 200


def flag_failed_after_paid(api, sandbox, order_id):
    token = open_session(api, sandbox, order_id)
    pay(api, sandbox, token)
    fail(api, sandbox, token)


def flag_paid_after_failed(api, sandbox, order_id):
    token = open_session(api, sandbox, order_id)
    fail(api, sandbox, token)
    pay(api, sandbox, token)


def flag_possible_double_payment(api, sandbox, order_id):
    first = open_session(api, sandbox, order_id)
    fail(api, sandbox, first)
    pay(api, sandbox, open_session(api, sandbox, order_id))
    pay(api, sandbox, first)


FLAGGING = {
    "notification_mismatch": (flag_notification_mismatch, ["notification_mismatch"]),
    "failed_after_paid": (flag_failed_after_paid, ["failed_after_paid"]),
    "paid_after_failed": (flag_paid_after_failed, ["paid_after_failed"]),
    "possible_double_payment": (flag_possible_double_payment, ["paid_after_failed", "possible_double_payment"]),
}


def flag_at(api, sandbox, order_id: str, at) -> None:
    """A new order flagged notification_mismatch at `at` (the store's write, with its time)."""
    open_session(api, sandbox, order_id)
    flag_for_review(order_id, {ReviewReason.NOTIFICATION_MISMATCH}, at)


def queued(api, **query) -> list[str]:
    reply = api.list_reviews(**query)
    assert reply.status == 200, reply.body
    return [entry["merchant_order_id"] for entry in reply.body["reviews"]]


def money_state(order_id: str) -> dict:
    item = stored_order(order_id)
    return {name: item.get(name) for name in MONEY_ATTRIBUTES}


def test_every_review_reason_reaches_the_queue_is_resolved_and_leaves_it(api, stack):
    # the queue covers every reason the domain can flag for
    assert set(FLAGGING) == {reason.value for reason in ReviewReason}
    for reason, (flag, reasons) in FLAGGING.items():
        # given an order flagged for the reason
        order_id = new_order_id()
        flag(api, stack, order_id)

        # then it is in the queue with its reasons, each with when it was raised
        (entry,) = [e for e in api.list_reviews().body["reviews"] if e["merchant_order_id"] == order_id]
        review = entry["review"]
        assert [raised["reason"] for raised in review["reasons"]] == reasons, reason
        assert all(raised["raised_at"] >= review["opened_at"] for raised in review["reasons"])
        assert (review["number"], review["state"]) == (1, "open")
        money = money_state(order_id)

        # when an operator resolves it
        reply = api.resolve_review(order_id, RESOLUTION, identity=IAM_CALLER)

        # then it left the queue, review.required is false, the money state is exactly as it was
        assert reply.status == 200, reply.body
        assert reply.body["review"] == {"required": False, "reasons": []}
        assert order_id not in queued(api)
        assert money_state(order_id) == money
        order = api.get_order(order_id).body
        assert order["review"]["required"] is False
        (resolved,) = order["reviews"]
        assert resolved == {
            **review,
            "state": "resolved",
            "resolution": "refunded",
            "note": RESOLUTION["note"],
            "resolved_by": OPERATOR_ARN,
            "resolved_at": resolved["resolved_at"],
        }
        assert resolved["resolved_at"] >= review["opened_at"]


def test_the_queue_is_oldest_first_over_several_pages_and_each_cursor_continues_it(api, stack):
    # given 23 flagged orders, flagged a minute apart (so the oldest is known)
    start = utc_now() - timedelta(hours=2)
    flagged = []
    for index in range(23):
        order_id = new_order_id()
        flag_at(api, stack, order_id, start + timedelta(minutes=index))
        flagged.append(order_id)
    assert len({review_shard(order_id) for order_id in flagged}) > 5  # spread over the shards

    # when the queue is read 5 at a time
    pages, cursor = [], None
    while True:
        reply = api.list_reviews(limit="5", **({"cursor": cursor} if cursor else {}))
        assert reply.status == 200, reply.body
        pages.append([entry["merchant_order_id"] for entry in reply.body["reviews"]])
        cursor = reply.body.get("next_cursor")
        if cursor is None:
            break

    # then every order is listed once, oldest first, in full pages
    assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
    assert [order_id for page in pages for order_id in page] == flagged
    # and the default page holds them all
    assert queued(api) == flagged


def test_a_page_read_before_a_resolution_and_a_new_flag_still_continues_in_order(api, stack):
    start = utc_now() - timedelta(hours=1)
    orders = []
    for index in range(4):
        order_id = new_order_id()
        flag_at(api, stack, order_id, start + timedelta(minutes=index))
        orders.append(order_id)
    first = api.list_reviews(limit="2").body
    assert [entry["merchant_order_id"] for entry in first["reviews"]] == orders[:2]

    # when the third is resolved and a fifth flagged meanwhile
    assert api.resolve_review(orders[2], RESOLUTION).status == 200
    newest = new_order_id()
    flag_notification_mismatch(api, stack, newest)

    # then the next pages go on from where the first stopped
    rest = api.list_reviews(limit="5", cursor=first["next_cursor"]).body
    assert [entry["merchant_order_id"] for entry in rest["reviews"]] == [orders[3], newest]
    assert "next_cursor" not in rest


def test_a_reason_raised_after_the_resolution_opens_the_next_review(api, stack, order_id):
    # given an order flagged failed_after_paid, then resolved
    token = open_session(api, stack, order_id)
    pay(api, stack, token)
    fail(api, stack, token)
    assert api.resolve_review(order_id, {"resolution": "confirmed_with_etpay", "note": "ETpay: paid"}).status == 200
    assert order_id not in queued(api)

    # when ETpay reports the failure again
    fail(api, stack, token)

    # then a second review is open, queued again, and the first stays as it was recorded
    order = api.get_order(order_id).body
    assert order["review"] == {"required": True, "reasons": ["failed_after_paid"]}
    assert [(review["number"], review["state"]) for review in order["reviews"]] == [(1, "resolved"), (2, "open")]
    assert order["reviews"][0]["resolution"] == "confirmed_with_etpay"
    assert order_id in queued(api)
    assert order["status"] == "PAID"


def test_resolving_an_order_with_no_open_review_is_409_and_changes_nothing(api, stack, order_id):
    open_session(api, stack, order_id)
    before = stored_items()

    reply = api.resolve_review(order_id, RESOLUTION)

    assert (reply.status, reply.error) == (409, "no_open_review")
    assert stored_items() == before


def test_resolving_twice_records_one_resolution(api, stack, order_id):
    flag_notification_mismatch(api, stack, order_id)
    assert api.resolve_review(order_id, RESOLUTION).status == 200
    after_first = stored_items()

    reply = api.resolve_review(order_id, {"resolution": "no_action_needed", "note": "again"})

    assert (reply.status, reply.error) == (409, "no_open_review")
    assert stored_items() == after_first
    assert [review["resolution"] for review in api.get_order(order_id).body["reviews"]] == ["refunded"]


def test_an_unknown_order_is_404(api, stack):
    reply = api.resolve_review(new_order_id(), RESOLUTION)
    assert (reply.status, reply.error) == (404, "not_found")


@pytest.mark.parametrize(
    ("identity", "resolved_by"),
    [
        (IAM_CALLER, OPERATOR_ARN),
        ({"caller": "AIDAEXAMPLE"}, "AIDAEXAMPLE"),
        (API_KEY_CALLER, "api-key:k7example"),
        ({}, "unauthenticated"),
    ],
    ids=["iam principal", "iam caller only", "api key id", "no api auth (local)"],
)
def test_the_resolution_records_who_resolved_it_as_api_gateway_authorized_the_call(
    api, stack, order_id, identity, resolved_by
):
    flag_notification_mismatch(api, stack, order_id)

    reply = api.resolve_review(order_id, RESOLUTION, identity=identity)

    assert reply.body["reviews"][-1]["resolved_by"] == resolved_by
    # never the API key itself
    assert API_KEY_CALLER["apiKey"] not in json.dumps(stored_order(order_id), default=str)


BAD_BODIES = {
    "not JSON": ("{", "body"),
    "a list": ("[]", "body"),
    "no resolution": (json.dumps({"note": "x"}), "resolution"),
    "an unknown resolution": (json.dumps({"resolution": "refund", "note": "x"}), "resolution"),
    "a resolution not text": (json.dumps({"resolution": 1, "note": "x"}), "resolution"),
    "no note": (json.dumps({"resolution": "refunded"}), "note"),
    "an empty note": (json.dumps({"resolution": "refunded", "note": ""}), "note"),
    "a note too long": (json.dumps({"resolution": "refunded", "note": "x" * (MAX_REVIEW_NOTE_CHARS + 1)}), "note"),
    "a note with a lone surrogate": ('{"resolution": "refunded", "note": "a\\ud800"}', "note"),
    "a note not text": (json.dumps({"resolution": "refunded", "note": ["x"]}), "note"),
    "an unknown field": (json.dumps({**RESOLUTION, "status": "PAID"}), "status"),
}


@pytest.mark.parametrize(("raw", "field"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_bad_resolution_is_400_naming_the_field_and_changes_nothing(api, stack, order_id, raw, field):
    flag_notification_mismatch(api, stack, order_id)
    before = stored_items()

    reply = api.resolve_review(order_id, raw=raw)

    assert (reply.status, reply.error) == (400, "validation_error")
    assert field in reply.body["fields"]
    assert stored_items() == before


def test_a_note_of_any_language_and_lines_is_kept_as_written(api, stack, order_id):
    flag_notification_mismatch(api, stack, order_id)
    note = "Reembolsado al pagador.\nRevisado con ETpay — ok ✓\t(ticket 17)"

    assert api.resolve_review(order_id, {"resolution": "refunded", "note": note}).status == 200

    assert api.get_order(order_id).body["reviews"][0]["note"] == note


def test_a_bad_order_id_is_400(api, stack):
    reply = api.resolve_review("OC 1", RESOLUTION)
    assert (reply.status, reply.error) == (400, "validation_error")


def cursor_of(document) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"limit": "-1"},
        {"limit": ""},
        {"cursor": "not a cursor"},
        {"cursor": ""},
        {"cursor": cursor_of({"v": 1, "after": {"0": ["2026-01-01T00:00:00.000Z", "OC 1"]}})},
        {"cursor": cursor_of({"v": 1, "after": {str(REVIEW_SHARDS): ["2026-01-01T00:00:00.000Z", "OC-1"]}})},
    ],
)
def test_a_bad_limit_or_a_tampered_cursor_is_400_naming_it(api, stack, query):
    reply = api.list_reviews(**query)

    assert (reply.status, reply.error) == (400, "validation_error")
    assert set(reply.body["fields"]) == set(query)
    if "cursor" in query:
        assert reply.body["fields"]["cursor"] == CURSOR_PROBLEM


def test_storage_trouble_is_a_503_to_retry(api, stack, aws_faults, order_id):
    flag_notification_mismatch(api, stack, order_id)
    aws_faults.fail_always("dynamodb", "Query", "ProvisionedThroughputExceededException")
    aws_faults.fail_always("dynamodb", "UpdateItem", "InternalServerError")

    listing = api.list_reviews()
    resolving = api.resolve_review(order_id, RESOLUTION)

    assert (listing.status, listing.error) == (503, "storage_unavailable")
    assert (resolving.status, resolving.error) == (503, "storage_unavailable")
    assert listing.headers.get("Retry-After") and resolving.headers.get("Retry-After")
    aws_faults.heal()
    assert order_id in queued(api)


def test_the_note_stays_out_of_the_logs(api, stack, order_id, capfd, caplog):
    flag_notification_mismatch(api, stack, order_id)
    note = "payer RUT 11111111-1 refunded to account 000123456789"

    assert api.resolve_review(order_id, {"resolution": "refunded", "note": note}).status == 200

    out, err = capfd.readouterr()
    logged = out + err + caplog.text
    assert "review resolved" in logged
    assert note not in logged and "000123456789" not in logged
    assert "ReviewResolved" in emitted_metrics(out)


def test_the_sweep_counts_the_reviews_open_for_more_than_a_day(api, stack, capfd):
    # given one order flagged two days ago and one flagged now
    old, recent = new_order_id(), new_order_id()
    for order_id, age in ((old, timedelta(days=2)), (recent, timedelta(0))):
        api.create_session(session_payload(order_id))
        flag_for_review(order_id, {ReviewReason.PAID_AFTER_FAILED}, utc_now() - age)
    assert timedelta(days=2).total_seconds() > REVIEW_OVERDUE_SECONDS

    # when the scheduled sweep runs
    result = load_handler("reconcile").lambda_handler({}, LambdaContext())

    # then it reports one overdue review, as the metric the alarm watches
    assert result["overdue_reviews"] == 1
    (line,) = [line for line in capfd.readouterr().out.splitlines() if '"OverdueReviews"' in line]
    assert json.loads(line)["OverdueReviews"] == [1.0]

    # and once it is resolved, none
    assert api.resolve_review(old, RESOLUTION).status == 200
    assert load_handler("reconcile").lambda_handler({}, LambdaContext())["overdue_reviews"] == 0


def test_a_resolution_that_keeps_losing_its_race_is_a_503_and_records_nothing(api, stack, aws_faults, order_id):
    # given a flagged order whose every conditional write is refused (the order keeps changing)
    flag_notification_mismatch(api, stack, order_id)
    before = stored_order(order_id)
    aws_faults.fail_always("dynamodb", "UpdateItem", "ConditionalCheckFailedException")

    # when an operator resolves it
    reply = api.resolve_review(order_id, RESOLUTION)

    # then after a bounded number of attempts it is a 503 to retry, and the review is still open
    assert (reply.status, reply.error) == (503, "order_busy")
    aws_faults.heal()
    assert stored_order(order_id) == before
    assert order_id in queued(api)


def test_the_overdue_count_adds_up_every_page_dynamodb_answers():
    # DynamoDB pages a COUNT query after 1 MB of index read; moto never does, so its answers are given.
    answers = iter([{"Count": 2, "LastEvaluatedKey": {"page": "1"}}, {"Count": 3}])
    requests = []

    class DynamoDB:
        @staticmethod
        def query(**request):
            requests.append(("query", request))
            return next(answers)

    index = ReviewIndex(TABLE_NAME, DynamoDB())

    assert index.count_reviews_opened_before(0, utc_now()) == 5
    assert [operation for operation, _ in requests] == ["query", "query"]
    assert "ExclusiveStartKey" not in requests[0][1]
    assert requests[1][1]["ExclusiveStartKey"] == {"page": "1"}

"""Who may read the signature tokens: each session's `signature_token`, the key that verifies its
notifications, is kept in its order's item, in the top-level map `signature_tokens`. A role that
can GetItem a whole order can read them all. The events API and the reconciliation sweep never need
them, so their roles reach the orders table only through DynamoDB's attribute-level conditions
(dynamodb:Attributes, dynamodb:Select, dynamodb:ReturnValues, dynamodb:LeadingKeys).

The requests are the code's own: the adapters each role's function uses (OrderHistory for the
events API; CheckIndex and ReviewIndex for the sweep; OrderStore and CheckIndex for the status-check
workers, which settle a session without ever verifying a notification) are run against a client that records what
they would send, and each request is judged against the role's statements in every expanded
combination, the way IAM and DynamoDB judge it (an Allow statement whose action, resource and
every condition match).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from payments.adapters.check_index import BACKOFF_KEY, CheckIndex
from payments.adapters.order_codec import NAMES, ORDER_ATTRIBUTES
from payments.adapters.order_history import OrderHistory
from payments.adapters.order_store import OrderStore
from payments.adapters.review_index import ReviewIndex
from payments.domain.checks import DueCheck
from payments.domain.orders import Order, PaymentSession, RaisedReason, Review, ReviewReason, Status
from payments.domain.reviews import ReviewChange
from tests.deploy.expanded_templates import of_type

TABLE = "OrdersTable"
ORDER_ID = "OC-700104"
SESSION = "sess-1"
# Roles whose code reads or writes signature tokens: the functions that open sessions (and store
# their tokens) and verify notifications. Any other role that reaches the orders table without
# attribute conditions fails the test below.
WHOLE_ITEM_ROLES = {"PaymentsFunctionRole", "NotificationsFunctionRole"}
RESTRICTED_ROLES = {"EventsApiFunctionRole", "ReconcileFunctionRole", "ReconcileWorkerFunctionRole"}
EXPRESSION_WORDS = {
    "SET",
    "REMOVE",
    "ADD",
    "DELETE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "BETWEEN",
    "attribute_exists",
    "attribute_not_exists",
    "attribute_type",
    "begins_with",
    "contains",
    "size",
    "if_not_exists",
    "list_append",
}
OPERATIONS = {"get_item": "GetItem", "update_item": "UpdateItem", "query": "Query", "put_item": "PutItem"}


@dataclass(frozen=True)
class Request:
    """What IAM sees of one DynamoDB request on the orders table."""

    operation: str  # GetItem, UpdateItem, Query
    index: str | None  # the index a Query reads, None for the table
    leading_key: str | None  # the item's pk (GetItem, UpdateItem)
    attributes: frozenset[str]  # top-level attribute names the request reads or writes
    select: str | None  # dynamodb:Select
    return_values: str | None  # dynamodb:ReturnValues


class Recorder:
    """A DynamoDB client that answers nothing and keeps every request it was sent."""

    def __init__(self) -> None:
        self.sent: list[Request] = []

    def __getattr__(self, method: str) -> Callable[..., dict[str, Any]]:
        def call(**request: Any) -> dict[str, Any]:
            self.sent.append(as_request(OPERATIONS[method], request))
            return {}

        return call


def as_request(operation: str, request: dict[str, Any]) -> Request:
    names = request.get("ExpressionAttributeNames", {})
    attributes = set(request.get("Key", {}))
    for part in ("ProjectionExpression", "UpdateExpression", "ConditionExpression", "KeyConditionExpression"):
        attributes |= top_level_names(request.get(part, ""), names)
    select, return_values = None, None
    if operation == "GetItem":
        # A GetItem without a projection asks for the whole item.
        select = "SPECIFIC_ATTRIBUTES" if "ProjectionExpression" in request else "ALL_ATTRIBUTES"
    elif operation == "Query":
        select = request.get("Select", "SPECIFIC_ATTRIBUTES" if "ProjectionExpression" in request else None)
        select = select or ("ALL_PROJECTED_ATTRIBUTES" if "IndexName" in request else "ALL_ATTRIBUTES")
    elif operation == "UpdateItem":
        return_values = request.get("ReturnValues", "NONE")
    key = request.get("Key", {}).get("pk", {}).get("S")
    return Request(operation, request.get("IndexName"), key, frozenset(attributes), select, return_values)


def top_level_names(expression: str, names: dict[str, str]) -> set[str]:
    """The top-level attributes an expression names: `sessions.#token.status` is `sessions`."""
    found = set()
    for match in re.finditer(r"(?<![:\w#.])(#?[A-Za-z_][A-Za-z0-9_]*)", expression):
        word = match.group(1)
        if word in EXPRESSION_WORDS:
            continue
        found.add(names[word] if word.startswith("#") else word)
    return found


# -- what IAM decides ----------------------------------------------------------------------------


def allows(statements: list[dict[str, Any]], request: Request) -> bool:
    return any(statement_allows(statement, request) for statement in statements)


def statement_allows(statement: dict[str, Any], request: Request) -> bool:
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    if statement["Effect"] != "Allow" or f"dynamodb:{request.operation}" not in actions:
        return False
    if not any(names_resource(resource, request.index) for resource in resources):
        return False
    values: dict[str, Any] = {
        "dynamodb:Attributes": set(request.attributes),
        "dynamodb:LeadingKeys": {request.leading_key} if request.leading_key else set(),
        "dynamodb:Select": request.select,
        "dynamodb:ReturnValues": request.return_values,
    }
    for operator, keys in statement.get("Condition", {}).items():
        for key, allowed in keys.items():
            allowed = set(allowed) if isinstance(allowed, list) else {allowed}
            given = values[key]
            if operator == "ForAllValues:StringEquals":
                matched = set(given) <= allowed
            elif operator == "StringEquals":
                matched = given is not None and given in allowed
            elif operator == "StringEqualsIfExists":
                matched = given is None or given in allowed
            else:
                pytest.fail(f"a condition operator this test cannot judge: {operator}")
            if not matched:
                return False
    return True


def names_resource(resource: Any, index: str | None) -> bool:
    if index is None:
        return resource == {"Fn::GetAtt": [TABLE, "Arn"]}
    return resource == {"Fn::Sub": f"${{{TABLE}.Arn}}/index/{index}"}


def table_statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    """The role's statements that name the orders table or one of its indexes."""
    found = []
    for policy in template["Resources"][role]["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if any(TABLE in str(resource) for resource in resources):
                found.append(statement)
    return found


# -- the code's requests -----------------------------------------------------------------------------


def recorded(call: Callable[[Any], Any]) -> list[Request]:
    """The requests `call` sends through the client it is given."""
    client = Recorder()
    call(client)
    return client.sent


DUE = DueCheck(
    merchant_order_id=ORDER_ID,
    session_token=SESSION,
    next_check_at="2026-01-01T00:15:00Z",
    opened_at=datetime(2026, 1, 1, tzinfo=UTC),
    expires_at=datetime(2026, 1, 1, 0, 30, tzinfo=UTC),
    checks_done=0,
)
NOW = datetime(2026, 1, 1, 0, 16, tzinfo=UTC)

# What EventsApiFunction's code sends to the orders table: the order and its sessions' states, to
# know its events (EventQueries, through OrderHistory.snapshot).
EVENTS_API_REQUESTS = {"snapshot": lambda client: OrderHistory("orders", client).snapshot(ORDER_ID)}
# What the sweep (ReconcileFunction: Sweep.run and Reviews.overdue) sends.
SWEEP_REQUESTS = {
    "etpay_backoff_until": lambda client: CheckIndex("orders", client).etpay_backoff_until(),
    "due_checks": lambda client: CheckIndex("orders", client).due_checks(0, NOW, 100),
    "lease_check": lambda client: CheckIndex("orders", client).lease_check(DUE, NOW),
    "count_reviews_opened_before": lambda client: ReviewIndex("orders", client).count_reviews_opened_before(0, NOW),
}
ORDER = Order(ORDER_ID, 50_000, "CLP", Status.PENDING, SESSION, "https://pay.example", "2026-01-01T00:00:00Z",
              "2026-01-01T00:00:00Z", check_session=SESSION)  # fmt: skip
# As the workers read it: without its signature_token.
ORDER_SESSION = PaymentSession(SESSION, ORDER_ID, 50_000, "CLP", None, Status.PENDING, "2026-01-01T00:00:00Z",
                               "2026-01-01T00:00:00Z")  # fmt: skip
OPENED = Review(1, "2026-01-01T00:16:00Z", (RaisedReason(ReviewReason.PAID_AFTER_FAILED, "2026-01-01T00:16:00Z"),))
FLAG = ReviewChange(reviews=(OPENED,), opened=OPENED, seen_reviews=0, seen_open_reasons=0)
# What a status-check worker (ReconcileWorkerFunction: CheckSession and the Settlement it shares
# with notifications) sends: the order and the session it checks, each outcome's write, the check
# index's, and ETpay's "slow down".
WORKER_REQUESTS = {
    "get_order_and_session": lambda client: OrderStore("orders", client).get_order_and_session(ORDER_ID, SESSION),
    "mark_paid": lambda client: OrderStore("orders", client).mark_paid(ORDER, ORDER_SESSION, "pay-1", NOW),
    "mark_failed": lambda client: OrderStore("orders", client).mark_failed(ORDER, ORDER_SESSION, "pay-1", NOW, True),
    "mark_failed, the order not": lambda client: OrderStore("orders", client).mark_failed(
        ORDER, ORDER_SESSION, "pay-1", NOW, False
    ),
    "record_double_payment": lambda client: OrderStore("orders", client).record_double_payment(
        ORDER, ORDER_SESSION, "pay-1", FLAG, NOW
    ),
    "expire": lambda client: OrderStore("orders", client).expire(ORDER, ORDER_SESSION, NOW, True),
    "expire, the order not": lambda client: OrderStore("orders", client).expire(ORDER, ORDER_SESSION, NOW, False),
    "record_double_payment, flagged already": lambda client: OrderStore("orders", client).record_double_payment(
        ORDER, ORDER_SESSION, "pay-1", None, NOW
    ),
    "flag_for_review": lambda client: OrderStore("orders", client).flag_for_review(ORDER, ORDER_SESSION, FLAG, NOW),
    "record_unknown_status": lambda client: OrderStore("orders", client).record_unknown_status(ORDER_SESSION, "x", NOW),
    "clear_check": lambda client: CheckIndex("orders", client).clear_check(ORDER_ID, SESSION),
    "reschedule_check": lambda client: CheckIndex("orders", client).reschedule_check(ORDER_ID, SESSION, NOW),
    "etpay_backoff_until": lambda client: CheckIndex("orders", client).etpay_backoff_until(),
    "extend_etpay_backoff": lambda client: CheckIndex("orders", client).extend_etpay_backoff(NOW),
}
# What verifying a notification reads, which no worker may.
VERIFYING_READ = {
    "get_order_and_session with its signature_token": lambda client: OrderStore("orders", client).get_order_and_session(
        ORDER_ID, SESSION, signature=True
    ),
}
# Requests for the tokens, by any spelling: none may pass either role.
TOKEN_READS = [
    Request("GetItem", None, f"ORDER#{ORDER_ID}", frozenset(), "ALL_ATTRIBUTES", None),
    Request("GetItem", None, f"ORDER#{ORDER_ID}", frozenset({"pk", "signature_tokens"}), "SPECIFIC_ATTRIBUTES", None),
    Request("GetItem", None, f"ORDER#{ORDER_ID}", frozenset({"pk", "status"}), "ALL_ATTRIBUTES", None),
    Request("UpdateItem", None, f"ORDER#{ORDER_ID}", frozenset({"pk", "next_check_at"}), None, "ALL_OLD"),
    Request("UpdateItem", None, f"ORDER#{ORDER_ID}", frozenset({"pk", "signature_tokens"}), None, "NONE"),
    Request("UpdateItem", None, f"ORDER#{ORDER_ID}", frozenset({"pk", "next_check_at"}), None, "UPDATED_NEW"),
]
# (A Query of a global index returns only what the index projects, whatever its Select: the test
# of the indexes below covers those.)


# -- the tests ---------------------------------------------------------------------------------------


def test_the_events_api_reads_orders_only_through_the_order_projection(deployed):
    requests = {name: recorded(call) for name, call in EVENTS_API_REQUESTS.items()}
    assert requests["snapshot"][0].attributes == {"pk", "sessions"} | order_attributes()
    for entry, template in deployed:
        statements = table_statements(template, "EventsApiFunctionRole")
        for name, sent in requests.items():
            assert all(allows(statements, request) for request in sent), (name, sent, entry.overrides)
        assert not any(allows(statements, request) for request in TOKEN_READS), entry.overrides
        # ... and nothing else of the table: exactly the order's attributes and its sessions' map,
        # with a projection.
        (statement,) = statements
        assert statement["Action"] in ("dynamodb:GetItem", ["dynamodb:GetItem"])
        assert set(statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]) == (
            {"pk", "sessions"} | order_attributes()
        )
        assert statement["Condition"]["StringEquals"]["dynamodb:Select"] == "SPECIFIC_ATTRIBUTES"


def test_the_sweep_reaches_what_it_schedules_and_never_a_session(deployed):
    requests = {name: recorded(call) for name, call in SWEEP_REQUESTS.items()}
    for entry, template in deployed:
        statements = table_statements(template, "ReconcileFunctionRole")
        for name, sent in requests.items():
            assert sent and all(allows(statements, request) for request in sent), (name, sent, entry.overrides)
        assert not any(allows(statements, request) for request in TOKEN_READS), entry.overrides
        # Every attribute the sweep's role may name is one its code does name.
        named = set().union(*(request.attributes for sent in requests.values() for request in sent))
        for statement in statements:
            attributes = statement.get("Condition", {}).get("ForAllValues:StringEquals", {}).get("dynamodb:Attributes")
            if attributes is not None:
                assert set(attributes) <= named, (set(attributes) - named, entry.overrides)
                assert not {"sessions", "signature_tokens"} & set(attributes)


def test_the_status_check_workers_settle_and_schedule_but_never_read_a_signature_token(deployed):
    requests = {name: recorded(call) for name, call in WORKER_REQUESTS.items()}
    verifying = recorded(VERIFYING_READ["get_order_and_session with its signature_token"])
    assert "signature_tokens" in verifying[0].attributes
    for entry, template in deployed:
        statements = table_statements(template, "ReconcileWorkerFunctionRole")
        for name, sent in requests.items():
            assert sent and all(allows(statements, request) for request in sent), (name, sent, entry.overrides)
        assert not any(allows(statements, request) for request in verifying + TOKEN_READS), entry.overrides
        # Every attribute the workers' role may name is one their code does name, never the tokens.
        named = set().union(*(request.attributes for sent in requests.values() for request in sent))
        for statement in statements:
            attributes = statement.get("Condition", {}).get("ForAllValues:StringEquals", {}).get("dynamodb:Attributes")
            if attributes is not None:
                assert set(attributes) <= named, (set(attributes) - named, entry.overrides)
                assert "signature_tokens" not in attributes


def test_the_backoff_item_is_the_only_item_the_sweep_reads_whole():
    (request,) = recorded(SWEEP_REQUESTS["etpay_backoff_until"])
    assert request.leading_key == BACKOFF_KEY and request.select == "ALL_ATTRIBUTES"


def test_the_indexes_these_roles_query_project_no_session(deployed):
    for _, template in deployed:
        indexes = {
            index["IndexName"]: index["Projection"]
            for index in template["Resources"][TABLE]["Properties"]["GlobalSecondaryIndexes"]
        }
        for role in RESTRICTED_ROLES:
            for statement in table_statements(template, role):
                for resource in listed(statement["Resource"]):
                    if "/index/" not in str(resource):
                        continue
                    name = resource["Fn::Sub"].rsplit("/", 1)[1]
                    projection = indexes[name]
                    assert projection["ProjectionType"] in ("KEYS_ONLY", "INCLUDE"), (role, name)
                    projected = set(projection.get("NonKeyAttributes", []))
                    assert not {"sessions", "signature_tokens"} & projected, (role, name)


def test_only_the_roles_that_need_whole_orders_reach_the_table_without_attribute_conditions(deployed):
    for entry, template in deployed:
        for role in of_type(template, "AWS::IAM::Role"):
            for statement in table_statements(template, role):
                on_table = {"Fn::GetAtt": [TABLE, "Arn"]} in listed(statement["Resource"])
                conditions = statement.get("Condition", {})
                unconditioned = on_table and not conditions
                if unconditioned:
                    assert role in WHOLE_ITEM_ROLES, (role, statement, entry.overrides)
        for role in RESTRICTED_ROLES:
            assert table_statements(template, role), role


def test_the_judge_sees_a_missing_select_condition():
    # Given a statement that limits attributes but not Select
    statement = {
        "Effect": "Allow",
        "Action": "dynamodb:GetItem",
        "Resource": {"Fn::GetAtt": [TABLE, "Arn"]},
        "Condition": {"ForAllValues:StringEquals": {"dynamodb:Attributes": ["pk", "status"]}},
    }
    # then a GetItem without a projection (no attributes named, the whole item returned) passes it
    assert statement_allows(statement, TOKEN_READS[0])
    # and a projection of the signature tokens does not
    assert not statement_allows(statement, TOKEN_READS[1])


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def order_attributes() -> set[str]:
    return {NAMES.get(name, name) for name in ORDER_ATTRIBUTES}

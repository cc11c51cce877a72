"""The files users run `sam local invoke` with, and the template the tests build tables from."""

from local.emulator.template import ROOT, load_template, routes, table_definitions
from scripts import make_events


def test_the_committed_events_are_what_the_generator_writes():
    for name, event in make_events.build_events().items():
        assert (ROOT / "events" / name).read_text() == make_events.render(event), f"run make events ({name})"


def test_every_route_has_an_event():
    events = make_events.build_events().values()
    covered = {(event["httpMethod"], event["resource"]) for event in events if "httpMethod" in event}
    assert covered == {(route.method, route.path) for route in routes()}


def test_the_template_declares_the_routes_of_the_contract():
    assert {(route.function, route.method, route.path) for route in routes()} == {
        ("PaymentsFunction", "POST", "/sessions"),
        ("PaymentsFunction", "GET", "/orders/{merchant_order_id}"),
        ("PaymentsFunction", "GET", "/reviews"),
        ("PaymentsFunction", "POST", "/orders/{merchant_order_id}/review"),
        ("NotificationsFunction", "POST", "/notifications"),
        ("EventsApiFunction", "GET", "/events/{event_id}"),
        ("EventsApiFunction", "GET", "/orders/{merchant_order_id}/events"),
        ("EventsApiFunction", "POST", "/events/{event_id}/redeliver"),
    }


def test_the_orders_table_is_on_demand_with_recovery_and_encryption():
    table = load_template()["Resources"]["OrdersTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert list(table_definitions()) == ["OrdersTable", "EventsTable"]


def _statements(statements: list) -> list[dict]:
    """Policy statements, both branches of a parameter-driven Fn::If included."""
    found = []
    for statement in statements:
        if "Fn::If" in statement:
            found += _statements([branch for branch in statement["Fn::If"][1:] if "Ref" not in branch])
        else:
            found.append(statement)
    return found


def test_no_policy_uses_a_wildcard():
    for name, resource in load_template()["Resources"].items():
        for policy in resource.get("Properties", {}).get("Policies", []) or []:
            # A SAM function's inline statements, or an IAM role's named policy documents.
            document = policy["PolicyDocument"] if resource["Type"] == "AWS::IAM::Role" else policy
            for statement in _statements(document["Statement"]):
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert not any("*" in action for action in actions), name
                assert statement["Resource"] != "*", name


def test_every_etpay_and_aws_wait_fits_inside_the_lambda_and_api_gateway_timeouts():
    from etpay import client
    from payments.adapters import aws as settings
    from payments.domain import policy

    lambda_timeout = load_template()["Globals"]["Function"]["Timeout"]
    api_gateway_limit = 29
    # Worst case of the slow parts of one POST /sessions: the secret read and ETpay.
    secrets = settings.SECRETS_MAX_ATTEMPTS * (
        settings.SECRETS_CONNECT_TIMEOUT_SECONDS + settings.SECRETS_READ_TIMEOUT_SECONDS
    )
    etpay = client.TOTAL_TIMEOUT_SECONDS
    worst = secrets + etpay
    assert client.CONNECT_TIMEOUT_SECONDS + client.READ_TIMEOUT_SECONDS >= etpay  # total is the binding cap
    assert worst < lambda_timeout < api_gateway_limit
    # ETpay is only asked while its cap plus one DynamoDB attempt to store the session still fit.
    assert etpay + settings.DYNAMODB_ATTEMPT_SECONDS < lambda_timeout
    assert policy.SESSION_CLAIM_SECONDS > lambda_timeout  # a live claim is never taken over


def test_the_check_queue_and_the_lease_outlast_a_worker():
    from payments.domain import policy as settings

    resources = load_template()["Resources"]
    worker_timeout = resources["ReconcileWorkerFunction"]["Properties"]["Timeout"]
    # Lambda's advice for an SQS event source: visibility at least six times the function timeout.
    assert resources["ReconcileQueue"]["Properties"]["VisibilityTimeout"] >= 6 * worker_timeout
    # A check handed out is not handed out again while its worker may still be at it.
    assert settings.CHECK_LEASE_SECONDS >= worker_timeout
    # A batch of checks, each bounded by ETpay's own cap, fits in the worker's timeout.
    from etpay import client

    batch = resources["ReconcileWorkerChecks"]["Properties"]["BatchSize"]
    assert batch * client.TOTAL_TIMEOUT_SECONDS < worker_timeout

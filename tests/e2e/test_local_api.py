"""The local API behaves like API Gateway's Lambda proxy in front of the template's functions."""

import json

from local.emulator.aws import physical_names
from local.emulator.template import ROOT
from local.examples import EXAMPLE_NOTIFICATION_KEY
from local.stack import STACK_NAME


def test_a_route_the_template_does_not_declare_gets_api_gateways_answer(http_api):
    for method, path in (("GET", "/nowhere"), ("DELETE", "/sessions"), ("GET", "/orders"), ("GET", "/orders/a/b")):
        reply = http_api.request(method, path)

        assert reply.status == 403, (method, path)
        assert reply.body == {"message": "Missing Authentication Token"}


def test_a_path_parameter_reaches_the_function_that_owns_the_route(http_api, order_id):
    http_api.open_session(order_id)

    found = http_api.get_order(order_id)
    missing = http_api.get_order(f"{order_id}-other")

    assert found.status == 200
    assert found.body["merchant_order_id"] == order_id
    assert (missing.status, missing.error) == (404, "not_found")


def test_the_functions_answer_comes_back_with_its_status_headers_and_body(http_api):
    reply = http_api.request("POST", "/sessions", "{not json", {"Content-Type": "application/json"})

    assert reply.status == 400
    assert reply.error == "validation_error"
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.headers["x-amzn-RequestId"]


def test_a_body_that_is_not_utf8_reaches_the_function_base64_encoded(http_api):
    path = f"/notifications?key={EXAMPLE_NOTIFICATION_KEY}"
    reply = http_api.request("POST", path, b"\xff\xfe\x00", {"Content-Type": "application/octet-stream"})

    # The function decoded the base64 body and refused it on its own terms, not the gateway.
    assert reply.status == 400
    assert reply.error == "validation_error"


def test_a_function_without_a_route_runs_in_its_own_environment_too(local_stack):
    # The scheduled sweep queries the template's sharded index in the emulator (nothing is due).
    report = local_stack.invoke("ReconcileFunction", {"source": "aws.scheduler", "detail": {}})

    assert report == {
        "handed_out": 0,
        "lost_leases": 0,
        "stuck": 0,
        "backing_off": False,
        "out_of_time": False,
        "overdue_reviews": 0,
    }


def test_the_events_run_against_the_local_stack_as_sam_local_would_run_them(local_stack):
    """events/env.json names the local stack's table and secret; the example notification is
    signed for the session that events/create_session.json opens there."""
    settings = json.loads((ROOT / "events" / "env.json").read_text())["Parameters"]
    names = physical_names(STACK_NAME)
    assert settings["TABLE_NAME"] == names["OrdersTable"]
    assert settings["ETPAY_SECRET_ID"] == names["EtpaySecret"]
    assert settings["NOTIFICATION_KEY_SECRET_ID"] == names["NotificationKeySecret"]

    def run(function, name):
        response = local_stack.invoke(function, json.loads((ROOT / "events" / name).read_text()))
        return response["statusCode"], json.loads(response["body"])

    assert run("PaymentsFunction", "create_session.json")[0] in (200, 201)
    assert run("NotificationsFunction", "notification.json") == (200, {"received": True})
    status, order = run("PaymentsFunction", "get_order.json")
    assert (status, order["status"]) == (200, "PAID")

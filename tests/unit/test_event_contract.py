"""openapi.yaml says what the events are, as the code makes them: their types, ids, delivery
states and errors, and a body derived by the code validates against the contract's schema."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from local.template import routes
from payments.delivery import CONNECTION_ERROR, TIMEOUT, TLS_ERROR
from payments.event_service import EVENT_ID_PATTERN
from payments.events import DeliveryState, EventType, OrderSnapshot, SessionState, derive_events
from payments.http import STATUS_BY_CODE
from payments.model import Order, Status

CONTRACT = yaml.safe_load((Path(__file__).resolve().parents[2] / "openapi.yaml").read_text())
SCHEMAS = CONTRACT["components"]["schemas"]


def schema(name: str) -> dict:
    """A component schema with its references resolvable (OpenAPI 3.0's `nullable` aside)."""
    return {**SCHEMAS[name], "components": CONTRACT["components"]}


def test_the_contract_names_every_event_type_delivery_state_and_error_kind():
    assert SCHEMAS["Event"]["properties"]["type"]["enum"] == [event_type.value for event_type in EventType]
    delivery = SCHEMAS["Delivery"]["properties"]
    assert delivery["state"]["enum"] == [state.value for state in DeliveryState]
    assert set(delivery["last_error"]["enum"]) == {TIMEOUT, CONNECTION_ERROR, TLS_ERROR}
    assert SCHEMAS["EventId"]["pattern"] == EVENT_ID_PATTERN.pattern
    assert set(SCHEMAS["Error"]["properties"]["error"]["enum"]) == set(STATUS_BY_CODE)


def test_the_contract_has_every_route_of_the_template():
    declared = {(method.upper(), path) for path, item in CONTRACT["paths"].items() for method in item}
    assert declared == {(route.method, route.path) for route in routes()}


@pytest.mark.parametrize("status", [Status.PENDING, Status.PAID])
def test_a_derived_event_body_validates_against_the_webhook_schema(status):
    now = "2026-11-26T10:00:00.000Z"
    order = Order("OC-1", 50_000, "CLP", status, "s1", "https://pmt.example/session/s1", now, now)
    before = (
        OrderSnapshot(None)
        if status is Status.PENDING
        else OrderSnapshot(
            Order("OC-1", 50_000, "CLP", Status.PENDING, "s1", "https://pmt.example/session/s1", now, now),
            {"s1": SessionState("PENDING", now, now)},
        )
    )
    after = OrderSnapshot(order, {"s1": SessionState(status.value, now, now)})

    (event,) = derive_events(before, after)

    jsonschema.validate(json.loads(event.body_json()), schema("Event"))
    webhook = CONTRACT["x-webhooks"]["paymentEvent"]["post"]
    assert webhook["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Event"}

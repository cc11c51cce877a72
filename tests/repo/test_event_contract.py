"""openapi.yaml says what the events are, as the code makes them: their types, ids, delivery
states and errors, and a body derived by the code validates against the contract's schema."""

import json
from dataclasses import replace
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]  # requirements-dev.txt has no types-jsonschema
import pytest
import yaml

from local.emulator.template import routes
from payments.api.http import STATUS_BY_CODE
from payments.api.validation import DEFAULT_REVIEW_PAGE_SIZE, MAX_REVIEW_NOTE_CHARS, MAX_REVIEW_PAGE_SIZE, NOTE_PATTERN
from payments.domain.events import (
    EVENT_ID_PATTERN,
    DeliveryState,
    EventType,
    OrderSnapshot,
    SessionState,
    derive_events,
)
from payments.domain.orders import Order, RaisedReason, Resolution, Review, ReviewReason, ReviewResolution, Status
from payments.domain.webhooks import CONNECTION_ERROR, TIMEOUT, TLS_ERROR

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
            {"s1": SessionState(Status.PENDING, now, now)},
        )
    )
    after = OrderSnapshot(order, {"s1": SessionState(status.value, now, now)})

    (event,) = derive_events(before, after)

    jsonschema.validate(json.loads(event.body_json()), schema("Event"))
    webhook = CONTRACT["x-webhooks"]["paymentEvent"]["post"]
    assert webhook["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Event"}


def test_the_contract_names_every_resolution_and_review_reason_and_the_notes_rule():
    assert SCHEMAS["Resolution"]["enum"] == [resolution.value for resolution in Resolution]
    assert SCHEMAS["ReviewReason"]["enum"] == [reason.value for reason in ReviewReason]
    assert NOTE_PATTERN.fullmatch("any text\n\tat all \u2713 \U0001f600") and not NOTE_PATTERN.fullmatch("\ud800")
    assert SCHEMAS["ReviewResolution"]["properties"]["note"]["maxLength"] == MAX_REVIEW_NOTE_CHARS
    limit = next(p for p in CONTRACT["paths"]["/reviews"]["get"]["parameters"] if p["name"] == "limit")["schema"]
    assert (limit["default"], limit["maximum"]) == (DEFAULT_REVIEW_PAGE_SIZE, MAX_REVIEW_PAGE_SIZE)


def test_review_events_validate_against_the_webhook_schema_and_a_reopened_review_is_required_again():
    # given an order flagged, resolved, then flagged again for the same reason
    flagged_at, resolved_at, again_at = (
        "2026-11-26T10:00:00.000Z",
        "2026-11-26T11:00:00.000Z",
        "2026-11-27T09:00:00.000Z",
    )
    raised = (RaisedReason(ReviewReason.FAILED_AFTER_PAID, flagged_at),)
    resolution = ReviewResolution(Resolution.CONFIRMED_WITH_ETPAY, "api-key:k1", resolved_at, "checked")
    paid = Order("OC-1", 50_000, "CLP", Status.PAID, "s1", "https://pmt.example/session/s1", flagged_at, flagged_at)
    sessions = {"s1": SessionState(Status.PAID, flagged_at, flagged_at)}
    states = [
        replace(paid, reviews=()),
        replace(
            paid, review_reasons=frozenset({ReviewReason.FAILED_AFTER_PAID}), reviews=(Review(1, flagged_at, raised),)
        ),
        replace(paid, updated_at=resolved_at, reviews=(Review(1, flagged_at, raised, resolution),)),
        replace(
            paid,
            updated_at=again_at,
            review_reasons=frozenset({ReviewReason.FAILED_AFTER_PAID}),
            reviews=(
                Review(1, flagged_at, raised, resolution),
                Review(2, again_at, (RaisedReason(ReviewReason.FAILED_AFTER_PAID, again_at),)),
            ),
        ),
    ]

    # when the events of each write are derived
    events = [
        event
        for before, after in zip(states, states[1:], strict=False)
        for event in derive_events(OrderSnapshot(before, sessions), OrderSnapshot(after, sessions))
    ]

    # then: required, resolved, required again (its own id), each a valid webhook body
    assert [event.type for event in events] == [
        EventType.ORDER_REVIEW_REQUIRED,
        EventType.ORDER_REVIEW_RESOLVED,
        EventType.ORDER_REVIEW_REQUIRED,
    ]
    assert len({event.id for event in events}) == 3
    for event in events:
        jsonschema.validate(json.loads(event.body_json()), schema("Event"))

"""Writes events/*.json: one API Gateway event per route, for `sam local invoke` and the tests.

The notification is signed here (never pasted) with the example signature_token that the README
names. A test checks that the committed files equal what this script writes.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "etpay"), str(ROOT)]

from etpay import sign_notification  # noqa: E402
from local.events import api_gateway_event  # noqa: E402
from local.examples import (  # noqa: E402
    EXAMPLE_AMOUNT,
    EXAMPLE_NOTIFICATION_KEY,
    EXAMPLE_ORDER_ID,
    EXAMPLE_SIGNATURE_TOKEN,
    example_notification_claims,
)

EVENTS_DIR = ROOT / "events"
FIXED_REQUEST_ID = "00000000-0000-4000-8000-000000000000"


def build_events() -> dict[str, dict]:
    json_headers = {"Content-Type": "application/json"}
    common = {"request_id": FIXED_REQUEST_ID}
    return {
        "create_session.json": api_gateway_event(
            "POST",
            "/sessions",
            "/sessions",
            json.dumps({"merchant_order_id": EXAMPLE_ORDER_ID, "order_amount": EXAMPLE_AMOUNT}),
            json_headers,
            **common,
        ),
        "get_order.json": api_gateway_event(
            "GET",
            "/orders/{merchant_order_id}",
            f"/orders/{EXAMPLE_ORDER_ID}",
            path_parameters={"merchant_order_id": EXAMPLE_ORDER_ID},
            **common,
        ),
        "notification.json": api_gateway_event(
            "POST",
            "/notifications",
            "/notifications",
            json.dumps({"payment": sign_notification(example_notification_claims(), EXAMPLE_SIGNATURE_TOKEN)}),
            json_headers,
            # ETpay calls the URL the session was opened with, the stack's notification key in it.
            query={"key": EXAMPLE_NOTIFICATION_KEY},
            **common,
        ),
    }


def render(event: dict) -> str:
    return json.dumps(event, indent=2, sort_keys=True) + "\n"


def main() -> None:
    EVENTS_DIR.mkdir(exist_ok=True)
    for name, event in build_events().items():
        (EVENTS_DIR / name).write_text(render(event))
        print(f"wrote events/{name}")


if __name__ == "__main__":
    main()

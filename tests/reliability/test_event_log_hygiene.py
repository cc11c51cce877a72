"""Log and payload hygiene of the events: drive payments carrying payer data (RUT, email, account
numbers) through the handlers, publish their events, deliver the webhooks (refused once, then
taken), redeliver one, rotate the webhook secret and lose it, read the events back, and capture
every log line (the approach of test_log_hygiene.py). No log line, event body, bus event, webhook
or API answer may carry a secret (signature tokens, JWTs, the ETpay API token, the webhook
secrets, keys or signatures) or a payer datum."""

import json

import boto3

from payments.config import wiring
from payments.domain.webhooks import signing_key
from tests.reliability.test_log_hygiene import MexicanWorld, World, captured_logs  # noqa: F401 - captured_logs is a fixture
from tests.support.aws import REGION

NEW_WEBHOOK_SECRET = "Rotated0123456789abcdefghijklmnopqrstuvwxyzABCD"  # noqa: S105 - a test secret


def test_no_event_webhook_or_delivery_log_line_carries_a_secret_or_payer_data(
    api,
    stack,
    events_stack,
    captured_logs,  # noqa: F811 - the fixture imported above
    record_property,
):
    world = World(api, stack)
    sessions_before = set(stack.sessions)

    # A payment with every piece of payer data the API takes, and a notification full of it.
    paid_order = world.order()
    paid_token = world.open(paid_order)
    world.notify(world.signed(paid_token, "paid"), 200)
    # A failed order, then paid for its failed session (flagged for review), then a new session.
    failed_order = world.order()
    failed_token = world.open(failed_order)
    world.notify(world.signed(failed_token, "failed"), 200)
    world.notify(world.signed(failed_token, "paid"), 200)
    world.open(failed_order)
    # A signed notification that disagrees with the order (notification_mismatch).
    mismatch_order = world.order()
    world.notify(world.signed(world.open(mismatch_order), "paid", merchant_amount=1), 200)

    # The events go out; the merchant refuses the first webhooks, then takes them.
    events_stack.publish()
    events_stack.receiver.answer_next(500, times=3)
    events_stack.deliver()
    events_stack.show_hidden_messages()
    events_stack.deliver()
    # The merchant reads its events back and asks for one again.
    stored = events_stack.stored_events()
    replies = [events_stack.get_event(item["event_id"]) for item in stored]
    replies += [events_stack.order_events(order_id) for order_id in world.order_ids]
    replies.append(events_stack.redeliver(stored[-1]["event_id"]))
    # The secret is rotated (both sign), then becomes unreadable (attempts wait for it).
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=events_stack.secret_id, SecretString=NEW_WEBHOOK_SECRET
    )
    wiring.reset()
    events_stack.deliver()
    events_stack.redeliver(stored[0]["event_id"])
    boto3.client("secretsmanager", region_name=REGION).delete_secret(
        SecretId=events_stack.secret_id, ForceDeleteWithoutRecovery=True
    )
    wiring.reset()
    events_stack.deliver()

    rendered, distinct_records, stream, stdout = captured_logs()
    logs = "\n".join((*rendered, stream, stdout))
    webhooks = events_stack.receiver.received
    payloads = "\n".join(
        [item["body"] for item in stored]
        + [json.dumps(event) for event in events_stack.bus_events()]
        + [webhook.body for webhook in webhooks]
        + [json.dumps(body) for _, body in replies]
    )

    # The capture saw the events' flows, with the ids a person needs and nothing more.
    assert {"session.created", "payment.succeeded", "payment.failed", "order.review_required"} <= {
        webhook.type for webhook in webhooks
    }
    for message in (
        "event published",
        "webhook delivered",
        "webhook attempt failed; retried",
        "webhook redelivery queued",
        "secret unreadable",
        "webhook not attempted; retried",
    ):
        assert message in logs, f"nothing logged {message!r}"
    delivered = [line for line in stream.splitlines() if '"webhook delivered"' in line]
    assert delivered and all(
        all(f'"{key}"' in line for key in ("event_id", "event_type", "merchant_order_id", "status_code", "attempt"))
        for line in delivered
    )

    # ... and none of it carries a secret or a payer datum.
    new_sessions = [token for token in stack.sessions if token not in sessions_before]
    forbidden = world.forbidden(new_sessions)
    for name, secret in (("webhook secret", events_stack.secret), ("rotated webhook secret", NEW_WEBHOOK_SECRET)):
        forbidden[name] = secret
        forbidden[f"{name}, whsec_ form"] = "whsec_" + secret
        forbidden[f"{name}, key bytes"] = signing_key(secret).hex()
    for index, webhook in enumerate(webhooks):
        for number, signature in enumerate(webhook.headers["webhook-signature"].split(" ")):
            forbidden[f"signature {number} of webhook #{index}"] = signature.split(",", 1)[1]
    record_property("forbidden_values", len(forbidden))
    record_property("log_records", distinct_records)
    record_property("webhooks", len(webhooks))
    leaks = {name for name, value in forbidden.items() if value in logs}
    assert not leaks, f"logged: {sorted(leaks)}"
    payload_secrets = {name: value for name, value in forbidden.items() if not name.startswith("signature ")}
    leaks = {name for name, value in payload_secrets.items() if value in payloads}
    assert not leaks, f"in an event, a webhook or an answer: {sorted(leaks)}"
    assert "signature_token" not in payloads


def test_no_event_webhook_or_log_line_of_an_mxn_stack_carries_the_payers_phone(
    api,
    mx_stack,
    mx_events_stack,
    captured_logs,  # noqa: F811 - the fixture imported above
):
    # given Mexican payments whose sessions carried the payer's phone: paid, failed then paid for
    # the failed session (flagged), reopened, and a mismatch
    world = MexicanWorld(api, mx_stack)
    paid_order = world.order()
    world.notify(world.signed(world.open(paid_order), "paid"), 200)
    failed_order = world.order()
    failed_token = world.open(failed_order)
    world.notify(world.signed(failed_token, "failed"), 200)
    world.notify(world.signed(failed_token, "paid"), 200)
    world.open(failed_order)
    world.notify(world.signed(world.open(world.order()), "paid", merchant_amount=1), 200)

    # when their events are published, delivered as webhooks and read back
    mx_events_stack.publish()
    mx_events_stack.deliver()
    stored = mx_events_stack.stored_events()
    replies = [mx_events_stack.get_event(item["event_id"]) for item in stored]
    replies += [mx_events_stack.order_events(order_id) for order_id in world.order_ids]

    # then every event went out in MXN ...
    webhooks = mx_events_stack.receiver.received
    assert {"session.created", "payment.succeeded", "payment.failed", "order.review_required"} <= {
        webhook.type for webhook in webhooks
    }
    bus = mx_events_stack.bus_events()
    assert bus and all(event["detail"]["data"]["order"]["currency"] == "MXN" for event in bus)
    # ... and no event body, bus event, webhook, answer or log line carries the phone
    rendered, _, stream, stdout = captured_logs()
    everywhere = "\n".join(
        [*rendered, stream, stdout]
        + [item["body"] for item in stored]
        + [json.dumps(event) for event in bus]
        + [webhook.body for webhook in webhooks]
        + [json.dumps(body) for _, body in replies]
        + [json.dumps(reply.body) for reply in world.replies]
    )
    assert world.phone not in everywhere
    assert "customer_phone" not in everywhere

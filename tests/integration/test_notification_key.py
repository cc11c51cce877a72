"""The second factor on POST /notifications: the key ETpay's notification URL carries.

Given an order whose session ETpay will notify, when a notification arrives with the right key,
the previous key (after a rotation), a wrong key or none, then it is verified, or refused with the
very answer a bad signature gets, before anything is read from DynamoDB.
"""

import json

import pytest

from payments.adapters import secrets as secret_store
from payments.adapters.notification_keys import NOTIFICATION_KEY_RECHECK_SECONDS
from payments.adapters.secrets import NOTIFICATION_KEY_MAX_AGE_SECONDS
from payments.config import wiring
from tests.support.api import open_session
from tests.support.aws import NOTIFICATION_KEY, NOTIFICATION_KEY_SECRET_ID, aws_client, stored_items
from tests.support.logs import emitted_metrics

ROTATED_KEY = "RotatedNotificationKey0123456789abcdefghijklmnopq"


def rotate_key(new_key: str = ROTATED_KEY) -> None:
    """What the runbook's rotation does: a new AWSCURRENT; the old value becomes AWSPREVIOUS."""
    aws_client("secretsmanager").put_secret_value(SecretId=NOTIFICATION_KEY_SECRET_ID, SecretString=new_key)


def paid(stack, token: str) -> str:
    return json.dumps({"payment": stack.notification_jwt(token, "paid")})


def test_the_right_key_lets_the_notification_through(api, stack, order_id):
    token = open_session(api, stack, order_id)

    reply = api.notify(paid(stack, token), key=NOTIFICATION_KEY)

    assert reply.status == 200
    assert api.get_order(order_id).body["status"] == "PAID"


@pytest.mark.parametrize(
    "key", [None, "", "wrong", NOTIFICATION_KEY[:-1], NOTIFICATION_KEY + "x", NOTIFICATION_KEY.lower()]
)
def test_a_wrong_or_missing_key_gets_the_answer_a_bad_signature_gets_and_reads_nothing(
    api, stack, order_id, aws_faults, capfd, key
):
    token = open_session(api, stack, order_id)
    bad_signature = api.notify(json.dumps({"payment": stack.notification_jwt(token, "paid") + "x"}))
    before = stored_items()
    capfd.readouterr()
    aws_faults.heal()  # counts attempts from here

    reply = api.notify(paid(stack, token), key=key)

    assert (reply.status, reply.body) == (bad_signature.status, bad_signature.body) == (401, reply.body)
    assert reply.error == "invalid_notification"
    assert aws_faults.count("dynamodb", "GetItem") == 0
    assert stored_items() == before
    assert "NotificationRejected" in emitted_metrics(capfd.readouterr().out)


def test_a_wrong_key_is_refused_before_the_body_is_even_read(api, stack):
    reply = api.notify("not a notification at all", key="wrong")

    assert (reply.status, reply.error) == (401, "invalid_notification")


def test_after_a_rotation_the_previous_key_still_settles_sessions_opened_under_it(api, stack, order_id):
    token = open_session(api, stack, order_id)
    sent_to_etpay = stack.session(token).request["payment_webhook_url"]
    rotate_key()
    secret_store.store.forget()  # every function has since read the rotated secret

    reply = api.notify(paid(stack, token), key=NOTIFICATION_KEY)

    assert sent_to_etpay.endswith(f"?key={NOTIFICATION_KEY}")
    assert reply.status == 200
    assert api.get_order(order_id).body["status"] == "PAID"


def test_after_a_rotation_new_sessions_carry_the_new_key_and_the_key_before_the_previous_is_refused(
    api, stack, order_id
):
    rotate_key()
    rotate_key("ThirdNotificationKey0123456789abcdefghijklmnopqrs")
    secret_store.store.forget()

    token = open_session(api, stack, order_id)

    assert (
        stack.session(token)
        .request["payment_webhook_url"]
        .endswith("?key=ThirdNotificationKey0123456789abcdefghijklmnopqrs")
    )
    assert api.notify(paid(stack, token), key=NOTIFICATION_KEY).status == 401
    assert api.notify(paid(stack, token), key=ROTATED_KEY).status == 200


def test_a_key_rotated_after_the_cache_was_filled_is_accepted_once_the_cache_is_old_enough(
    api, stack, order_id, monkeypatch
):
    """A payments function may send the new key while a notifications function still has the old
    one cached: the unknown key makes it read the secret again, at most every recheck interval."""
    token = open_session(api, stack, order_id)
    clock = [1000.0]
    monkeypatch.setattr(secret_store.store, "_monotonic", lambda: clock[0])
    secret_store.store.forget()
    assert api.notify(json.dumps({"payment": stack.notification_jwt(token, "unknown-word")})).status == 200
    rotate_key()

    too_soon = api.notify(paid(stack, token), key=ROTATED_KEY)
    clock[0] += NOTIFICATION_KEY_RECHECK_SECONDS
    later = api.notify(paid(stack, token), key=ROTATED_KEY)

    assert too_soon.status == 401
    assert later.status == 200


def test_a_revoked_key_is_refused_by_every_warm_function_within_a_minute(api, stack, order_id, monkeypatch):
    """The runbook's emergency revocation: after a rotation, the previous version (the leaked key)
    is dropped from the secret; functions that have both keys cached refuse it once their copy is
    NOTIFICATION_KEY_MAX_AGE_SECONDS old, and the new key keeps working."""
    token = open_session(api, stack, order_id)
    clock = [1000.0]
    monkeypatch.setattr(secret_store.store, "_monotonic", lambda: clock[0])
    rotate_key()
    secret_store.store.forget()
    assert api.notify(json.dumps({"payment": stack.notification_jwt(token, "unknown-word")})).status == 200

    # when the previous version is revoked
    revoke_previous_key()

    # then a function whose copy is younger than the maximum age still has it ...
    clock[0] += NOTIFICATION_KEY_MAX_AGE_SECONDS - 1
    assert api.notify(json.dumps({"payment": stack.notification_jwt(token, "unknown-word")})).status == 200
    # ... and no function accepts it from then on, while the new key settles the order
    clock[0] += 1
    assert api.notify(paid(stack, token), key=NOTIFICATION_KEY).status == 401
    assert api.notify(paid(stack, token), key=ROTATED_KEY).status == 200
    assert api.get_order(order_id).body["status"] == "PAID"


def test_two_rotations_within_a_session_lifetime_delay_its_settlement_but_lose_nothing(api, stack, order_id):
    # A session opened under a key two rotations old is notified with a key no longer accepted:
    # refused, and left for the reconciliation (its status check settles it).
    token = open_session(api, stack, order_id)
    rotate_key()
    rotate_key("ThirdNotificationKey0123456789abcdefghijklmnopqrs")
    secret_store.store.forget()

    assert api.notify(paid(stack, token), key=NOTIFICATION_KEY).status == 401
    stored = aws_client("dynamodb").get_item(TableName="etpay-orders-test", Key={"pk": {"S": f"ORDER#{order_id}"}})[
        "Item"
    ]
    assert stored["check_session"]["S"] == token  # its status checks are still due


def revoke_previous_key() -> None:
    """What the runbook's emergency revocation does: the AWSPREVIOUS stage leaves the old version."""
    client = aws_client("secretsmanager")
    stages = client.describe_secret(SecretId=NOTIFICATION_KEY_SECRET_ID)["VersionIdsToStages"]
    (previous,) = [version for version, labels in stages.items() if "AWSPREVIOUS" in labels]
    client.update_secret_version_stage(
        SecretId=NOTIFICATION_KEY_SECRET_ID, VersionStage="AWSPREVIOUS", RemoveFromVersionId=previous
    )


def test_without_the_key_secret_configured_a_keyed_notification_is_a_503_to_retry(
    api, stack, order_id, aws_faults, monkeypatch
):
    # A deployment mistake must not turn every ETpay notification into a permanent refusal: ETpay
    # is told to try again, and nothing is read or written.
    token = open_session(api, stack, order_id)
    before = stored_items()
    monkeypatch.delenv("NOTIFICATION_KEY_SECRET_ID")
    wiring.reset()
    aws_faults.heal()

    reply = api.notify(paid(stack, token), key=NOTIFICATION_KEY)

    assert (reply.status, reply.error) == (503, "configuration_unavailable")
    assert aws_faults.count("dynamodb", "GetItem") == 0
    assert stored_items() == before

"""The keys that sign webhooks, from the Secrets Manager secret named by WEBHOOK_SECRET_ID, read
through the secret store (payments.adapters.secrets: cached for SECRET_MAX_AGE_SECONDS, never logged,
never returned).

Rotation is Secrets Manager's own: `put-secret-value` makes the new value AWSCURRENT and moves the
old one to AWSPREVIOUS. Webhooks are signed with both while AWSPREVIOUS exists, so a merchant
still verifying with the old secret accepts them, and so does one already on the new secret.
(Signing with the old key gives nobody anything new: whoever holds it can sign for themselves;
what stops a leaked secret is the merchant no longer accepting it.)
"""

from aws_lambda_powertools import Logger

from payments.adapters.secrets import CURRENT, PREVIOUS, SecretKind, UnusableSecret, read_ahead_together, store
from payments.domain.errors import ConfigurationUnavailable
from payments.domain.webhooks import signing_key

logger = Logger(child=True)


def _current_key(text: str) -> bytes:
    try:
        return signing_key(text)
    except ConfigurationUnavailable as error:
        raise UnusableSecret(error.message) from None


def _previous_key(text: str) -> bytes | None:
    """The old value is no usable key (a mistyped rotation, say): sign with the current one only."""
    try:
        return signing_key(text)
    except ConfigurationUnavailable as error:
        logger.warning("previous webhook secret ignored", extra={"problem": error.message})
        return None


WEBHOOK_SECRET = SecretKind("webhook secret", _current_key)
PREVIOUS_WEBHOOK_SECRET = SecretKind("previous webhook secret", _previous_key)


def load_signing_keys(secret_id: str | None) -> tuple[bytes, ...]:
    """The current key first, then the previous one when the secret has a usable one."""
    current = store.load(secret_id, WEBHOOK_SECRET)
    previous = store.load_optional(secret_id, PREVIOUS_WEBHOOK_SECRET, PREVIOUS)
    return (current,) if previous is None else (current, previous)


def read_signing_keys_ahead(secret_id: str | None) -> None:
    """Read both versions ahead of the first delivery (see SecretStore.read_ahead)."""
    read_ahead_together((secret_id, WEBHOOK_SECRET, CURRENT), (secret_id, PREVIOUS_WEBHOOK_SECRET, PREVIOUS))

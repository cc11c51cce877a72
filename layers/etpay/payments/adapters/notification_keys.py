"""The second factor on POST /notifications (payments.app.ports.NotificationKeys): a per-stack key
in ETpay's notification URL, kept in Secrets Manager.

/notifications is public (ETpay cannot sign AWS requests), and a well-formed JWT alone would cost a
DynamoDB read before its signature can be checked. So the payment_webhook_url we hand ETpay
carries a key, generated at deploy time in Secrets Manager, and a notification without it is
turned away before anything is read. The key is compared in constant time. Rotating it
(put-secret-value) moves the old value to AWSPREVIOUS, which stays valid: sessions opened under
it still settle.
"""

import hmac

from payments.adapters.secrets import CURRENT, NOTIFICATION_KEY, PREVIOUS, SecretStore

# A key that matches neither cached version is checked against Secrets Manager again, in case it
# was just rotated (a payments function may already send the new one), but at most this often:
# wrong keys must not turn into a Secrets Manager call each.
NOTIFICATION_KEY_RECHECK_SECONDS = 30


class NotificationKeys:
    def __init__(
        self, secret_id: str | None, store: SecretStore, recheck_seconds: float = NOTIFICATION_KEY_RECHECK_SECONDS
    ):
        self._secret_id = secret_id
        self._store = store
        self._recheck_seconds = recheck_seconds

    def current(self) -> str:
        """The key new sessions' notification URLs carry. ConfigurationUnavailable if unreadable."""
        return self._store.load(self._secret_id, NOTIFICATION_KEY)

    def accepts(self, presented: str | None) -> bool:
        """Whether `presented` is the current or the previous key. A key the cached copies do not
        know is checked once more against Secrets Manager (it may have just been rotated), at most
        every recheck_seconds."""
        if not presented:
            return False
        if self._matches(presented):
            return True
        # _matches read the secret: unconfigured, it raised ConfigurationUnavailable.
        assert self._secret_id is not None
        if self._store.age_seconds(self._secret_id, NOTIFICATION_KEY) < self._recheck_seconds:
            return False
        self._store.forget_secret(self._secret_id)
        return self._matches(presented)

    def _matches(self, presented: str) -> bool:
        valid = [
            self._store.load(self._secret_id, NOTIFICATION_KEY, CURRENT),
            self._store.load_optional(self._secret_id, NOTIFICATION_KEY, PREVIOUS),
        ]
        # Compared with every valid key, whichever matches: the time taken says nothing.
        matched = False
        for key in valid:
            if key is not None:
                matched |= hmac.compare_digest(presented.encode(), key.encode())
        return matched

"""The secret cache: any secret, JSON or plain text, and each of its version stages, kept for
SECRET_MAX_AGE_SECONDS once it parsed; never a value that did not."""

import pytest

from payments.adapters import secrets as secrets_module
from payments.adapters.aws import aws_client as adapter_client
from payments.adapters.secrets import CURRENT, PREVIOUS, SecretKind, SecretStore, json_object, plain_text
from payments.domain.errors import ConfigurationUnavailable
from tests.support.aws import aws_client

SIGNING_KEY = SecretKind("webhook signing key", plain_text)
SETTINGS = SecretKind("partner settings", json_object)


class FakeMonotonic:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def secrets():
    return aws_client("secretsmanager")


def rotated_secret(name: str, before: str, after: str) -> None:
    """A secret whose AWSCURRENT is `after` and whose AWSPREVIOUS is `before`, as a rotation leaves it."""
    secrets().create_secret(Name=name, SecretString=before)
    secrets().put_secret_value(SecretId=name, SecretString=after)


@pytest.fixture
def clock():
    return FakeMonotonic()


@pytest.fixture
def store(aws, clock):
    return SecretStore(client=secrets, max_age_seconds=300, monotonic=clock)


def test_a_plain_text_secret_and_its_previous_version_are_loaded_separately(store):
    rotated_secret("hook-key", "old-key-0123456789", "new-key-0123456789")

    assert store.load("hook-key", SIGNING_KEY) == "new-key-0123456789"
    assert store.load("hook-key", SIGNING_KEY, stage=PREVIOUS) == "old-key-0123456789"


def test_a_json_secret_is_kept_until_it_ages_out(store, clock):
    secrets().create_secret(Name="partner", SecretString='{"region": "cl"}')
    first = store.load("partner", SETTINGS)
    secrets().put_secret_value(SecretId="partner", SecretString='{"region": "mx"}')

    still_cached = store.load("partner", SETTINGS, stage=CURRENT)
    clock.now += 301
    aged_out = store.load("partner", SETTINGS)

    assert first == still_cached == {"region": "cl"}
    assert aged_out == {"region": "mx"}


@pytest.mark.parametrize(
    ("kind", "broken", "fixed", "value"),
    [
        (SETTINGS, "not json: s3cr3t", '{"fixed": true}', {"fixed": True}),
        (SETTINGS, '["s3cr3t"]', '{"fixed": true}', {"fixed": True}),
        (SIGNING_KEY, "   ", "fixed-key", "fixed-key"),
    ],
)
def test_an_unusable_secret_is_refused_without_quoting_it_and_not_kept(store, kind, broken, fixed, value):
    secrets().create_secret(Name="broken", SecretString=broken)

    with pytest.raises(ConfigurationUnavailable) as refused:
        store.load("broken", kind)
    secrets().put_secret_value(SecretId="broken", SecretString=fixed)

    assert "s3cr3t" not in refused.value.message
    assert store.load("broken", kind) == value


def test_a_secret_that_is_not_configured_is_refused_without_a_call(store):
    with pytest.raises(ConfigurationUnavailable):
        store.load(None, SIGNING_KEY)


def test_a_secret_never_read_counts_as_infinitely_old_and_one_read_as_its_age(store, clock):
    # What lets an unknown notification key be checked against Secrets Manager at once on a
    # fresh cache, and at most every recheck interval after.
    secrets().create_secret(Name="hook-key", SecretString="key-0123456789")

    never_read = store.age_seconds("hook-key", SIGNING_KEY)
    store.load("hook-key", SIGNING_KEY)
    clock.now += 42
    read = store.age_seconds("hook-key", SIGNING_KEY)
    store.forget_secret("hook-key")

    assert never_read == float("inf")
    assert read == 42
    assert store.age_seconds("hook-key", SIGNING_KEY) == float("inf")


def test_secrets_read_ahead_together_are_each_cached_and_one_missing_harms_none(aws, aws_faults, monkeypatch):
    # The client of reads ahead: one short attempt each.
    store = SecretStore(client=secrets, ahead=lambda: adapter_client("secretsmanager", ahead=True), max_age_seconds=300)
    monkeypatch.setattr(secrets_module, "store", store)
    rotated_secret("signing", "old-key", "new-key")
    secrets().create_secret(Name="partner", SecretString='{"region": "cl"}')
    aws_faults.fail_next("secrets-manager", "GetSecretValue", "InternalServiceError")  # one of the reads

    secrets_module.read_ahead_together(
        ("signing", SIGNING_KEY, CURRENT), ("signing", SIGNING_KEY, PREVIOUS), ("partner", SETTINGS, CURRENT)
    )

    # Two of the three are cached (the one that failed is read again by the request that needs it),
    # and nothing was raised: a read ahead never fails a start.
    cached = [store.age_seconds(*read) < float("inf") for read in (("signing", SIGNING_KEY, CURRENT),
                                                                   ("signing", SIGNING_KEY, PREVIOUS),
                                                                   ("partner", SETTINGS, CURRENT))]  # fmt: skip
    assert sorted(cached) == [False, True, True]
    assert aws_faults.count("secrets-manager", "GetSecretValue") == 3
    assert store.load("signing", SIGNING_KEY) == "new-key"

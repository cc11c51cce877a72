"""The webhook retry schedule: every wait is bounded, grows to the cap, and the receive count is the
smallest that retries for three days (the template's queue is held to it by tests/repo)."""

import pytest

from payments.domain import webhooks as settings
from payments.domain.webhooks import (
    receives_needed,
    retry_base_seconds,
    retry_delay,
    shortest_retry_delay,
    shortest_retry_window,
)

SQS_MAX_VISIBILITY_SECONDS = 12 * 3600
SQS_MAX_RETENTION_SECONDS = 14 * 24 * 3600
THREE_DAYS = 3 * 24 * 3600
DRAWS = [0.0, 0.25, 0.5, 0.75, 0.999999]


@pytest.mark.parametrize("receive_count", range(1, 40))
def test_every_wait_lies_between_the_worst_jitter_and_the_cap(receive_count):
    for draw in DRAWS:
        wait = retry_delay(receive_count, draw)
        assert shortest_retry_delay(receive_count) <= wait <= retry_base_seconds(receive_count)
        assert wait <= settings.WEBHOOK_RETRY_CAP_SECONDS < SQS_MAX_VISIBILITY_SECONDS


def test_the_waits_grow_exponentially_to_the_cap():
    bases = [retry_base_seconds(count) for count in range(1, 30)]
    assert bases[:4] == [30, 60, 120, 240]
    assert bases == sorted(bases)
    assert bases[-1] == settings.WEBHOOK_RETRY_CAP_SECONDS


def test_the_max_receive_count_is_the_smallest_that_lasts_three_days():
    assert settings.WEBHOOK_MIN_RETRY_SECONDS == THREE_DAYS
    assert receives_needed() == settings.WEBHOOK_MAX_RECEIVES
    assert shortest_retry_window(settings.WEBHOOK_MAX_RECEIVES - 1) < THREE_DAYS

"""The webhook retry schedule: every wait is bounded, and the template's queue (maxReceiveCount,
retention, visibility) retries a webhook for at least 3 days even when every wait draws the
worst jitter, and dead-letters it before SQS's retention would drop it."""

import pytest

from local.template import load_template
from payments import settings
from payments.domain.webhooks import is_last_receive, longest_retry_window, receives_needed, retry_base_seconds, retry_delay, shortest_retry_delay, shortest_retry_window

SQS_MAX_VISIBILITY_SECONDS = 12 * 3600
SQS_MAX_RETENTION_SECONDS = 14 * 24 * 3600
THREE_DAYS = 3 * 24 * 3600
DRAWS = [0.0, 0.25, 0.5, 0.75, 0.999999]


def resource(name: str) -> dict:
    return load_template()["Resources"][name]["Properties"]


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


def test_the_template_queue_retries_for_three_days_with_the_worst_jitter_and_lost_receives():
    # given the queue as the template declares it
    queue = resource("WebhookQueue")
    max_receives = queue["RedrivePolicy"]["maxReceiveCount"]

    # then its receive count is the schedule's ...
    assert max_receives == settings.WEBHOOK_MAX_RECEIVES
    # ... which lasts 3 days even if every wait is the shortest and 3 receives were lost
    assert shortest_retry_window(max_receives, lost_receives=settings.WEBHOOK_SPARE_RECEIVES) >= THREE_DAYS
    assert is_last_receive(max_receives) and not is_last_receive(max_receives - 1)


def test_the_longest_run_ends_inside_the_queues_retention():
    queue = resource("WebhookQueue")
    retention = queue["MessageRetentionPeriod"]
    # Each receive takes at most the function's timeout, or (lost) the queue's visibility timeout.
    per_receive = max(queue["VisibilityTimeout"], settings.WEBHOOK_FUNCTION_TIMEOUT_SECONDS)

    longest = longest_retry_window(queue["RedrivePolicy"]["maxReceiveCount"], per_receive)

    assert retention == settings.WEBHOOK_QUEUE_RETENTION_SECONDS == SQS_MAX_RETENTION_SECONDS
    # Dead-lettered with more than a week of the retention left (a dead-lettered message keeps
    # its first enqueue time, so this is the operator's time to redrive it).
    assert longest + 7 * 24 * 3600 < retention
    assert resource("WebhookDeadLetterQueue")["MessageRetentionPeriod"] == SQS_MAX_RETENTION_SECONDS


def test_the_delivery_function_and_its_event_source_match_the_settings():
    function = resource("WebhookDeliveryFunction")
    source = resource("WebhookDeliveryEventSource")
    queue = resource("WebhookQueue")

    assert function["Timeout"] == settings.WEBHOOK_FUNCTION_TIMEOUT_SECONDS
    # Every webhook of a batch is attempted at once; one attempt fits the timeout with room to
    # read the secret and write the record.
    assert settings.WEBHOOK_TIMEOUT_SECONDS * 2 <= function["Timeout"]
    assert source["BatchSize"] == settings.WEBHOOK_BATCH_SIZE
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert queue["VisibilityTimeout"] == settings.WEBHOOK_QUEUE_VISIBILITY_SECONDS >= 6 * function["Timeout"]

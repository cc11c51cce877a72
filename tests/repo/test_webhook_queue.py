"""The template's webhook queue against the retry schedule (payments.domain.webhooks): its
maxReceiveCount, retention and visibility retry a webhook for at least 3 days even when every wait
draws the worst jitter, and dead-letter it before SQS's retention would drop it."""

from local.emulator.template import load_template
from payments.adapters import webhook_http
from payments.domain import webhooks as settings
from payments.domain.webhooks import is_last_receive, longest_retry_window, shortest_retry_window

SQS_MAX_RETENTION_SECONDS = 14 * 24 * 3600
THREE_DAYS = 3 * 24 * 3600


def resource(name: str) -> dict:
    return load_template()["Resources"][name]["Properties"]


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
    assert webhook_http.WEBHOOK_TIMEOUT_SECONDS * 2 <= function["Timeout"]
    assert source["BatchSize"] == settings.WEBHOOK_BATCH_SIZE
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert queue["VisibilityTimeout"] == settings.WEBHOOK_QUEUE_VISIBILITY_SECONDS >= 6 * function["Timeout"]

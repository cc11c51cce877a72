"""Scheduled: the sweep. Hands every status check that is due (a first one ReconcileAfterSeconds
after a session opened, then at doubling intervals, the last at its expiry) to the workers of
functions/reconcile_worker through the check queue; a notification may never come. Each run also
counts the open reviews older than a day (OverdueReviews), so a forgotten review keeps its alarm on."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from payments import observability as obs
from payments.check_queue import CheckQueue
from payments.runtime import payments_service
from payments.settings import RECONCILE_TIME_RESERVE_MS, get_settings

logger = Logger()
metrics = Metrics()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    queue = CheckQueue(get_settings().reconcile_queue_url)
    report = payments_service().sweep(
        dispatch=queue.send,
        has_time=lambda: context.get_remaining_time_in_millis() > RECONCILE_TIME_RESERVE_MS,
    )
    # Sessions past their expiry and still not ended: the StuckPendingSessions alarm.
    metrics.add_metric(name=obs.STUCK_PENDING_SESSIONS, unit=MetricUnit.Count, value=report.stuck)
    metrics.add_metric(name=obs.CHECKS_HANDED_OUT, unit=MetricUnit.Count, value=report.handed_out)
    # Open reviews older than a day, every run: the OverdueReviews alarm stays on while there is one.
    overdue = payments_service().overdue_reviews()
    metrics.add_metric(name=obs.OVERDUE_REVIEWS, unit=MetricUnit.Count, value=overdue)
    result = {**report.__dict__, "overdue_reviews": overdue}
    logger.info("reconciliation sweep", extra={"report": result})
    return result

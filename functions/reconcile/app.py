"""Scheduled: asks ETpay about sessions still PENDING long after they opened, and applies the
answers through the same conditional transitions as notifications (a notification may never come)."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from payments import observability as obs
from payments.runtime import payments_service
from payments.settings import RECONCILE_TIME_RESERVE_MS, get_settings

logger = Logger()
metrics = Metrics()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    settings = get_settings()
    report = payments_service().reconcile(
        older_than_seconds=settings.reconcile_after_seconds,
        limit=settings.reconcile_batch_size,
        has_time=lambda: context.get_remaining_time_in_millis() > RECONCILE_TIME_RESERVE_MS,
    )
    # Sessions ETpay still calls pending long after they opened: the "stuck PENDING" alarm.
    metrics.add_metric(name=obs.STUCK_PENDING_SESSIONS, unit=MetricUnit.Count, value=report.still_pending)
    metrics.add_metric(name=obs.RECONCILE_ERRORS, unit=MetricUnit.Count, value=report.errors)
    logger.info("reconciliation run", extra={"report": report.__dict__})
    return report.__dict__

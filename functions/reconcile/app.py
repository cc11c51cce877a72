"""Scheduled: the sweep. Hands every status check that is due (a first one ReconcileAfterSeconds
after a session opened, then at doubling intervals, the last at its expiry) to the workers of
functions/reconcile_worker through the check queue; a notification may never come. Each run also
counts the open reviews older than a day (OverdueReviews), so a forgotten review keeps its alarm on."""

# First: the garbage collector paused while the function initialises (see the module).
from payments.config import collector  # noqa: F401

# isort: split
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from payments.app import telemetry
from payments.app.reconciliation import SWEEP_TIME_RESERVE_MS
from payments.config import logs, tracing, wiring

logger = logs.function_logger()
metrics = Metrics()
tracer = tracing.tracer()
# Built while Lambda initialises the function, not at its first request (and SnapStart's hooks).
STARTUP = wiring.prepare(wiring.sweep, wiring.check_queue, wiring.reviews)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = wiring.sweep().run(
        dispatch=wiring.check_queue().send,
        has_time=lambda: context.get_remaining_time_in_millis() > SWEEP_TIME_RESERVE_MS,
    )
    # Sessions past their expiry and still not ended: the StuckPendingSessions alarm.
    telemetry.count(telemetry.STUCK_PENDING_SESSIONS, report.stuck)
    telemetry.count(telemetry.CHECKS_HANDED_OUT, report.handed_out)
    # Open reviews older than a day, every run: the OverdueReviews alarm stays on while there is one.
    overdue = wiring.reviews().overdue()
    telemetry.count(telemetry.OVERDUE_REVIEWS, overdue)
    result = {**report.__dict__, "overdue_reviews": overdue}
    logger.info("reconciliation sweep", extra={"report": result})
    return result

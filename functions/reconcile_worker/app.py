"""The status checks the sweep hands out, from the check queue (an SQS event source mapping whose
maximum concurrency caps how many ask ETpay at once): each asks ETpay about one session and
applies the answer. A check that failed for a reason worth retrying soon (storage) is reported
back to SQS; one ETpay could not answer waits for the session's next scheduled check."""

# First: the garbage collector paused while the function initialises (see the module).
from payments.config import collector  # noqa: F401

# isort: split
from collections import Counter
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from payments.adapters.queues import InvalidCheckMessage, task_from_message
from payments.config import logs, tracing, wiring
from payments.domain.errors import PaymentsError

logger = logs.function_logger()
metrics = Metrics()
tracer = tracing.tracer()
# Built while Lambda initialises the function, not at its first request (and SnapStart's hooks).
STARTUP = wiring.prepare(wiring.check_session, secrets_ahead=wiring.etpay_secrets_ahead)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcomes: Counter[str] = Counter()
    failures = []
    for record in event.get("Records", []):
        try:
            outcome = wiring.check_session().check(task_from_message(record.get("body", "")))
        except InvalidCheckMessage as error:
            # Never a check of ours: retrying it cannot help, so it is dropped, loudly.
            logger.error("unreadable check message dropped", extra={"problem": str(error)})
            outcomes["unreadable"] += 1
            continue
        except PaymentsError as error:
            logger.warning("status check to be retried", extra={"error": error.code})
            failures.append({"itemIdentifier": record["messageId"]})
            outcomes["retry"] += 1
            continue
        outcomes[outcome.value] += 1
    logger.info("status checks", extra={"outcomes": dict(outcomes)})
    return {"batchItemFailures": failures}

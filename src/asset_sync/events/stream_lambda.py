"""What the table's two stream readers' Lambda handlers share (the change events' consumer and
the history writer): Powertools' logger and metrics for a service, the one line a misconfigured
function logs, the invocation's deadline, and the end of a batch (its metrics, its log line and
the `ReportBatchItemFailures` response)."""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from asset_sync.contract import METRICS_NAMESPACE, Env
from asset_sync.events.batch import StreamOutcome
from asset_sync.events.clock import Clock, Deadline

# Time kept at the end of an invocation for the last log line, the metrics and the response.
END_MARGIN_SECONDS = 2.0
Reader = TypeVar("Reader")


def powertools(default_service: str, library: str) -> tuple[str, Logger, Metrics]:
    """The service's name, logger and metrics; the stdlib logs of `library` (the reader's own
    modules, nothing else of the package) become the logger's JSON lines."""
    service = os.environ.get(Env.POWERTOOLS_SERVICE_NAME, default_service)
    logger = Logger(  # ensure_ascii: symbols in log lines reach the log escaped, never raw
        service=service,
        json_serializer=functools.partial(json.dumps, ensure_ascii=True, default=str),
    )
    metrics = Metrics(
        namespace=os.environ.get(Env.POWERTOOLS_METRICS_NAMESPACE, METRICS_NAMESPACE),
        service=service,
    )
    routed = logging.getLogger(library)
    routed.handlers = list(logger.handlers)
    routed.setLevel(logger.log_level)
    routed.propagate = False  # the Lambda runtime's root handler would print them again
    return service, logger, metrics


def configured(build: Callable[[], Reader], logger: Logger) -> Reader:
    """The reader `build` returns; a misconfigured function logs one line in the one mapping's
    words (asset_sync.endings) and raises."""
    try:
        return build()
    except Exception as error:
        from asset_sync.endings import ending_of  # noqa: PLC0415 - this failure's path only

        logger.exception(ending_of(error).message)
        raise


def deadline_of(clock: Clock, context: LambdaContext) -> Deadline:
    """The invocation's remaining time, less the margin for its end."""
    remaining = context.get_remaining_time_in_millis() / 1000
    return Deadline.after(clock, remaining - END_MARGIN_SECONDS)


def finish_batch(
    logger: Logger,
    metrics: Metrics,
    message: str,
    outcome: StreamOutcome,
    records: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Publish the outcome's metrics, log the batch's line (its counts and where Lambda retries
    from), and return the response."""
    for name, value in outcome.metrics().items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    response = outcome.response(records)
    fields = {n: v for n, v in vars(outcome).items() if n != "retry_from"}
    logger.info(message, extra={**fields, "retry_from": response["batchItemFailures"]})
    return response

"""Lambda entry point on the assets table's stream: `to_events`, then PutEvents to the bus.

At least once, bounded by the stream's retention rather than by an attempt count. The mapping
reports batch item failures (`ReportBatchItemFailures`); each invocation publishes until its
remaining time (less a margin) runs out, quarantines what can never be published (and what is
about to leave the stream), and names the first record it did not finish: Lambda retries
from there (`asset_sync.events.batch`). Records after it may be published again (consumers
dedupe on `event_id`).

Configuration: `EVENT_BUS_NAME` (required), `EVENTS_QUARANTINE_BUCKET` (the quarantine; without
it, records that would be quarantined are retried), Powertools' service and namespace.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from asset_sync.config import ConfigError
from asset_sync.contract import EVENTS_SERVICE, METRICS_NAMESPACE, Env, Metric
from asset_sync.events.batch import Consumer, process
from asset_sync.events.clock import Clock, Deadline, SystemClock
from asset_sync.events.publisher import Publisher, events_client
from asset_sync.events.quarantine import Quarantine, s3_client

SERVICE = os.environ.get(Env.POWERTOOLS_SERVICE_NAME, EVENTS_SERVICE)
# Time kept at the end of an invocation for the last log line, the metrics and the response.
END_MARGIN_SECONDS = 2.0
logger = Logger(  # ensure_ascii: symbols in warnings reach the log escaped, never raw
    service=SERVICE, json_serializer=functools.partial(json.dumps, ensure_ascii=True, default=str)
)
metrics = Metrics(
    namespace=os.environ.get(Env.POWERTOOLS_METRICS_NAMESPACE, METRICS_NAMESPACE), service=SERVICE
)


def _route_library_logs() -> None:
    """The transform's and the publisher's stdlib logs as this logger's JSON lines, once.

    Only `asset_sync.events.*`: the rest of the package (the sync's modules) is left alone.
    """
    library = logging.getLogger("asset_sync.events")
    library.handlers = list(logger.handlers)
    library.setLevel(logger.log_level)
    library.propagate = False  # the Lambda runtime's root handler would print them again


_route_library_logs()


def build_consumer(environ: Mapping[str, str], clock: Clock) -> Consumer:
    """The consumer the environment describes, on `clock`."""
    bus_name = environ.get(Env.EVENT_BUS_NAME)
    if not bus_name:
        raise ConfigError(f"{Env.EVENT_BUS_NAME} (the event bus to publish to) is not set")
    bucket = environ.get(Env.EVENTS_QUARANTINE_BUCKET)
    return Consumer(
        publisher=Publisher(events_client(), bus_name, sleep=clock.sleep),
        quarantine=Quarantine(s3_client(), bucket) if bucket else None,
        clock=clock,
    )


@lru_cache(maxsize=1)
def consumer() -> Consumer:
    """The consumer of this container (one set of clients), on the real clock."""
    return build_consumer(os.environ, SystemClock())


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Publish the events of a batch of stream records; report where to retry from."""
    records: list[Mapping[str, Any]] = list(event.get("Records") or [])
    try:
        current = consumer()
    except Exception as error:  # a misconfigured function: one line in the one mapping's words
        from asset_sync.endings import ending_of  # noqa: PLC0415 - this failure's path only

        logger.exception(ending_of(error).message)
        raise
    remaining = context.get_remaining_time_in_millis() / 1000
    deadline = Deadline.after(current.clock, remaining - END_MARGIN_SECONDS)
    outcome = process(records, current, deadline)
    for name, value in (
        (Metric.EVENTS_PUBLISHED, outcome.published),
        (Metric.EVENTS_FAILED, outcome.failed),
        (Metric.EVENTS_QUARANTINED, outcome.quarantined),
        (Metric.STREAM_RECORDS_IGNORED, outcome.ignored),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    response = outcome.response(records)
    logger.info(
        "stream batch done",
        extra={
            "records": outcome.records,
            "events": outcome.events,
            "published": outcome.published,
            "failed": outcome.failed,
            "quarantined": outcome.quarantined,
            "ignored": outcome.ignored,
            "retry_from": response["batchItemFailures"],
        },
    )
    return response

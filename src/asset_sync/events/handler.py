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

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from asset_sync.config import ConfigError
from asset_sync.contract import EVENTS_SERVICE, Env
from asset_sync.events.batch import Consumer, process
from asset_sync.events.clock import Clock, SystemClock
from asset_sync.events.publisher import Publisher, events_client
from asset_sync.events.quarantine import Quarantine, s3_client
from asset_sync.events.stream_lambda import configured, deadline_of, finish_batch, powertools

SERVICE, logger, metrics = powertools(EVENTS_SERVICE, "asset_sync.events")


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
    current = configured(consumer, logger)
    outcome = process(records, current, deadline_of(current.clock, context))
    return finish_batch(logger, metrics, "stream batch done", outcome, records)

"""Lambda entry point on the assets table's stream: `to_events`, then PutEvents to the bus.

At least once. The mapping reports batch item failures (`ReportBatchItemFailures`): a stream
shard is ordered, so the response names the first record whose events could not all be
published (or that could not be read), and Lambda retries the batch from there. Records after
it may already be published; they are published again then (consumers dedupe on `event_id`).
Records after an unreadable one are not published in this invocation.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from asset_sync.events.entries import Entry
from asset_sync.events.publisher import Publisher, events_client
from asset_sync.events.transform import events_of

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "asset-events")
logger = Logger(  # ensure_ascii: symbols in warnings reach the log escaped, never raw
    service=SERVICE, json_serializer=functools.partial(json.dumps, ensure_ascii=True, default=str)
)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Signal9/AssetSync"), service=SERVICE
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


@lru_cache(maxsize=1)
def publisher() -> Publisher:
    """The publisher for the bus named by EVENT_BUS_NAME (one client per container)."""
    bus_name = os.environ.get("EVENT_BUS_NAME")
    if not bus_name:
        raise RuntimeError("EVENT_BUS_NAME (the event bus to publish to) is not set")
    return Publisher(events_client(), bus_name)


@dataclass
class BatchOutcome:
    """What one invocation did with its batch of stream records."""

    records: int
    events: int
    published: int
    failed: int
    ignored: int
    retry_from: int | None  # position of the first record to retry; None: all done

    def response(self, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The `ReportBatchItemFailures` response."""
        if self.retry_from is None:
            return {"batchItemFailures": []}
        stream = records[self.retry_from].get("dynamodb") or {}
        return {"batchItemFailures": [{"itemIdentifier": str(stream.get("SequenceNumber", ""))}]}


def process(records: Sequence[Mapping[str, Any]], publisher: Publisher) -> BatchOutcome:
    """Transform the records in order, publish their events, find where a retry must start."""
    entries: list[Entry] = []
    owners: list[int] = []  # owners[i]: position of the record entry i came from
    ignored = 0
    unreadable: int | None = None
    for position, record in enumerate(records):
        try:
            produced = events_of(record)
        except (ValueError, TypeError, KeyError, AttributeError):
            logger.exception(
                "stream record could not be read; retrying from it",
                extra={"stream_event_id": record.get("eventID"), "position": position},
            )
            unreadable = position
            break
        if not produced:
            ignored += 1
        entries.extend(produced)
        owners.extend([position] * len(produced))
    outcome = publisher.publish(entries)
    failed_positions = {owners[index] for index in outcome.failed}
    for index, code in sorted(outcome.failed.items()):
        logger.error(
            "event not published",
            extra={"detail_type": entries[index]["DetailType"], "error": code},
        )
    starts = failed_positions | ({unreadable} if unreadable is not None else set())
    return BatchOutcome(
        records=len(records),
        events=len(entries),
        published=outcome.published,
        failed=len(outcome.failed) + (1 if unreadable is not None else 0),
        ignored=ignored,
        retry_from=min(starts) if starts else None,
    )


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Publish the events of a batch of stream records; report where to retry from."""
    records: list[Mapping[str, Any]] = list(event.get("Records") or [])
    outcome = process(records, publisher())
    metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=outcome.published)
    metrics.add_metric(name="EventsFailed", unit=MetricUnit.Count, value=outcome.failed)
    metrics.add_metric(name="StreamRecordsIgnored", unit=MetricUnit.Count, value=outcome.ignored)
    response = outcome.response(records)
    logger.info(
        "stream batch done",
        extra={
            "records": outcome.records,
            "events": outcome.events,
            "published": outcome.published,
            "failed": outcome.failed,
            "ignored": outcome.ignored,
            "retry_from": response["batchItemFailures"],
        },
    )
    return response

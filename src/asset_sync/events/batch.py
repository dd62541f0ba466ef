"""One batch of stream records: transform, publish within the deadline, quarantine, report.

Every record ends the invocation in exactly one state: its events published, nothing to
publish (ignored), quarantined (kept whole in S3, with its reason), or to be retried. The
response names the first record to retry (`ReportBatchItemFailures`): Lambda starts the next
invocation there, so a record is never skipped while it can still be published or kept.

- A record that cannot be read or transformed is quarantined at once and the batch goes on.
- An entry EventBridge refuses for good (a non-retryable code) is quarantined.
- An entry still failing at the deadline is retried by the next invocation, unless its record
  is `EXPIRING_AGE` old: then it is quarantined before the stream's 24 h retention drops it.
- A quarantine write that fails (or that would not finish before the deadline) leaves its
  record to be retried.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from botocore.exceptions import BotoCoreError, ClientError

from asset_sync.contract import Metric
from asset_sync.events.clock import Clock, Deadline
from asset_sync.events.entries import Entry
from asset_sync.events.publisher import Publisher
from asset_sync.events.quarantine import (
    EXPIRING,
    REFUSED,
    UNREADABLE,
    WRITE_SECONDS,
    Quarantine,
)
from asset_sync.events.transform import events_of

logger = logging.getLogger(__name__)

STREAM_RETENTION_SECONDS = 24 * 3600
# Failing records this old are quarantined instead of retried: two hours before the stream may
# trim them, one hour before the event source mapping's own limit (MaximumRecordAgeInSeconds).
EXPIRING_AGE = 22 * 3600
# Time kept back for a quarantine write after publishing (each write checks the deadline
# itself: a record whose write would not end in time is retried by the next invocation).
QUARANTINE_RESERVE = WRITE_SECONDS


@dataclass
class StreamOutcome:
    """What one invocation of a stream reader did with its batch of stream records (the events
    consumer's and the history writer's outcomes add their own counts); METRICS names the
    counts published as metrics, metric -> attribute."""

    METRICS: ClassVar[Mapping[str, str]] = {}

    records: int = 0
    failed: int = 0  # records (or their entries) left for the next invocation
    quarantined: int = 0
    ignored: int = 0
    retry_from: int | None = None  # position of the first record to retry; None: all done

    def response(self, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The `ReportBatchItemFailures` response: Lambda retries from the record at
        `retry_from` (its sequence number), or the batch is done."""
        if self.retry_from is None:
            return {"batchItemFailures": []}
        stream = records[self.retry_from].get("dynamodb") or {}
        return {"batchItemFailures": [{"itemIdentifier": str(stream.get("SequenceNumber", ""))}]}

    def metrics(self) -> dict[str, int]:
        """The counts the handler publishes as metrics."""
        return {metric: getattr(self, name) for metric, name in self.METRICS.items()}


@dataclass
class Consumer:
    """What one invocation works with: where events go, where poison goes, and the clock."""

    publisher: Publisher
    quarantine: Quarantine | None
    clock: Clock


@dataclass
class BatchOutcome(StreamOutcome):
    """What one invocation published of its batch."""

    METRICS: ClassVar[Mapping[str, str]] = {
        Metric.EVENTS_PUBLISHED: "published",
        Metric.EVENTS_FAILED: "failed",
        Metric.EVENTS_QUARANTINED: "quarantined",
        Metric.STREAM_RECORDS_IGNORED: "ignored",
    }

    events: int = 0
    published: int = 0


def process(
    records: Sequence[Mapping[str, Any]], consumer: Consumer, deadline: Deadline
) -> BatchOutcome:
    """Handle one batch before `deadline`; the outcome says where a retry must start."""
    outcome = BatchOutcome(records=len(records))
    keeper = _Keeper(consumer, deadline, outcome)
    entries: list[Entry] = []
    owners: list[int] = []  # owners[i]: position of the record entry i came from
    retry: set[int] = set()
    for position, record in enumerate(records):
        try:
            produced = events_of(record)
        except Exception as error:  # any transform failure is this record's own
            if keeper.keep(record, UNREADABLE, f"{type(error).__name__}: {error}", None):
                continue
            outcome.failed += 1
            retry.add(position)
            break  # nothing after it may be reported done while it is not
        if not produced:
            outcome.ignored += 1
        entries.extend(produced)
        owners.extend([position] * len(produced))
    outcome.events = len(entries)
    published = consumer.publisher.publish(entries, deadline.earlier(QUARANTINE_RESERVE))
    outcome.published = len(published.published)
    for index, code in sorted(published.refused.items()):
        if not keeper.keep(records[owners[index]], REFUSED, code, entries[index]):
            outcome.failed += 1
            retry.add(owners[index])
    for index, code in sorted(published.pending.items()):
        record = records[owners[index]]
        if _age(record, consumer.clock) >= EXPIRING_AGE and keeper.keep(
            record, EXPIRING, code, entries[index]
        ):
            continue
        logger.error(
            "event not published yet; its record is retried",
            extra={
                "detail_type": entries[index]["DetailType"],
                "error": code,
                "stream_event_id": record.get("eventID"),
            },
        )
        outcome.failed += 1
        retry.add(owners[index])
    outcome.retry_from = min(retry) if retry else None
    return outcome


@dataclass
class _Keeper:
    """Quarantines records within the deadline; says whether each one is kept."""

    consumer: Consumer
    deadline: Deadline
    outcome: BatchOutcome

    def keep(self, record: Mapping[str, Any], reason: str, error: str, entry: Entry | None) -> bool:
        quarantine = self.consumer.quarantine
        where = {"stream_event_id": record.get("eventID"), "reason": reason, "error": error}
        if quarantine is None:
            logger.error("no quarantine configured; the record is retried", extra=where)
            return False
        if not self.deadline.allows(WRITE_SECONDS):
            logger.error("no time left to quarantine the record; it is retried", extra=where)
            return False
        try:
            key = quarantine.put(record, reason, error, entry, self.consumer.clock.time())
        except (ClientError, BotoCoreError, OSError):
            logger.exception("quarantine write failed; the record is retried", extra=where)
            return False
        logger.error("stream record quarantined", extra={**where, "key": key})
        self.outcome.quarantined += 1
        return True


def _age(record: Mapping[str, Any], clock: Clock) -> float:
    """Seconds since the record was written (0 when it does not say)."""
    stream = record.get("dynamodb")
    created = stream.get("ApproximateCreationDateTime") if isinstance(stream, Mapping) else None
    if not isinstance(created, int | float) or isinstance(created, bool):
        return 0.0
    return clock.time() - float(created)

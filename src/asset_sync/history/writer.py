"""One batch of stream records: versions written within the deadline, the unreadable kept.

Every record ends the invocation in exactly one state: its version written, no version to
write (ignored), quarantined (kept whole in the history table's `quarantine` partition, with
its reason), or to be retried. The response names the first record to retry
(`ReportBatchItemFailures`), so Lambda starts the next invocation there: a record is never
skipped while its version can still be written or kept.

- A record that cannot be read (`version_of_record` raises) is quarantined at once.
- A version DynamoDB refuses for good (a ValidationException when written alone) is
  quarantined with its record.
- A write that fails otherwise (throttling, 5xx, a timeout, the table missing, a permission
  removed, anything else) is retried with full-jitter backoff until the deadline, then left to
  Lambda: the next invocation starts at its record.
- A quarantine write that fails leaves its record to be retried.

Versions are idempotent by key (asset and run number): the order of the writes does not matter,
and a record written again (a retry, a redelivery) rewrites the same version.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from asset_sync.contract import QUARANTINE_PREFIX, Metric
from asset_sync.dal.errors import error_code
from asset_sync.dal.history import BATCH_WRITE_LIMIT, HistoryTable
from asset_sync.events.batch import StreamOutcome
from asset_sync.events.clock import Clock, Deadline
from asset_sync.events.quarantine import REFUSED, UNREADABLE, object_key
from asset_sync.history.versions import Version, timestamp, version_of_record

logger = logging.getLogger(__name__)

# The longest one request can take: the writer's client makes one attempt (2 s to connect, 5 s
# to read) and owns every retry.
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 5.0
REQUEST_SECONDS = CONNECT_TIMEOUT + READ_TIMEOUT + 0.5
BASE_DELAY = 0.2
MAX_DELAY = 10.0
INVALID_CODES = frozenset({"ValidationException", "SerializationException"})


@dataclass
class Writer:
    """What one invocation works with: the history table and the clock."""

    table: HistoryTable
    clock: Clock
    jitter: random.Random = field(default_factory=random.Random)


@dataclass
class WriteOutcome(StreamOutcome):
    """What one invocation wrote of its batch."""

    METRICS: ClassVar[Mapping[str, str]] = {
        Metric.HISTORY_VERSIONS_WRITTEN: "written",
        Metric.HISTORY_RECORDS_FAILED: "failed",
        Metric.HISTORY_RECORDS_QUARANTINED: "quarantined",
        Metric.HISTORY_RECORDS_IGNORED: "ignored",
    }

    versions: int = 0
    written: int = 0


def process(
    records: Sequence[Mapping[str, Any]], writer: Writer, deadline: Deadline
) -> WriteOutcome:
    """Write the versions of one batch before `deadline`; the outcome says where to retry."""
    outcome = WriteOutcome(records=len(records))
    pending: dict[int, Version] = {}  # position of the record -> its version
    retry: set[int] = set()
    for position, record in enumerate(records):
        try:
            version = version_of_record(record)
        except Exception as error:  # any failure to read is this record's own
            if _keep(writer, deadline, record, UNREADABLE, f"{type(error).__name__}: {error}"):
                outcome.quarantined += 1
                continue
            retry.add(position)
            break  # nothing after it may be reported done while it is not
        if version is None:
            outcome.ignored += 1
        else:
            pending[position] = version
    outcome.versions = len(pending)
    refused = _write(pending, writer, deadline, outcome)
    for position, why in sorted(refused.items()):
        if _keep(writer, deadline, records[position], REFUSED, why):
            outcome.quarantined += 1
            del pending[position]
    for position in pending:
        logger.error(
            "version not written yet; its record is retried",
            extra={"stream_event_id": records[position].get("eventID")},
        )
    outcome.failed = len(pending) + len(retry)
    retry |= set(pending)
    outcome.retry_from = min(retry) if retry else None
    return outcome


def _write(
    pending: dict[int, Version], writer: Writer, deadline: Deadline, outcome: WriteOutcome
) -> dict[int, str]:
    """Write what it can, removing each written version from `pending`; the versions refused
    for good (position -> error)."""
    refused: dict[int, str] = {}
    alone: set[int] = set()  # versions sent one per request (their request was invalid)
    rounds = 0
    while pending.keys() - refused.keys():
        if rounds:
            delay = writer.jitter.uniform(0, min(MAX_DELAY, BASE_DELAY * 2.0 ** (rounds - 1)))
            if not deadline.allows(delay + REQUEST_SECONDS):
                break
            writer.clock.sleep(delay)
        rounds += 1
        for chunk in _chunks([p for p in pending if p not in refused], alone):
            if not deadline.allows(REQUEST_SECONDS):
                break
            try:
                left = writer.table.write([pending[p] for p in chunk])
            except Exception as error:  # throttling, 5xx, a timeout, the table gone, a permission
                code = error_code(error) if isinstance(error, ClientError) else type(error).__name__
                logger.warning("history write failed", extra={"error": code, "chunk": len(chunk)})
                if code in INVALID_CODES:
                    if len(chunk) == 1:
                        refused[chunk[0]] = f"{code}: {error}"
                    alone.update(chunk)
                continue
            unwritten = {id(v) for v in left}
            for position in chunk:
                if id(pending[position]) not in unwritten:
                    del pending[position]
                    outcome.written += 1
    return refused


def _chunks(todo: list[int], alone: set[int]) -> list[list[int]]:
    """Requests of up to 25 versions, then one request for each version sent alone."""
    together = [position for position in todo if position not in alone]
    size = BATCH_WRITE_LIMIT
    chunks = [together[start : start + size] for start in range(0, len(together), size)]
    return chunks + [[position] for position in todo if position in alone]


def _keep(
    writer: Writer, deadline: Deadline, record: Mapping[str, Any], reason: str, error: str
) -> bool:
    """Quarantine one record within the deadline; whether it is kept."""
    where = {"stream_event_id": record.get("eventID"), "reason": reason, "error": error}
    if not deadline.allows(REQUEST_SECONDS):
        logger.error("no time left to quarantine the record; it is retried", extra=where)
        return False
    name = object_key(record).removeprefix(QUARANTINE_PREFIX).removesuffix(".json")
    now = timestamp(datetime.fromtimestamp(writer.clock.time(), UTC))
    try:
        writer.table.quarantine(name, record, reason, error, now)
    except Exception:  # the record is kept for a retry, never dropped
        logger.exception("quarantine write failed; the record is retried", extra=where)
        return False
    logger.error("stream record quarantined", extra={**where, "key": name})
    return True

"""A test double of Lambda's event source mapping on a DynamoDB stream (one shard).

It follows the rules AWS documents for DynamoDB stream event source mappings:

- Records of a shard are handed over in order, in batches of at most `batch_size`.
- A response with `batchItemFailures` checkpoints before the lowest reported sequence number;
  with `BisectBatchOnFunctionError` the retry holds only the batch's remaining records
  ("Configuring partial batch response with DynamoDB and Lambda"). An empty or unknown
  `itemIdentifier` fails the whole batch.
- A function error (an exception, or running past the timeout) splits the batch in two when
  bisecting is on; splitting does not consume the retry quota ("Retain discarded records for a
  DynamoDB event source in Lambda"). Otherwise the batch is retried, up to
  `maximum_retry_attempts` (-1: until the records expire).
- Records older than `maximum_record_age` are discarded; so are batches out of retries. The
  on-failure destination then receives metadata only (shard, sequence numbers, arrival times),
  never the records.
- The stream keeps records `retention` (24 h): older ones are trimmed, read or not.

Time is a `SimClock`: the handler's sleeps move it, and an invocation's context counts down on
it, so the double checks that no invocation outlives its timeout.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.support.sim_clock import SimClock, SimLambdaContext

Handler = Callable[[dict[str, Any], Any], Any]
SHARD_ID = "shardId-00000001796011200000-0a1b2c3d"
STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/signal9_assets/stream/2026-12-01"


@dataclass(frozen=True)
class MappingSettings:
    """The event source mapping's settings (the stack's, asserted in tests/infra)."""

    batch_size: int = 100
    bisect_batch_on_function_error: bool = True
    maximum_retry_attempts: int = -1  # until the records expire
    maximum_record_age_seconds: int = 23 * 3600
    function_timeout_seconds: int = 60
    retention_seconds: int = 24 * 3600
    poll_interval_seconds: float = 1.0


@dataclass
class Invocation:
    """One call of the handler."""

    started: float
    duration: float
    records: int
    response: Any = None
    error: str | None = None
    timed_out: bool = False
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class StreamMapping:
    """Feeds a shard's records to the handler as Lambda would; see the module docstring."""

    handler: Handler
    clock: SimClock
    settings: MappingSettings = field(default_factory=MappingSettings)
    records: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: int = 0  # index of the first record not yet done
    invocations: list[Invocation] = field(default_factory=list)
    on_failure: list[dict[str, Any]] = field(default_factory=list)  # destination messages
    trimmed_unread: list[dict[str, Any]] = field(default_factory=list)  # lost to retention
    _limit: int = 0
    _retries: int = 0
    _trimmed: int = 0

    def __post_init__(self) -> None:
        self._limit = self.settings.batch_size

    def put(self, records: list[dict[str, Any]]) -> None:
        """Records arrive on the stream now (their ApproximateCreationDateTime is now)."""
        for record in records:
            arrived = json.loads(json.dumps(record))
            arrived["dynamodb"]["ApproximateCreationDateTime"] = int(self.clock.time())
            arrived["eventSourceARN"] = STREAM_ARN
            self.records.append(arrived)

    def pending(self) -> list[dict[str, Any]]:
        """Records on the stream not yet done."""
        return self.records[max(self.checkpoint, self._trimmed) :]

    def run(self, until: float | None = None, max_invocations: int = 5000) -> None:
        """Invoke until every record is done, or until the clock reaches `until` (then idle
        until it)."""
        for _ in range(max_invocations):
            self._trim()
            if until is not None and self.clock.monotonic() >= until:
                return
            if not self.pending():
                if until is not None:
                    self.clock.advance(until - self.clock.monotonic())
                return
            self._step()
            self.clock.advance(self.settings.poll_interval_seconds)
        raise AssertionError(f"still not done after {max_invocations} invocations")

    def _age(self, record: Mapping[str, Any]) -> float:
        return self.clock.time() - float(record["dynamodb"]["ApproximateCreationDateTime"])

    def _trim(self) -> None:
        while self._trimmed < len(self.records) and (
            self._age(self.records[self._trimmed]) > self.settings.retention_seconds
        ):
            if self._trimmed >= self.checkpoint:
                self.trimmed_unread.append(self.records[self._trimmed])
            self._trimmed += 1
        self.checkpoint = max(self.checkpoint, self._trimmed)

    def _step(self) -> None:
        batch = self.pending()[: self._limit]
        expired = [r for r in batch if self._age(r) > self.settings.maximum_record_age_seconds]
        if expired:  # oldest first: the expired records lead the batch
            self._discard(expired, "RecordAgeExceeded")
            return
        invocation = self._invoke(batch)
        if invocation.error is not None:
            self._function_error(batch)
            return
        failures = (invocation.response or {}).get("batchItemFailures") or []
        if not failures:
            self._done(len(batch))
            return
        sequences = [str(r["dynamodb"]["SequenceNumber"]) for r in batch]
        reported = [str(failure.get("itemIdentifier") or "") for failure in failures]
        if not all(identifier in sequences for identifier in reported):
            self._retry(batch)  # an empty or unknown identifier: the whole batch failed
            return
        first = min(sequences.index(identifier) for identifier in reported)
        self.checkpoint += first
        remaining = batch[first:]
        if self.settings.bisect_batch_on_function_error:
            self._limit = len(remaining)  # retry only the remaining records
        self._retry(remaining)

    def _invoke(self, batch: list[dict[str, Any]]) -> Invocation:
        context = SimLambdaContext(self.clock, self.settings.function_timeout_seconds)
        invocation = Invocation(self.clock.monotonic(), 0.0, len(batch))
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                invocation.response = self.handler({"Records": batch}, context)
        except Exception as error:
            invocation.error = f"{type(error).__name__}: {error}"
        invocation.duration = context.elapsed()
        if invocation.duration > self.settings.function_timeout_seconds:
            invocation.timed_out = True
            invocation.error = invocation.error or "Task timed out"
            invocation.response = None
        invocation.metrics = emf_metrics(printed.getvalue())
        self.invocations.append(invocation)
        return invocation

    def _function_error(self, batch: list[dict[str, Any]]) -> None:
        if self.settings.bisect_batch_on_function_error and len(batch) > 1:
            self._limit = len(batch) // 2  # splitting consumes no retry
            return
        self._retry(batch)

    def _retry(self, batch: list[dict[str, Any]]) -> None:
        self._retries += 1
        limit = self.settings.maximum_retry_attempts
        if limit >= 0 and self._retries > limit:
            self._discard(batch, "RetryAttemptsExhausted")

    def _done(self, count: int) -> None:
        self.checkpoint += count
        self._retries = 0
        self._limit = self.settings.batch_size

    def _discard(self, batch: list[dict[str, Any]], condition: str) -> None:
        """Skip the records; the destination gets their description, not the records."""
        first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
        self.on_failure.append(
            {
                "requestContext": {"condition": condition, "approximateInvokeCount": self._retries},
                "version": "1.0",
                "timestamp": datetime.fromtimestamp(self.clock.time(), UTC).isoformat(),
                "DDBStreamBatchInfo": {
                    "shardId": SHARD_ID,
                    "startSequenceNumber": first["SequenceNumber"],
                    "endSequenceNumber": last["SequenceNumber"],
                    "approximateArrivalOfFirstRecord": first["ApproximateCreationDateTime"],
                    "approximateArrivalOfLastRecord": last["ApproximateCreationDateTime"],
                    "batchSize": len(batch),
                    "streamArn": STREAM_ARN,
                },
            }
        )
        self._done(len(batch))

    def metric(self, name: str) -> float:
        """A metric summed over every invocation (what CloudWatch would add up)."""
        return sum(invocation.metrics.get(name, 0.0) for invocation in self.invocations)


def emf_metrics(printed: str) -> dict[str, float]:
    """The metrics of the EMF lines the handler printed (Powertools Metrics)."""
    found: dict[str, float] = {}
    for line in printed.splitlines():
        if not line.startswith("{"):
            continue
        blob = json.loads(line)
        for directive in blob.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                found[metric["Name"]] = found.get(metric["Name"], 0.0) + (
                    sum(value) if isinstance(value, list) else value
                )
    return found

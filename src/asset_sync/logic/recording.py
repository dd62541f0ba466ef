"""Recording a run in the run-state store: its measurements, a skipped run, the final record.

A stored record carries the run's duration and request counts up to its own write; the report
the run returns counts that write too (an unchanged run: the lease, then the record).
"""

from __future__ import annotations

import time

from asset_sync.contract import Outcome
from asset_sync.logic.catalog import CatalogSource
from asset_sync.logic.lease import (
    FORCED_UNLOCK,
    Lease,
    LeaseHeldError,
    LeaseLostError,
    StateWriteError,
)
from asset_sync.logic.lifecycle import StopSignal
from asset_sync.logic.outcome import RunSkippedError, SyncError
from asset_sync.logic.ports import RequestCounts, RunStateStore
from asset_sync.logic.report import RunReport


class RunRecorder:
    """Measures one run and stores its record (a skipped run's too)."""

    def __init__(
        self,
        state: RunStateStore,
        counts: RequestCounts,
        source: CatalogSource,
        stop: StopSignal,
        assets_table: str,
    ) -> None:
        self.state = state
        self.counts = counts
        self.source = source
        self.stop = stop
        self.assets_table = assets_table
        self.started = time.monotonic()

    def measure(self, report: RunReport) -> None:
        """The report's duration and request counts so far."""
        report.duration_seconds = time.monotonic() - self.started
        report.dynamodb_requests = self.counts.requests
        report.dynamodb_write_requests = self.counts.writes
        report.dynamodb_retries = self.counts.retries
        report.alpaca_attempts = self.source.attempts

    def skipped(self, report: RunReport, held: LeaseHeldError) -> RunSkippedError:
        """Record a run that found the lease held (a number of its own, its history entry)."""
        report.outcome, report.message = Outcome.SKIPPED, str(held)
        self.measure(report)  # the record carries the real duration
        try:
            report.run_seq = self.state.record_skipped(
                report.run_id, self.assets_table, report.summary()
            )
        except Exception as error:  # the skip itself is the news; note the rest
            report.warnings.append(f"the skipped run could not be recorded: {error}")
        self.measure(report)
        return RunSkippedError(report.message, report)

    def record(self, report: RunReport, lease: Lease) -> None:
        """Store the run record and give the lease back (after the last write returned);
        SyncError when the record could not be stored under the lease."""
        self.measure(report)
        try:
            self.state.release(
                lease, report.summary(), succeeded=report.succeeded, full=report.full
            )
        except LeaseLostError as lost:
            if self.stop.reason != FORCED_UNLOCK:  # else the stop's message says so already
                report.message = f"{report.message}; {lost}".lstrip("; ")
            if report.succeeded:
                report.outcome = Outcome.FAILED
            self.state.record_without_lease(lease, report.summary())
            raise self._failed(report) from None
        except StateWriteError as failed:
            report.message = f"{report.message}; {failed}".lstrip("; ")
            raise self._failed(report) from None
        self.measure(report)

    def _failed(self, report: RunReport) -> SyncError:
        self.measure(report)
        return SyncError(report.message, report)

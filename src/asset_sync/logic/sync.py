"""One sync run: lease -> fetch -> validate -> read -> plan -> guard -> apply -> record.

The CLI and the Lambda handler both call `run_sync`; only how they build its collaborators and
present its report differs.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec

from asset_sync.config import SyncSettings
from asset_sync.dal.assets import AssetTable, state_from_item
from asset_sync.dal.run_state import LockHeldError, RunStateTable
from asset_sync.dal.stats import IoStats
from asset_sync.logic.apply import LeaseLostError, PlanApplier
from asset_sync.logic.models import ItemChange, ValidatedCatalog
from asset_sync.logic.planning import Action, Plan, build_plan, check_guard, diff_item
from asset_sync.logic.report import RunReport
from asset_sync.logic.validation import CatalogFormatError, validate_records

_ARRAY = msgspec.json.Decoder(list[msgspec.Raw])


class SyncError(RuntimeError):
    """The run did not complete; `report` says how far it got."""

    def __init__(self, message: str, report: RunReport) -> None:
        super().__init__(message)
        self.report = report


class GuardRefusedError(SyncError):
    """The guard refused the plan: nothing was written."""


class CatalogSource(Protocol):
    """Where the catalog comes from (`alpaca.client.AlpacaClient`)."""

    attempts: int

    def list_assets_bodies(self, asset_classes: Sequence[str] = ()) -> list[bytes]: ...


@dataclass
class Progress:
    """Hooks for a terminal: a stage message and per-write progress."""

    stage: Callable[[str], None] = lambda _message: None
    start_writes: Callable[[int], None] = lambda _total: None
    advance: Callable[[int], None] = lambda _done: None


def utc_timestamp(now: datetime | None = None) -> str:
    """ISO 8601 UTC with microseconds and a `Z`, so timestamps also sort as text."""
    moment = now or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def fetch_catalog(source: CatalogSource, asset_classes: Sequence[str]) -> ValidatedCatalog:
    """Fetch every requested body and validate all records together (duplicates span bodies)."""
    raws: list[msgspec.Raw] = []
    for body in source.list_assets_bodies(asset_classes):
        try:
            raws.extend(_ARRAY.decode(body))
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as error:
            raise CatalogFormatError(
                f"the catalog response is not a complete JSON array ({len(body):,} bytes): {error}"
            ) from None
    return validate_records(raws)


class SyncRun:
    """The collaborators and settings of one run."""

    def __init__(
        self,
        settings: SyncSettings,
        source: CatalogSource,
        assets: AssetTable,
        state: RunStateTable,
        progress: Progress | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.assets = assets
        self.state = state
        self.progress = progress or Progress()
        self.stats: IoStats = assets.stats
        self._run_id = ""
        self._lease_deadline = 0.0
        self._lease_lock = threading.Lock()

    def check_lease(self) -> None:
        """Renew the lease when a third of it is left; LeaseLostError if another run took it.

        Called before every write, so a run that was slow enough to lose its lease stops
        instead of overwriting what the newer run decided.
        """
        lease = self.settings.lock_lease_seconds
        with self._lease_lock:
            if time.time() < self._lease_deadline - lease / 3:
                return
            try:
                self.state.renew(self._run_id, lease)
            except LockHeldError as taken:
                raise LeaseLostError(str(taken)) from None
            self._lease_deadline = time.time() + lease

    def run(self) -> RunReport:
        """Run once; raise SyncError (with the report) unless every write succeeded."""
        started = time.monotonic()
        report = RunReport(
            run_id=str(uuid.uuid4()),
            last_sync_timestamp=utc_timestamp(),
            dry_run=self.settings.dry_run,
        )
        if self.settings.dry_run:
            return self._finish(report, started, self._plan_and_apply(report))
        self.progress.stage("taking the run lease")
        self._lease_deadline = time.time() + self.settings.lock_lease_seconds
        self.state.acquire(report.run_id, self.settings.lock_lease_seconds)
        self._run_id = report.run_id
        try:
            error = self._plan_and_apply(report)
        except BaseException as unexpected:
            report.outcome = "failed"
            report.message = f"{type(unexpected).__name__}: {unexpected}"
            try:
                self._release(report)
            except Exception as release_error:  # keep the original error; the lease expires
                unexpected.add_note(f"also failed to release the run lease: {release_error}")
            raise
        try:
            self._release(report)
        except LockHeldError as lost:  # a newer run holds the lease now: say so, keep the report
            report.outcome = "failed" if error is None else report.outcome
            report.message = f"{report.message}; {lost}".lstrip("; ")
            error = error or SyncError(report.message, report)
        return self._finish(report, started, error)

    def _finish(self, report: RunReport, started: float, error: SyncError | None) -> RunReport:
        report.duration_seconds = time.monotonic() - started
        self._count_io(report)
        if error is not None:
            raise error
        return report

    def _release(self, report: RunReport) -> None:
        self._count_io(report)
        self.state.release(report.run_id, report.summary(), succeeded=report.succeeded)
        self._count_io(report)

    def _count_io(self, report: RunReport) -> None:
        report.dynamodb_requests = self.stats.requests
        report.dynamodb_write_requests = self.stats.writes
        report.dynamodb_retries = self.stats.retries
        report.alpaca_attempts = getattr(self.source, "attempts", 0)

    def _plan_and_apply(self, report: RunReport) -> SyncError | None:
        settings = self.settings
        self.progress.stage("fetching the Alpaca catalog")
        catalog = fetch_catalog(self.source, settings.asset_classes)
        report.fetched = catalog.fetched
        report.valid = len(catalog.assets)
        report.invalid = len(catalog.invalid)
        report.invalid_records = list(catalog.invalid)
        report.duplicates = list(catalog.duplicates)

        self.progress.stage(f"reading the table ({report.valid:,} valid assets fetched)")
        current = self.assets.read_active(with_class=bool(settings.asset_classes))
        unseen = [symbol for symbol in catalog.assets if symbol not in current]
        current.update(self.assets.states_of(unseen))  # inactive or foreign-made items
        plan = build_plan(catalog, current, report.last_sync_timestamp, settings.asset_classes)
        report.unchanged = plan.unchanged

        verdict = check_guard(catalog, plan, settings.max_delist_fraction, settings.force)
        if not verdict.allowed:
            report.outcome = "refused"
            report.message = f"guard refused the plan, nothing was written: {verdict.reason}"
            return GuardRefusedError(report.message, report)
        if settings.dry_run:
            self._preview(plan, report)
            report.outcome = "dry-run"
            return None
        return self._apply(plan, report)

    def _preview(self, plan: Plan, report: RunReport) -> None:
        """Fill the report with what applying would do, writing nothing."""
        olds = self.assets.get_items([i.symbol for i in plan.writes if i.current is not None])
        for item in plan.writes:
            old = olds.get(item.symbol)
            if old is None:
                report.changes[item.symbol] = ItemChange(Action.CREATE.value)
            else:
                report.changes[item.symbol] = diff_item(
                    item, old, report.last_sync_timestamp
                ).change
            _count(report, item.action)

    def _apply(self, plan: Plan, report: RunReport) -> SyncError | None:
        writes = plan.writes
        self.progress.stage(f"writing {len(writes):,} changes")
        self.progress.start_writes(len(writes))
        applier = PlanApplier(
            self.assets,
            state_from_item,
            report.last_sync_timestamp,
            concurrency=self.settings.write_concurrency,
            writes_per_second=self.settings.max_writes_per_second,
            on_progress=self.progress.advance,
            check_lease=self.check_lease,
        )
        outcome = applier.apply(writes)
        for action in outcome.done.values():
            _count(report, action)
        report.changes = outcome.changes
        report.failures = outcome.failures
        report.failed = len(outcome.failures)
        report.conflicts_resolved = outcome.conflicts_resolved
        if outcome.failures:
            report.outcome = "partial"
            report.message = (
                f"{report.failed} of {len(writes)} writes failed; those items keep their previous "
                "values and the next run retries them: "
                + "; ".join(f"{s}: {m}" for s, m in sorted(outcome.failures.items())[:5])
            )
            return SyncError(report.message, report)
        report.outcome = "succeeded"
        return None


def _count(report: RunReport, action: Action) -> None:
    """Add one item's final action to the report's counters."""
    counters: dict[Action, str] = {
        Action.CREATE: "created",
        Action.UPDATE: "updated",
        Action.REACTIVATE: "reactivated",
        Action.DELIST: "delisted",
        Action.UNCHANGED: "unchanged",
        Action.SUPERSEDED: "superseded",
    }
    name = counters[action]
    setattr(report, name, getattr(report, name) + 1)


def run_sync(
    settings: SyncSettings,
    source: CatalogSource,
    assets: AssetTable,
    state: RunStateTable,
    progress: Progress | None = None,
) -> RunReport:
    """Run one sync with the given collaborators (see `SyncRun.run`)."""
    return SyncRun(settings, source, assets, state, progress).run()


def report_from_state(record: dict[str, Any]) -> dict[str, Any]:
    """The `status` command's view of the run-state item."""
    return {
        "last_sync_timestamp": record.get("last_sync_timestamp"),
        "last_run_outcome": record.get("last_run_outcome"),
        "last_run": record.get("last_run"),
        "last_success": record.get("last_success"),
        "lock_owner": record.get("lock_owner"),
        "lock_expires_at": record.get("lock_expires_at"),
    }

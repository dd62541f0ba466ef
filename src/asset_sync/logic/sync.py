"""One sync run: lease -> fetch -> validate -> read -> plan -> guard -> apply -> record.

The CLI and the Lambda handler both call `run_sync`; only how they build its collaborators and
present its report differs. Every way a run can end after it took the lease (success, refusal,
failure, interrupt, deadline) records the run with what it really wrote and gives the lease back.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asset_sync.config import SyncSettings
from asset_sync.contract import Outcome
from asset_sync.logic.apply import PlanApplier, RunIdentity, StopRequested
from asset_sync.logic.apply_groups import member_action, write_change
from asset_sync.logic.catalog import (
    KNOWN_ASSET_CLASSES,
    CatalogError,
    CatalogSource,
    FetchedCatalog,
    fetch_catalog,
    paced_lookup,
    unknown_class_message,
)
from asset_sync.logic.clock import (
    deadline_after,
    human_duration,
    parse_timestamp,
    utc_timestamp,
)
from asset_sync.logic.confirmation import Confirmation, confirm_delistings
from asset_sync.logic.identity import block_unconfirmed, resolve_identity
from asset_sync.logic.identity_reads import read_for_identity
from asset_sync.logic.item_writes import diff_item, is_archive, member_writes
from asset_sync.logic.lease import (
    FORCED_UNLOCK,
    Lease,
    LeaseHeldError,
    LeaseLostError,
    StateView,
    StateWriteError,
)
from asset_sync.logic.lifecycle import (
    TAKEOVER_GRACE_SECONDS,
    LeaseKeeper,
    RunAborted,
    StopSignal,
)
from asset_sync.logic.models import (
    CurrentState,
    ItemChange,
    StoredValue,
    ValidatedCatalog,
    state_from_item,
)
from asset_sync.logic.planning import Action, ItemPlan, Plan, build_plan, check_guard, drifted
from asset_sync.logic.ports import AssetStore, RunStateStore, StoreError, StoreSetupError
from asset_sync.logic.report import RunReport
from asset_sync.logic.validation import CatalogFormatError

__all__ = [  # the catalog and clock helpers moved to logic.catalog and logic.clock
    "KNOWN_ASSET_CLASSES",
    "CatalogSource",
    "FetchedCatalog",
    "GuardRefusedError",
    "LeaseHeldError",
    "Progress",
    "RunInterruptedError",
    "RunSkippedError",
    "ScopeError",
    "SyncError",
    "SyncRun",
    "failure_message",
    "fetch_catalog",
    "human_duration",
    "parse_timestamp",
    "utc_timestamp",
]


class SyncError(RuntimeError):
    """The run did not complete; `report` says how far it got (`__cause__`: why)."""

    def __init__(self, message: str, report: RunReport) -> None:
        super().__init__(message)
        self.report = report


class GuardRefusedError(SyncError):
    """The guard refused the plan: nothing was written."""


class RunInterruptedError(SyncError):
    """The run stopped on a signal or at its deadline; the report says what it wrote."""

    def __init__(self, message: str, report: RunReport, reason: str) -> None:
        super().__init__(message, report)
        self.reason = reason  # "SIGINT", "SIGTERM" or "the deadline was near"


class RunSkippedError(SyncError, LeaseHeldError):
    """Another run holds the lease: this one did nothing (recorded as `skipped`)."""


class ScopeError(SyncError):
    """A requested asset class is unknown to Alpaca and to the table: a configuration error."""


@dataclass
class Progress:
    """Hooks for a terminal: a stage message and per-write progress."""

    stage: Callable[[str], None] = lambda _message: None
    start_writes: Callable[[int], None] = lambda _total: None
    advance: Callable[[int], None] = lambda _done: None


class SyncRun:
    """The collaborators and settings of one run."""

    def __init__(
        self,
        settings: SyncSettings,
        source: CatalogSource,
        assets: AssetStore,
        state: RunStateStore,
        progress: Progress | None = None,
        stop: StopSignal | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.assets = assets
        self.state = state
        self.progress = progress or Progress()
        self.stop = stop or StopSignal(deadline_after(settings.deadline_seconds))
        self.stats = assets.stats
        self.keeper = LeaseKeeper(state, settings.lock_lease_seconds, self.stop)
        self.applier: PlanApplier | None = None

    def run(self) -> RunReport:
        """Run once; raise SyncError (with the report) unless the run completed."""
        started = time.monotonic()
        settings = self.settings
        report = RunReport(
            run_id=str(uuid.uuid4()),
            last_sync_timestamp=utc_timestamp(),
            dry_run=settings.dry_run,
            scope=list(settings.scope),
            region=settings.region,
            endpoint=settings.dynamodb_endpoint_url or "AWS",
        )
        if settings.dry_run:
            return self._dry_run(report, started)
        self.progress.stage("taking the run lease")
        try:
            lease = self.keeper.acquire(report.run_id, settings.assets_table)
        except LeaseHeldError as held:
            return self._skipped(report, started, held)
        except Exception as error:  # nothing was written, and nowhere to record it
            report.outcome = Outcome.FAILED
            report.message = failure_message(error)
            self._finish(report, started)
            raise SyncError(report.message, report) from error
        report.run_seq = lease.run_seq
        self._note_clock(lease.state, report)
        report.full = settings.full or self._full_due(lease.state)
        identity = RunIdentity(lease.run_seq, report.last_sync_timestamp, report.full)
        if lease.taken_from is not None:
            self._let_the_displaced_run_stop(lease, report)
        try:
            ending = self._plan_and_apply(report, identity)
        except SyncError as failed:  # raised with its report filled in (a scope error)
            raise self._record(report, started, lease) or failed from failed.__cause__
        except RunAborted:
            ending = self._stopped_before_writing(report)
        except BaseException as unexpected:
            report.outcome = Outcome.FAILED
            report.message = failure_message(unexpected)
            try:
                self._record(report, started, lease)
            except Exception as record_error:  # keep the original error; the lease expires
                unexpected.add_note(f"also failed to record the run: {record_error}")
            if isinstance(unexpected, Exception):
                raise SyncError(report.message, report) from unexpected
            raise
        ending = self._record(report, started, lease) or ending
        if ending is not None:
            raise ending
        return report

    def _let_the_displaced_run_stop(self, lease: Lease, report: RunReport) -> None:
        """This run took over a lease whose holder may still be writing (its expiry judged on
        this machine's clock): wait until that run has re-read the lease, stopped, and its
        writes in flight have landed, so this run's read of the table sees them."""
        report.warnings.append(
            f"took over the run lease of run {lease.taken_from} (number {lease.state.run_seq}), "
            f"expired by this machine's clock; waited {TAKEOVER_GRACE_SECONDS:.0f} s for it to "
            "stop writing before reading the table"
        )
        self.progress.stage(f"took over a lease; waiting {TAKEOVER_GRACE_SECONDS:.0f} s")
        self.stop.wait(TAKEOVER_GRACE_SECONDS)

    def _dry_run(self, report: RunReport, started: float) -> RunReport:
        """Plan and report, writing nothing (the state table must exist all the same)."""
        view = self.state.read()
        self.state.check_serves(view, self.settings.assets_table)  # as the real run's acquire
        self._note_clock(view, report)
        report.full = self.settings.full or self._full_due(view)
        identity = RunIdentity(view.run_seq + 1, report.last_sync_timestamp, report.full)
        try:
            ending = self._plan_and_apply(report, identity)
        except SyncError:
            self._finish(report, started)
            raise
        except RunAborted:
            ending = self._stopped_before_writing(report)
        except Exception as unexpected:
            report.outcome = Outcome.FAILED
            report.message = failure_message(unexpected)
            self._finish(report, started)
            raise SyncError(report.message, report) from unexpected
        self._finish(report, started)
        if ending is not None:
            raise ending
        return report

    def _skipped(self, report: RunReport, started: float, held: LeaseHeldError) -> RunReport:
        """The lease is held: record a `skipped` run (its own number and history entry)."""
        report.outcome = Outcome.SKIPPED
        report.message = str(held)
        self._finish(report, started)  # the record carries the real duration
        try:
            report.run_seq = self.state.record_skipped(
                report.run_id, self.settings.assets_table, report.summary()
            )
        except Exception as error:  # the skip itself is the news; note the rest
            report.warnings.append(f"the skipped run could not be recorded: {error}")
        self._finish(report, started)
        raise RunSkippedError(report.message, report) from held

    def _note_clock(self, view: StateView, report: RunReport) -> None:
        """Warn when this machine's clock is behind the last recorded run's start."""
        last = view.last_run or {}
        previous = parse_timestamp(str(last.get("last_sync_timestamp", "")))
        mine = parse_timestamp(report.last_sync_timestamp)
        if previous is None or mine is None or mine >= previous:
            return
        report.warnings.append(
            f"this machine's clock is {human_duration(previous - mine)} behind the last run's "
            f"(run number {last.get('run_seq')} started {previous:%Y-%m-%dT%H:%M:%SZ}); "
            "ordering uses run numbers, not clocks, so the run proceeds"
        )

    def _full_due(self, view: StateView) -> bool:
        """Whether the last full reconciliation is older than FULL_RECONCILE_DAYS, or of an age
        this clock cannot judge (none recorded, or recorded later than now by a clock ahead)."""
        days = self.settings.full_reconcile_days
        if days <= 0:
            return False
        last = parse_timestamp(view.last_full_at or "")
        now = datetime.fromtimestamp(time.time(), UTC)
        return last is None or last > now or now - last >= timedelta(days=days)

    def _record(self, report: RunReport, started: float, lease: Lease) -> SyncError | None:
        """Store the run record and give the lease back (after the last write returned)."""
        report.duration_seconds = time.monotonic() - started
        self._count_io(report)
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
            self._finish(report, started)
            return SyncError(report.message, report)
        except StateWriteError as failed:
            report.message = f"{report.message}; {failed}".lstrip("; ")
            self._finish(report, started)
            return SyncError(report.message, report)
        self._finish(report, started)
        return None

    def _finish(self, report: RunReport, started: float) -> None:
        report.duration_seconds = time.monotonic() - started
        self._count_io(report)

    def _count_io(self, report: RunReport) -> None:
        report.dynamodb_requests = self.stats.requests
        report.dynamodb_write_requests = self.stats.writes
        report.dynamodb_retries = self.stats.retries
        report.alpaca_attempts = self.source.attempts

    def _stopped_before_writing(self, report: RunReport) -> SyncError | None:
        if not self.stop.requested:
            return None
        report.outcome = Outcome.INTERRUPTED
        report.message = f"stopped ({self.stop.reason}) before writing anything"
        return RunInterruptedError(report.message, report, self.stop.reason)

    def _plan_and_apply(self, report: RunReport, run: RunIdentity) -> SyncError | None:
        """Fetch, read and plan (abortable: nothing is written yet), then guard and apply."""
        self.stop.abortable = True
        try:
            if self.stop.requested:  # asked before it could raise (while taking the lease)
                raise RunAborted(self.stop.reason)
            planned = self._fetch_read_plan(report, run)
        finally:
            self.stop.abortable = False
        if isinstance(planned, SyncError):
            return planned
        if stopped := self._stopped_before_writing(report):
            return stopped
        catalog, plan, olds = planned
        return self._guard_and_apply(catalog, plan, olds, report, run)

    def _fetch_read_plan(
        self, report: RunReport, run: RunIdentity
    ) -> tuple[ValidatedCatalog, Plan, dict[str, dict[str, StoredValue]]] | SyncError:
        settings = self.settings
        self.progress.stage(f"fetching the Alpaca catalog ({', '.join(settings.scope)})")
        fetched = fetch_catalog(self.source, settings.scope)
        catalog = fetched.catalog
        report.fetched = catalog.fetched
        report.valid = len(catalog.assets)
        report.invalid = len(catalog.invalid)
        report.invalid_records = list(catalog.invalid)
        report.duplicates = list(catalog.duplicates)
        if stopped := self._stopped_before_writing(report):
            return stopped

        how = "every stored value" if run.full else "the status index"
        self.progress.stage(f"reading the table ({report.valid:,} valid assets fetched; {how})")
        current = self.assets.read_active(  # a full run keeps the values of drifted items only
            whole=run.full,
            keep_values=lambda symbol, item: drifted(catalog.assets.get(symbol), item),
        )
        unseen = [symbol for symbol in catalog.assets if symbol not in current]
        current.update(self.assets.states_of(unseen, whole=run.full))  # inactive, foreign-made
        self._check_scope(fetched, current, report)
        plan = build_plan(catalog, current, run.run_seq, settings.scope, full=run.full)
        report.unchanged = plan.unchanged
        report.superseded = plan.superseded
        report.id_conflicts = [
            {"asset_id": c.asset_id, "symbols": list(c.symbols)} for c in catalog.id_conflicts
        ]
        report.duplicate_records = catalog.duplicate_records
        report.id_conflict_records = catalog.id_conflict_records
        # whole items of what may change identity (docs/identity.md): an unchanged run reads none
        items = read_for_identity(self.assets, plan)
        resolution = resolve_identity(plan, catalog, items)
        report.renames = [rename.to_json() for rename in resolution.renames]
        report.reassignments = [r.to_json() for r in resolution.reassignments]
        return catalog, resolution.plan, items

    def _guard_and_apply(
        self,
        catalog: ValidatedCatalog,
        plan: Plan,
        olds: dict[str, dict[str, StoredValue]],
        report: RunReport,
        run: RunIdentity,
    ) -> SyncError | None:
        settings = self.settings
        candidates = _delisting_candidates(plan)
        report.delist_candidates = len(candidates)  # shown also when the guard refuses
        report.delist_candidate_symbols = sorted(item.symbol for item in candidates)
        report.active_in_scope = plan.active_in_scope
        verdict = check_guard(catalog, plan, settings.max_delist_fraction, settings.force)
        if not verdict.allowed:
            report.outcome = Outcome.REFUSED
            report.message = f"guard refused the plan, nothing was written: {verdict.reason}"
            return GuardRefusedError(report.message, report)
        confirmation = self._confirm(candidates, olds, catalog, report)
        confirmed = set(confirmation.confirmed)
        plan.delists = [item for item in plan.delists if item.symbol in confirmed]
        plan = block_unconfirmed(plan, confirmed)
        report.blocked_records = dict(plan.blocked)
        report.blocked = len(plan.blocked)
        if stopped := self._stopped_before_writing(report):
            return stopped
        if settings.dry_run:
            self._preview(plan, report, run)
            report.outcome = Outcome.DRY_RUN
            if not confirmation.consistent:
                report.message = f"a real run would end partial: {_inconsistency(confirmation)}"
            return None
        ending = self._apply(plan, olds, report, run)
        if ending is None and not confirmation.consistent:
            report.outcome = Outcome.PARTIAL
            report.message = _inconsistency(confirmation)
            return SyncError(report.message, report)
        return ending

    def _confirm(
        self,
        candidates: list[ItemPlan],
        olds: Mapping[str, Mapping[str, StoredValue]],
        catalog: ValidatedCatalog,
        report: RunReport,
    ) -> Confirmation:
        """Look the delisting candidates up with Alpaca (paced; none when there are none)."""
        if not candidates:
            return Confirmation()
        self.progress.stage(f"confirming {len(candidates):,} delistings with Alpaca")
        lookup = paced_lookup(self.source, self.settings.delist_lookups_per_second, self.stop.wait)
        confirmation = confirm_delistings(
            candidates,
            olds,
            lookup,
            sample_size=self.settings.delist_confirm_sample,
            listed=catalog.assets.keys(),
            rng=random.Random(report.run_id),  # noqa: S311 - a sample, not a secret
        )
        report.delist_lookups = confirmation.lookups
        report.kept_active = confirmation.kept_active
        report.unconfirmed = confirmation.unconfirmed
        return confirmation

    def _check_scope(
        self, fetched: FetchedCatalog, current: dict[str, CurrentState], report: RunReport
    ) -> None:
        """A requested class that neither Alpaca nor the table knows is a typo, not news."""
        message = unknown_class_message(fetched, current)
        if message is not None:
            report.outcome = Outcome.FAILED
            report.message = message
            raise ScopeError(report.message, report)

    def _preview(self, plan: Plan, report: RunReport, run: RunIdentity) -> None:
        """Fill the report with what applying would do, writing nothing."""
        wanted = [i.symbol for i in plan.writes if i.current is not None]
        olds = self.assets.get_items([*wanted, *(s for g in plan.groups for s in g.reads)])
        for item in plan.writes:
            old = olds.get(item.symbol)
            if old is None:
                report.changes[item.symbol] = ItemChange(item.action.value)
            else:
                write = diff_item(item, old, report.last_sync_timestamp, run.run_seq)
                report.changes[item.symbol] = write.change
            _count(report, item.action, item.symbol)
        for group in plan.groups:
            planned = member_writes(group, olds, report.last_sync_timestamp, run.run_seq)
            for member, member_write in zip(group.members, planned, strict=True):
                report.changes[member.symbol] = write_change(member_write)
                _count(report, member_action(member), member.symbol)

    def _apply(
        self,
        plan: Plan,
        olds: dict[str, dict[str, StoredValue]],
        report: RunReport,
        run: RunIdentity,
    ) -> SyncError | None:
        if plan.superseded:  # it read items a newer run wrote: is the lease still ours?
            self._newer_run_seen(f"{plan.superseded} of the items this run read", None)
        writes = plan.writes
        self.progress.stage(f"writing {len(writes):,} changes")
        self.progress.start_writes(len(writes))
        self.applier = applier = PlanApplier(
            self.assets,
            state_from_item,
            run,
            concurrency=self.settings.write_concurrency,
            writes_per_second=self.settings.max_writes_per_second,
            on_progress=self.progress.advance,
            before_write=self._before_write,
            newer_run_seen=self._newer_run_seen,
            pause=self.stop.wait,
        )
        with self.assets.guard_writes(self.keeper.check):  # the store's retries check it too
            outcome = applier.apply(writes, olds, plan.groups)
        for symbol, action in outcome.done.items():
            _count(report, action, symbol)
        report.changes = outcome.changes
        report.failures = outcome.failures
        report.failed = len(outcome.failures)
        report.not_written = len(outcome.not_attempted)
        report.conflicts_resolved = outcome.conflicts_resolved
        written = sum(1 for a in outcome.done.values() if a not in _NO_WRITE)
        if outcome.stopped:
            report.outcome = Outcome.INTERRUPTED
            report.message = (
                f"stopped ({self.stop.reason}) after writing {written:,} of {len(writes):,} "
                f"planned changes; {report.not_written:,} not written, the next run "
                "completes them"
            )
            if outcome.failures:
                report.message += f"; {report.failed} writes failed"
            return RunInterruptedError(report.message, report, self.stop.reason)
        if outcome.failures:
            report.outcome = Outcome.PARTIAL
            report.message = (
                f"{report.failed} of {len(writes)} writes failed; those items keep their previous "
                "values and the next run retries them: "
                + "; ".join(f"{s}: {m}" for s, m in sorted(outcome.failures.items())[:5])
            )
            return SyncError(report.message, report)
        report.outcome = Outcome.SUCCEEDED
        return None

    def _newer_run_seen(self, what: str, run_seq: int | None) -> None:
        """A run with a higher number wrote `what`: it took the lease after this run. Unless the
        lease is still this run's (the number came from elsewhere), stop: LeaseLostError."""
        lease, view = self.keeper.lease, self.state.read()
        if lease is not None and view.lock_owner == lease.run_id:
            return
        newer = f"a newer run (number {run_seq})" if run_seq is not None else "a newer run"
        raise LeaseLostError(
            f"{newer} wrote {what}: this run's lease was taken over ({view.describe_lock()}); "
            "this run stopped writing"
        )

    def _before_write(self) -> None:
        if self.stop.requested:
            raise StopRequested(self.stop.reason)
        self.keeper.check()

    def writes_in_flight(self) -> int:
        """Writes sent and not yet answered (for "still stopping" messages)."""
        return self.applier.in_flight if self.applier else 0


_NO_WRITE = (Action.UNCHANGED, Action.SUPERSEDED, Action.GONE)
_COUNTERS: dict[Action, str | None] = {
    Action.CREATE: "created",
    Action.UPDATE: "updated",
    Action.REACTIVATE: "reactivated",
    Action.DELIST: "delisted",
    Action.REPAIR: "repaired",
    Action.RENAME: "renamed",
    Action.ARCHIVE: None,  # counted as archived below
    Action.DEPART: None,  # the old side of a rename: the rename is counted once, on arrival
    Action.UNCHANGED: "unchanged",
    Action.SUPERSEDED: "superseded",
    Action.GONE: "vanished",
}


def _count(report: RunReport, action: Action, symbol: str) -> None:
    """Add one item's final action to the report's counters (an archive item's write is
    `archived`, and also `delisted` when its asset was active)."""
    name = _COUNTERS[action]
    if name is not None:
        setattr(report, name, getattr(report, name) + 1)
    if is_archive(symbol) and action in (Action.ARCHIVE, Action.DELIST):
        report.archived += 1


def _delisting_candidates(plan: Plan) -> list[ItemPlan]:
    """What the plan would turn inactive: the active items missing from the list, and the
    active holders of reused tickers (displaced, listed nowhere)."""
    displaced = [m.source for group in plan.groups for m in group.delistings if m.source]
    return [*plan.delists, *(ItemPlan(symbol, Action.DELIST) for symbol in displaced)]


def _inconsistency(confirmation: Confirmation) -> str:
    """The message of a run whose list Alpaca's lookups contradicted (or could not confirm)."""
    parts = []
    if confirmation.kept_active:
        shown = ", ".join(confirmation.kept_active[:20])
        parts.append(
            f"Alpaca still reports {len(confirmation.kept_active)} assets active that its list "
            f"omitted ({shown}); they were not delisted"
        )
    if confirmation.unconfirmed:
        parts.append(
            f"{len(confirmation.unconfirmed)} delisting candidates could not be confirmed and "
            "were left as they are"
        )
    parts.append(f"delisted only the {len(confirmation.confirmed)} confirmed one by one")
    return "; ".join(parts)


def failure_message(error: BaseException) -> str:
    """The run record's message for an error that ended a run, in an operator's words."""
    if isinstance(error, CatalogError | CatalogFormatError):
        return f"fetching from Alpaca failed, nothing was written: {error}"
    cause = error.__cause__ if isinstance(error, StoreError) else None
    if isinstance(error, StoreSetupError) or isinstance(cause, StoreSetupError):
        return str(cause or error)
    if isinstance(error, StoreError):
        return str(error)
    return f"{type(error).__name__}: {error}"

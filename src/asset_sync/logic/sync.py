"""One sync run: lease -> fetch -> validate -> read -> plan -> guard -> confirm -> apply -> record.

`SyncRun.run` is the one code path the CLI, the demo and the Lambda handler call (each builds
the collaborators in `asset_sync.wiring`). A run that does not complete raises the
`logic.outcome` error of how it ended, its report filled in; every way a run can end after it
took the lease (success, refusal, failure, interrupt, deadline) records the run with what it
really wrote and gives the lease back.
"""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from asset_sync.config import SyncSettings
from asset_sync.contract import Outcome
from asset_sync.logic.apply import PlanApplier, RunIdentity
from asset_sync.logic.catalog import (
    CatalogSource,
    fetch_catalog,
    paced_lookup,
    unknown_class_message,
)
from asset_sync.logic.clock import behind_warning, deadline_after, full_due, utc_timestamp
from asset_sync.logic.confirmation import Confirmation, confirm_delistings
from asset_sync.logic.identity import block_unconfirmed, resolve_identity
from asset_sync.logic.identity_reads import read_for_identity
from asset_sync.logic.lease import Lease, LeaseHeldError, StateView
from asset_sync.logic.lifecycle import TAKEOVER_GRACE_SECONDS, LeaseKeeper, RunAborted, StopSignal
from asset_sync.logic.models import ValidatedCatalog, state_from_item
from asset_sync.logic.outcome import (
    GuardRefusedError,
    RunInterruptedError,
    RunSkippedError,
    ScopeError,
    SyncError,
    failure_message,
    inconsistency,
)
from asset_sync.logic.planning import ItemPlan, Plan, build_plan, check_guard, drifted
from asset_sync.logic.ports import AssetStore, Items, RunStateStore
from asset_sync.logic.recording import RunRecorder
from asset_sync.logic.report import RunReport
from asset_sync.logic.tally import delisting_candidates, preview, tally

__all__ = [  # the errors (logic.outcome) and utc_timestamp were imported from here before
    "GuardRefusedError",
    "LeaseHeldError",
    "Progress",
    "RunInterruptedError",
    "RunSkippedError",
    "ScopeError",
    "SyncError",
    "SyncRun",
    "utc_timestamp",
]


@dataclass
class Progress:
    """Hooks for a terminal: a stage message and per-write progress."""

    stage: Callable[[str], None] = lambda _message: None
    start_writes: Callable[[int], None] = lambda _total: None
    advance: Callable[[int], None] = lambda _done: None


@dataclass(frozen=True)
class _Planned:
    """What the read-only part of a run decided: the catalog, the plan, the items it read."""

    catalog: ValidatedCatalog
    plan: Plan
    items: Items


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
        self.keeper = LeaseKeeper(state, settings.lock_lease_seconds, self.stop)
        self.recorder = RunRecorder(state, assets.stats, source, self.stop, settings.assets_table)
        self.applier: PlanApplier | None = None

    def run(self) -> RunReport:
        """Run once; raise SyncError (with the report) unless the run completed."""
        self.recorder.started = time.monotonic()
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
            return self._dry_run(report)
        lease = self._take_lease(report)
        identity = self._start(report, lease.state, lease.run_seq)
        if lease.taken_from is not None:
            self.progress.stage(f"took over a lease; waiting {TAKEOVER_GRACE_SECONDS:.0f} s")
            report.warnings.append(self.keeper.let_the_displaced_run_stop())
        try:
            self._plan_and_apply(report, identity)
        except SyncError:
            self.recorder.record(report, lease)
            raise
        except BaseException as unexpected:
            report.outcome, report.message = Outcome.FAILED, failure_message(unexpected)
            try:
                with contextlib.suppress(SyncError):  # its message is in the report already
                    self.recorder.record(report, lease)
            except Exception as record_error:  # keep the original error; the lease expires
                unexpected.add_note(f"also failed to record the run: {record_error}")
            if isinstance(unexpected, Exception):
                raise SyncError(report.message, report) from unexpected
            raise
        self.recorder.record(report, lease)
        return report

    def _dry_run(self, report: RunReport) -> RunReport:
        """Plan and report, writing nothing (the state table must exist all the same)."""
        view = self.state.read()
        self.state.check_serves(view, self.settings.assets_table)  # as the real run's acquire
        try:
            self._plan_and_apply(report, self._start(report, view, view.run_seq + 1))
        except SyncError:
            raise
        except Exception as unexpected:
            report.outcome, report.message = Outcome.FAILED, failure_message(unexpected)
            raise SyncError(report.message, report) from unexpected
        finally:
            self.recorder.measure(report)
        return report

    def _take_lease(self, report: RunReport) -> Lease:
        """The lease and this run's number; a run that finds the lease held records itself
        `skipped` (a number of its own, its history entry) and raises RunSkippedError."""
        self.progress.stage("taking the run lease")
        try:
            lease = self.keeper.acquire(report.run_id, self.settings.assets_table)
        except LeaseHeldError as held:
            raise self.recorder.skipped(report, held) from held
        except Exception as error:  # nothing was written, and nowhere to record it
            report.outcome, report.message = Outcome.FAILED, failure_message(error)
            self.recorder.measure(report)
            raise SyncError(report.message, report) from error
        report.run_seq = lease.run_seq
        return lease

    def _start(self, report: RunReport, state: StateView, run_seq: int) -> RunIdentity:
        """Who writes, from the state as this run found it: warn of a clock behind the last
        run's, and decide whether the run reconciles in full."""
        warning = behind_warning(report.last_sync_timestamp, state.last_run)
        if warning is not None:
            report.warnings.append(warning)
        days = self.settings.full_reconcile_days
        report.full = self.settings.full or full_due(state.last_full_at, days)
        return RunIdentity(run_seq, report.last_sync_timestamp, report.full)

    def _plan_and_apply(self, report: RunReport, run: RunIdentity) -> None:
        """Fetch, read and plan (abortable: nothing is written yet), guard, confirm, apply."""
        self.stop.abortable = True
        try:
            self._check_stop(report)  # asked before it could raise (while taking the lease)
            planned = self._fetch_read_plan(report, run)
        except RunAborted:
            raise self._interrupted(report) from None
        finally:
            self.stop.abortable = False
        self._check_stop(report)
        candidates = delisting_candidates(planned.plan)
        report.delist_candidates = len(candidates)  # shown also when the guard refuses
        report.delist_candidate_symbols = sorted(item.symbol for item in candidates)
        report.active_in_scope = planned.plan.active_in_scope
        settings = self.settings
        verdict = check_guard(
            planned.catalog, planned.plan, settings.max_delist_fraction, settings.force
        )
        if not verdict.allowed:
            message = f"guard refused the plan, nothing was written: {verdict.reason}"
            raise GuardRefusedError.ending(report, Outcome.REFUSED, message)
        confirmation = self._confirm(candidates, planned, report)
        plan = planned.plan
        plan.delists = [item for item in plan.delists if item.symbol in confirmation.confirmed]
        plan = block_unconfirmed(plan, set(confirmation.confirmed))
        report.blocked_records, report.blocked = dict(plan.blocked), len(plan.blocked)
        self._check_stop(report)
        if settings.dry_run:
            tally(report, preview(self.assets, plan, run))
            report.outcome = Outcome.DRY_RUN
            if not confirmation.consistent:
                report.message = f"a real run would end partial: {inconsistency(confirmation)}"
            return
        self._apply(plan, planned.items, report, run)
        if not confirmation.consistent:
            raise SyncError.ending(report, Outcome.PARTIAL, inconsistency(confirmation))

    def _fetch_read_plan(self, report: RunReport, run: RunIdentity) -> _Planned:
        """The catalog, the table's state and the plan (reads only)."""
        self.progress.stage(f"fetching the Alpaca catalog ({', '.join(self.settings.scope)})")
        fetched = fetch_catalog(self.source, self.settings.scope)
        catalog = fetched.catalog
        report.note_catalog(catalog)
        self._check_stop(report)
        how = "every stored value" if run.full else "the status index"
        self.progress.stage(f"reading the table ({report.valid:,} valid assets fetched; {how})")
        current = self.assets.read_active(  # a full run keeps the values of drifted items only
            whole=run.full,
            keep_values=lambda symbol, item: drifted(catalog.assets.get(symbol), item),
        )
        unseen = [symbol for symbol in catalog.assets if symbol not in current]
        current.update(self.assets.states_of(unseen, whole=run.full))  # inactive, foreign-made
        scope_problem = unknown_class_message(fetched, current)
        if scope_problem is not None:
            raise ScopeError.ending(report, Outcome.FAILED, scope_problem)
        plan = build_plan(catalog, current, run.run_seq, self.settings.scope, full=run.full)
        report.note_plan(catalog, plan.unchanged, plan.superseded)
        # whole items of what may change identity (docs/identity.md): an unchanged run reads none
        items = read_for_identity(self.assets, plan)
        resolution = resolve_identity(plan, catalog, items)
        report.renames = [rename.to_json() for rename in resolution.renames]
        report.reassignments = [r.to_json() for r in resolution.reassignments]
        return _Planned(catalog, resolution.plan, items)

    def _confirm(
        self, candidates: list[ItemPlan], planned: _Planned, report: RunReport
    ) -> Confirmation:
        """Look the delisting candidates up with Alpaca (paced; none when there are none)."""
        if not candidates:
            return Confirmation()
        self.progress.stage(f"confirming {len(candidates):,} delistings with Alpaca")
        lookup = paced_lookup(self.source, self.settings.delist_lookups_per_second, self.stop.wait)
        confirmation = confirm_delistings(
            candidates,
            planned.items,
            lookup,
            sample_size=self.settings.delist_confirm_sample,
            listed=planned.catalog.assets.keys(),
            rng=random.Random(report.run_id),  # noqa: S311 - a sample, not a secret
        )
        report.delist_lookups = confirmation.lookups
        report.kept_active = confirmation.kept_active
        report.unconfirmed = confirmation.unconfirmed
        return confirmation

    def _apply(self, plan: Plan, olds: Items, report: RunReport, run: RunIdentity) -> None:
        """Write the plan under the lease; raise unless every write settled."""
        if plan.superseded:  # it read items a newer run wrote: is the lease still ours?
            self.keeper.newer_run_seen(f"{plan.superseded} of the items this run read", None)
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
            before_write=self.keeper.before_write,
            newer_run_seen=self.keeper.newer_run_seen,
            pause=self.stop.wait,
        )
        with self.assets.guard_writes(self.keeper.check):  # the store's retries check it too
            outcome = applier.apply(writes, olds, plan.groups)
        tally(report, outcome)
        if outcome.stopped:
            message = (
                f"stopped ({self.stop.reason}) after writing {outcome.written:,} of "
                f"{len(writes):,} planned changes; {report.not_written:,} not written, the "
                "next run completes them"
            )
            if outcome.failures:
                message += f"; {report.failed} writes failed"
            raise self._interrupted(report, message)
        if outcome.failures:
            raise SyncError.ending(
                report,
                Outcome.PARTIAL,
                f"{report.failed} of {len(writes)} writes failed; those items keep their "
                "previous values and the next run retries them: "
                + "; ".join(f"{s}: {m}" for s, m in sorted(outcome.failures.items())[:5]),
            )
        report.outcome = Outcome.SUCCEEDED

    def _check_stop(self, report: RunReport) -> None:
        """Before anything is written: a requested stop ends the run here."""
        if self.stop.requested:
            raise self._interrupted(report)

    def _interrupted(self, report: RunReport, message: str = "") -> RunInterruptedError:
        reason = self.stop.reason
        report.outcome = Outcome.INTERRUPTED
        report.message = message or f"stopped ({reason}) before writing anything"
        return RunInterruptedError(report.message, report, reason)

    def writes_in_flight(self) -> int:
        """Writes sent and not yet answered (for "still stopping" messages)."""
        return self.applier.in_flight if self.applier else 0

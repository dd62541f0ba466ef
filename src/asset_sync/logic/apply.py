"""Apply a plan with conditional writes; a write that loses a race is re-read and re-planned.

Each item is written by exactly one request (PutItem for a create, UpdateItem SET/REMOVE on owned
attributes otherwise), so an item is never left with a mix of old and new attributes; a run that
stops between items leaves a table that the next run's plan completes.

Before every write the applier asks `before_write`, which raises `StopRequested` once the run's
stop signal is set (no new write starts; writes in flight finish) and `LeaseLostError` once the
run no longer holds its lease. An item found written by a run with a higher number (which took
the lease after this run) goes to `newer_run_seen`, which raises `LeaseLostError` when this run's
lease was taken over: the run stops at its first fenced write. Writer threads never outlive
`apply`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from asset_sync.logic.apply_groups import apply_group
from asset_sync.logic.item_writes import (
    SYNC_ACTION_OF,
    diff_item,
    identity_links,
    new_item,
)
from asset_sync.logic.lease import LeaseLostError
from asset_sync.logic.models import INACTIVE, CurrentState, ItemChange, StoredValue
from asset_sync.logic.pacing import Pacer, full_jitter
from asset_sync.logic.planning import Action, IdentityGroup, ItemPlan, plan_item
from asset_sync.logic.ports import AssetStore, ConditionFailedError, StoreError

__all__ = [  # AssetStore: the port, imported from here before logic.ports existed
    "MAX_ATTEMPTS_PER_ITEM",
    "MAX_FAILURES_BEFORE_ABORT",
    "SETTLED",
    "ApplyOutcome",
    "AssetStore",
    "PlanApplier",
    "RunIdentity",
    "StateReader",
    "StopRequested",
    "WritePacer",
]

MAX_ATTEMPTS_PER_ITEM = 8
# Plans that need no write (any more): recorded as they are.
SETTLED = frozenset((Action.UNCHANGED, Action.SUPERSEDED, Action.GONE))
MAX_FAILURES_BEFORE_ABORT = 25


class StopRequested(Exception):  # noqa: N818 - a request, not an error
    """The run was asked to stop: no new write may start."""


StateReader = Callable[[str, Mapping[str, StoredValue]], CurrentState]


@dataclass(frozen=True)
class RunIdentity:
    """Who writes: the run's number (its fencing token), its start time, and its mode."""

    run_seq: int
    timestamp: str
    full: bool = False


@dataclass
class ApplyOutcome:
    """What the writes did, per symbol."""

    done: dict[str, Action] = field(default_factory=dict)
    changes: dict[str, ItemChange] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    not_attempted: list[str] = field(default_factory=list)
    conflicts_resolved: int = 0
    aborted: bool = False
    abort_reason: str = ""
    stopped: bool = False

    @property
    def written(self) -> int:
        """Items this run wrote (the settled ones needed no write)."""
        return sum(1 for action in self.done.values() if action not in SETTLED)


class WritePacer(Pacer):
    """Spaces item writes (the status index's single `active` partition caps them)."""


def _symbols(unit: ItemPlan | IdentityGroup) -> tuple[str, ...]:
    return unit.symbols if isinstance(unit, IdentityGroup) else (unit.symbol,)


def _no_check() -> None:
    """Used where no lease or stop applies (tests of the applier alone)."""


def _no_lease(_symbol: str, _run_seq: int) -> None:
    """Used where no lease applies: an item a newer run wrote is only left alone."""


class PlanApplier:
    """Writes one plan's items concurrently (bounded), paced, with per-item conflict handling.

    Identity changes (renames, shifts, swaps, reuses: one transaction each) are applied first,
    one at a time: they are few, each is all-or-nothing, and no single write of this run runs
    beside them (moto's server copies and restores whole tables around a transaction). The
    single writes then run concurrently.

    Every write whose outcome is uncertain — a lost race (condition failure), or a transient
    error boto3 gave up on (throttling, 5xx, a dropped connection, its retry quota spent) — is
    followed by a consistent re-read of the item: if it already holds this run's write, the
    write is confirmed; otherwise the symbol is re-planned against what is there now.
    """

    def __init__(
        self,
        store: AssetStore,
        state_of: StateReader,
        run: RunIdentity,
        *,
        concurrency: int = 8,
        writes_per_second: float = 500.0,
        on_progress: Callable[[int], None] | None = None,
        before_write: Callable[[], None] = _no_check,
        newer_run_seen: Callable[[str, int], None] = _no_lease,
        pause: Callable[[float], object] = time.sleep,
        backoff_base: float = 0.05,
    ) -> None:
        self.store = store
        self.state_of = state_of
        self.run = run
        self.concurrency = concurrency
        self.pacer = WritePacer(writes_per_second, pause)
        self.on_progress = on_progress or (lambda _done: None)
        self.before_write = before_write
        self.newer_run_seen = newer_run_seen
        self.pause = pause
        self.backoff_base = backoff_base
        self.outcome = ApplyOutcome()
        self._lock = threading.Lock()
        self.in_flight = 0

    def apply(
        self,
        items: list[ItemPlan],
        olds: Mapping[str, dict[str, StoredValue]] | None = None,
        groups: Sequence[IdentityGroup] = (),
    ) -> ApplyOutcome:
        """Write every item plan and every identity change (one transaction each); failures
        are collected, never silently dropped.

        `olds`: whole current items the caller read already; the others are read here.
        """
        known = dict(olds or {})
        wanted = [i.symbol for i in items if i.current is not None]
        wanted += [symbol for group in groups for symbol in group.reads]
        known.update(self.store.get_items([s for s in dict.fromkeys(wanted) if s not in known]))
        for group in groups:  # one at a time, before the rest (see the class docstring)
            self._work(group, known)
        pending: Iterator[ItemPlan] = iter(items)
        take = threading.Lock()

        def work() -> None:  # each worker pulls the next item: at most `concurrency` in flight
            while True:
                with take:
                    item = next(pending, None)
                if item is None:
                    return
                self._work(item, known)

        workers = max(1, min(self.concurrency, len(items)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for future in [pool.submit(work) for _ in range(workers)]:
                future.result()
        return self.outcome

    def _work(
        self, unit: ItemPlan | IdentityGroup, known: Mapping[str, dict[str, StoredValue]]
    ) -> None:
        try:
            self._apply_unit(unit, known)
        except Exception as error:  # never lose an item silently
            for symbol in _symbols(unit):
                self._record(symbol, failure=f"{type(error).__name__}: {error}")

    def _apply_unit(
        self, unit: ItemPlan | IdentityGroup, known: Mapping[str, dict[str, StoredValue]]
    ) -> None:
        if self.outcome.aborted or self.outcome.stopped:
            for symbol in _symbols(unit):
                self._skip(symbol)
            return
        try:
            if isinstance(unit, IdentityGroup):
                apply_group(self, unit, known)
            else:
                self._write_converging(unit, known.get(unit.symbol))
        except StopRequested:
            with self._lock:
                self.outcome.stopped = True
            for symbol in _symbols(unit):
                self._skip(symbol)
        except LeaseLostError as lost:
            with self._lock:
                self.outcome.aborted = True
                self.outcome.abort_reason = str(lost)
            for symbol in _symbols(unit):
                self._skip(symbol)

    def _skip(self, symbol: str) -> None:
        """Not written because the run stopped or lost its lease: the next run writes it.

        Not progress either: a stopped run's progress ends at what it really settled.
        """
        if self.outcome.stopped:
            with self._lock:
                self.outcome.not_attempted.append(symbol)
            return
        self._record(symbol, failure=f"not attempted: {self.outcome.abort_reason}")

    def _write_converging(self, item: ItemPlan, old: dict[str, StoredValue] | None) -> None:
        """Write; after an uncertain outcome re-read the item and re-plan it (bounded)."""
        plan = self._replan(item, old)
        last_error = ""
        for attempt in range(MAX_ATTEMPTS_PER_ITEM):
            if plan.action in SETTLED:
                self._settle(item.symbol, plan, resolved=attempt > 0)
                return
            change, send = self._prepare(plan, old)
            try:
                send()
            except ConditionFailedError:
                last_error = "the item kept changing under conditional writes"
            except StoreError as error:
                last_error = str(error)
            else:
                self._record(item.symbol, action=plan.action, change=change, resolved=attempt > 0)
                return
            self._backoff(attempt)
            try:
                fresh = self.store.get_item(item.symbol)
            except StoreError as error:
                last_error = str(error)
                continue  # same plan, same expectations: the conditions keep it safe
            if self._is_own_write(plan, fresh):
                # the write had applied but its reply was lost; boto3's retry then failed
                self._record(item.symbol, action=plan.action, change=change, resolved=True)
                return
            if fresh == old and last_error.startswith("the item kept changing"):
                self._record(
                    item.symbol,
                    failure=(
                        "the conditional write failed although the item did not change; its "
                        "stored values cannot be matched (please report this item)"
                    ),
                )
                return
            old = fresh
            plan = self._replan(item, old)
        if plan.action in SETTLED:
            self._settle(item.symbol, plan, resolved=True)
            return
        self._record(
            item.symbol, failure=f"gave up after {MAX_ATTEMPTS_PER_ITEM} attempts: {last_error}"
        )

    def _settle(self, symbol: str, plan: ItemPlan, *, resolved: bool) -> None:
        """An item that needs no write (any more): unchanged, superseded or gone.

        Superseded: a run with a higher number wrote it, so that run took the lease after this
        one; `newer_run_seen` raises LeaseLostError (the run stops) unless the lease is still ours.
        """
        if plan.action == Action.SUPERSEDED and plan.current is not None:
            self.newer_run_seen(symbol, plan.current.sync_run_seq)
        self._record(symbol, action=plan.action, resolved=resolved)

    def _is_own_write(self, plan: ItemPlan, fresh: Mapping[str, StoredValue] | None) -> bool:
        """Whether the item already holds exactly what this run meant to write."""
        if fresh is None or fresh.get("sync_run_seq") != self.run.run_seq:
            return False
        if fresh.get("sync_action") != SYNC_ACTION_OF.get(plan.action):
            return False
        links = identity_links(plan)
        if any(fresh.get(name) != value for name, value in links.items()):
            return False
        if plan.asset is None:
            return fresh.get("status") == INACTIVE
        return (
            fresh.get("sync_hash") == plan.asset.content_hash
            and fresh.get("status") == plan.asset.status
        )

    def _replan(self, item: ItemPlan, old: Mapping[str, StoredValue] | None) -> ItemPlan:
        """Plan this symbol again against the item as it is now.

        Only a symbol absent from the catalog can need nothing: a delisting whose item was
        deleted meanwhile is `gone`; one whose item is no longer active (another writer delisted
        it) is `unchanged`.
        """
        current = self.state_of(item.symbol, old) if old is not None else None
        run = self.run
        plan = plan_item(item.asset, current, run.run_seq, full=run.full)
        if plan is None:
            return ItemPlan(item.symbol, Action.GONE if old is None else Action.UNCHANGED)
        return plan

    def _prepare(
        self, plan: ItemPlan, old: Mapping[str, StoredValue] | None
    ) -> tuple[ItemChange, Callable[[], None]]:
        """The change for the report and the one conditional request that makes it."""
        run = self.run
        if old is None:
            asset = plan.asset
            assert asset is not None
            item = new_item(asset, run.timestamp, run.run_seq)
            return ItemChange(Action.CREATE.value), lambda: self._send(self.store.put_new, item)
        write = diff_item(plan, old, run.timestamp, run.run_seq)
        return write.change, lambda: self._send(
            self.store.update_owned,
            plan.symbol,
            write.set_values,
            write.remove,
            write.expected,
            run.run_seq,
        )

    def _send(self, request: Callable[..., None], *args: object) -> None:
        self.pacer.wait()
        self.before_write()  # last thing before the request: stop, or a lost lease, ends here
        with self._lock:
            self.in_flight += 1
        try:
            request(*args)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _backoff(self, attempt: int, cap: float = 5.0) -> None:
        """Full-jitter exponential backoff between item-level attempts."""
        self.pause(full_jitter(attempt, self.backoff_base, cap))

    def _done_count(self) -> int:
        with self._lock:
            outcome = self.outcome
            return len(outcome.done) + len(outcome.failures)

    def _record(
        self,
        symbol: str,
        *,
        action: Action | None = None,
        change: ItemChange | None = None,
        failure: str | None = None,
        resolved: bool = False,
    ) -> None:
        with self._lock:
            outcome = self.outcome
            if failure is not None:
                outcome.failures[symbol] = failure
                if not outcome.aborted and len(outcome.failures) >= MAX_FAILURES_BEFORE_ABORT:
                    outcome.aborted = True
                    outcome.abort_reason = "the run aborted after repeated failures"
            elif action is not None:
                outcome.done[symbol] = action
                if change is not None:
                    outcome.changes[symbol] = change
            outcome.conflicts_resolved += int(resolved)
        self.on_progress(self._done_count())

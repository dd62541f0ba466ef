"""Apply a plan with conditional writes; a write that loses a race is re-read and re-planned.

Each item is written by exactly one request (PutItem for a create, UpdateItem SET/REMOVE on owned
attributes otherwise), so an item is never left with a mix of old and new attributes; a crash
between items leaves a table that the next run's plan completes.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from botocore.exceptions import BotoCoreError, ClientError

from asset_sync.dal.errors import ConditionFailedError
from asset_sync.logic.models import (
    INACTIVE,
    OWNED_ATTRIBUTES,
    CurrentState,
    ItemChange,
    OwnedValue,
)
from asset_sync.logic.planning import Action, ItemPlan, diff_item, new_item, plan_item

MAX_ATTEMPTS_PER_ITEM = 8
MAX_FAILURES_BEFORE_ABORT = 25


class AssetStore(Protocol):
    """What applying needs of the assets table (`dal.assets.AssetTable`)."""

    def get_item(self, symbol: str) -> dict[str, OwnedValue] | None: ...

    def get_items(self, symbols: list[str]) -> dict[str, dict[str, OwnedValue]]: ...

    def put_new(self, item: Mapping[str, OwnedValue]) -> None: ...

    def update_owned(
        self,
        symbol: str,
        set_values: Mapping[str, OwnedValue],
        remove: list[str] | tuple[str, ...],
        expected: Mapping[str, OwnedValue | None],
        expected_version: int,
    ) -> None: ...


StateReader = Callable[[str, Mapping[str, OwnedValue]], CurrentState]


@dataclass
class ApplyOutcome:
    """What the writes did, per symbol."""

    done: dict[str, Action] = field(default_factory=dict)
    changes: dict[str, ItemChange] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    conflicts_resolved: int = 0
    aborted: bool = False
    abort_reason: str = ""


class WritePacer:
    """Spaces write starts to at most `rate` per second across threads (GSI partition cap)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until this caller's slot."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = slot - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class LeaseLostError(RuntimeError):
    """The run no longer holds its lease: it must stop writing."""


def _no_lease_check() -> None:
    """Used where no lease applies (tests of the applier alone)."""


class PlanApplier:
    """Writes one plan's items concurrently (bounded), paced, with per-item conflict handling.

    Every write whose outcome is uncertain — a lost race (condition failure), or a transient
    error boto3 gave up on (throttling, 5xx, a dropped connection, its retry quota spent) — is
    followed by a consistent re-read of the item: if it already holds this run's write, the
    write is confirmed; otherwise the symbol is re-planned against what is there now.
    """

    def __init__(
        self,
        store: AssetStore,
        state_of: StateReader,
        timestamp: str,
        *,
        concurrency: int = 8,
        writes_per_second: float = 500.0,
        on_progress: Callable[[int], None] | None = None,
        check_lease: Callable[[], None] = _no_lease_check,
        backoff_base: float = 0.2,
    ) -> None:
        self.store = store
        self.state_of = state_of
        self.timestamp = timestamp
        self.concurrency = concurrency
        self.pacer = WritePacer(writes_per_second)
        self.on_progress = on_progress or (lambda _done: None)
        self.check_lease = check_lease
        self.backoff_base = backoff_base
        self.outcome = ApplyOutcome()
        self._lock = threading.Lock()

    def old_items(self, items: list[ItemPlan]) -> dict[str, dict[str, OwnedValue]]:
        """Whole current items for the plans that change an existing item."""
        return self.store.get_items([i.symbol for i in items if i.current is not None])

    def apply(self, items: list[ItemPlan]) -> ApplyOutcome:
        """Write every item plan; failures are collected, never silently dropped."""
        olds = self.old_items(items)
        pending = iter(items)
        take = threading.Lock()

        def work() -> None:  # each worker pulls the next item: at most `concurrency` in flight
            while True:
                with take:
                    item = next(pending, None)
                if item is None:
                    return
                try:
                    self._apply_one(item, olds.get(item.symbol))
                except Exception as error:  # never lose an item silently
                    self._record(item.symbol, failure=f"{type(error).__name__}: {error}")

        workers = max(1, min(self.concurrency, len(items)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for future in [pool.submit(work) for _ in range(workers)]:
                future.result()
        return self.outcome

    def _apply_one(self, item: ItemPlan, old: dict[str, OwnedValue] | None) -> None:
        if self.outcome.aborted:
            self._record(item.symbol, failure=f"not attempted: {self.outcome.abort_reason}")
            return
        try:
            self._write_converging(item, old)
        except LeaseLostError as lost:
            with self._lock:
                self.outcome.aborted = True
                self.outcome.abort_reason = str(lost)
            self._record(item.symbol, failure=f"not attempted: {lost}")

    def _write_converging(self, item: ItemPlan, old: dict[str, OwnedValue] | None) -> None:
        """Write; after an uncertain outcome re-read the item and re-plan it (bounded)."""
        plan: ItemPlan | None = self._replan(item, old)
        last_error = ""
        for attempt in range(MAX_ATTEMPTS_PER_ITEM):
            if plan is None or plan.action in (Action.UNCHANGED, Action.SUPERSEDED):
                action = plan.action if plan else Action.UNCHANGED
                self._record(item.symbol, action=action, resolved=attempt > 0)
                return
            change, send = self._prepare(plan, old)
            try:
                send()
            except ConditionFailedError:
                last_error = "the item kept changing under conditional writes"
            except (ClientError, BotoCoreError) as error:
                last_error = f"{type(error).__name__}: {error}"
                _sleep_backoff(self.backoff_base, attempt)
            else:
                self._record(item.symbol, action=plan.action, change=change, resolved=attempt > 0)
                return
            try:
                old = self.store.get_item(item.symbol)
            except (ClientError, BotoCoreError) as error:
                last_error = f"{type(error).__name__}: {error}"
                _sleep_backoff(self.backoff_base, attempt)
                continue  # same plan, same expectations: the conditions keep it safe
            if self._is_own_write(plan, old):
                # the write had applied but its reply was lost; boto3's retry then failed
                self._record(item.symbol, action=plan.action, change=change, resolved=True)
                return
            plan = self._replan(item, old)
        self._record(
            item.symbol, failure=f"gave up after {MAX_ATTEMPTS_PER_ITEM} attempts: {last_error}"
        )

    def _is_own_write(self, plan: ItemPlan, fresh: Mapping[str, OwnedValue] | None) -> bool:
        """Whether the item already holds exactly what this run meant to write."""
        if fresh is None or fresh.get("last_sync_timestamp") != self.timestamp:
            return False
        if plan.asset is None:
            return fresh.get("status") == INACTIVE
        return (
            fresh.get("sync_hash") == plan.asset.content_hash
            and fresh.get("status") == plan.asset.status
        )

    def _replan(self, item: ItemPlan, old: Mapping[str, OwnedValue] | None) -> ItemPlan | None:
        """Plan this symbol again against the item as it is now (None: nothing to do)."""
        current = self.state_of(item.symbol, old) if old is not None else None
        return plan_item(item.asset, current, self.timestamp)

    def _prepare(
        self, plan: ItemPlan, old: Mapping[str, OwnedValue] | None
    ) -> tuple[ItemChange, Callable[[], None]]:
        """The change for the report and the one conditional request that makes it."""
        if old is None:
            asset = plan.asset
            assert asset is not None
            return ItemChange(Action.CREATE.value), lambda: self._paced(
                self.store.put_new, new_item(asset, self.timestamp)
            )
        write = diff_item(plan, old, self.timestamp)
        touched = [*write.set_values, *write.remove]
        expected = {name: old.get(name) for name in touched if name in OWNED_ATTRIBUTES}
        version = plan.current.sync_version if plan.current else 0
        return write.change, lambda: self._paced(
            self.store.update_owned, plan.symbol, write.set_values, write.remove, expected, version
        )

    def _paced(self, request: Callable[..., None], *args: object) -> None:
        self.pacer.wait()
        self.check_lease()  # last thing before the request: a run without its lease stops
        request(*args)

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
            done = len(outcome.done) + len(outcome.failures)
        self.on_progress(done)


def _sleep_backoff(base: float, attempt: int, cap: float = 10.0) -> None:
    """Full-jitter exponential backoff between item-level attempts."""
    time.sleep(random.uniform(0, min(cap, base * 2**attempt)))  # noqa: S311 - jitter only

"""The run lease and the run numbers as a run sees them: the state, the lease, their errors.

The run-state store (`logic.ports.RunStateStore`) hands these out; `logic.lifecycle.LeaseKeeper`
keeps the lease, and the CLI shows it (`status`, `unlock`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from asset_sync.logic.clock import iso_time

# What a holder whose lease an operator cleared says (`asset-sync unlock --force`): also the
# reason its run stops, as a signal's name is.
FORCED_UNLOCK = "the run lease was cleared by an operator (`asset-sync unlock --force`)"


@dataclass(frozen=True)
class StateView:
    """The state item as plain values (all empty before the first run)."""

    run_seq: int = 0
    assets_table: str | None = None
    lock_owner: str | None = None
    lock_run_seq: int | None = None
    lock_expires_at: int | None = None
    lock_acquired_at: str | None = None
    last_run: dict[str, Any] | None = None
    last_run_seq: int | None = None
    last_run_outcome: str | None = None
    last_run_started_at: str | None = None
    last_success: dict[str, Any] | None = None
    last_sync_timestamp: str | None = None  # the start of the last successful run
    last_full_at: str | None = None
    last_full_run_seq: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def lock_seconds_left(self, now: float | None = None) -> int | None:
        """Seconds until the lease expires (negative: expired), None when no lease is held."""
        if self.lock_owner is None or self.lock_expires_at is None:
            return None
        return int(self.lock_expires_at - (time.time() if now is None else now))

    def describe_lock(self, now: float | None = None) -> str:
        """`run <id> (number N), lease until <ISO> (S s left)`, for messages."""
        left = self.lock_seconds_left(now)
        if left is None or self.lock_expires_at is None:
            return "no sync holds the run lease"
        state = f"{left} s left" if left >= 0 else f"expired {-left} s ago"
        return (
            f"run {self.lock_owner} (number {self.lock_run_seq}), lease until "
            f"{iso_time(self.lock_expires_at)} ({state})"
        )

    def to_json(self) -> dict[str, Any]:
        """Every field, JSON-able, with the lease expiry also as ISO time."""
        out = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "extra"}
        out["lock_expires_at_iso"] = (
            iso_time(self.lock_expires_at) if self.lock_expires_at is not None else None
        )
        out["lock_seconds_left"] = self.lock_seconds_left()
        return out


@dataclass(frozen=True)
class Lease:
    """The run lease as taken: this run's id and number, and the state as it was before.

    `taken_from`: the run whose lease this one took over (its expiry judged on this machine's
    clock), None when the lease was free.
    """

    run_id: str
    run_seq: int
    expires_at: int
    state: StateView
    taken_from: str | None = None


class LeaseHeldError(RuntimeError):
    """Another run holds the run lease (`holder`: the state that showed it)."""

    def __init__(self, message: str, holder: StateView | None = None) -> None:
        super().__init__(message)
        self.holder = holder

    @classmethod
    def of(cls, holder: StateView, now: float) -> LeaseHeldError:
        """The error naming `holder` (its run, number and expiry as of `now`)."""
        return cls(
            f"another sync holds the run lease: {holder.describe_lock(now)}; not starting a "
            "second one (if its holder is dead, `asset-sync unlock` clears an expired lease)",
            holder,
        )


class LeaseLostError(RuntimeError):
    """This run no longer holds its lease: it must stop writing. `view`: the state that showed
    it (None when it was not read)."""

    def __init__(self, message: str, view: StateView | None = None) -> None:
        super().__init__(message)
        self.view = view


class StateWriteError(RuntimeError):
    """The run record could not be stored (the store kept failing); the lease will expire."""


def lease_cleared(view: StateView, run_seq: int) -> bool:
    """Whether the lease of run `run_seq` was cleared (`asset-sync unlock`) rather than taken:
    no run holds it, and no run took a number after this one."""
    return view.lock_owner is None and view.run_seq <= run_seq


def lease_lost_message(view: StateView, run_seq: int) -> str:
    """Why run `run_seq` no longer holds its lease, as the state `view` shows it."""
    if lease_cleared(view, run_seq):
        return FORCED_UNLOCK
    if view.lock_owner is None:
        return f"the run lease was cleared and a newer run (number {view.run_seq}) has run since"
    holder = view.describe_lock()
    return f"a newer run (number {view.lock_run_seq}) took the run lease over ({holder})"

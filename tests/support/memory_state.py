"""An in-memory run-state store (logic.ports.RunStateStore) with dal.run_state's rules.

The lease is taken when it is free, expired on the taker's clock, or already this run's; every
lease takes the next run number; a release, a renewal and a record are conditioned on holding
the lease; a skipped run takes a number of its own; one state serves one assets table. Writes
are counted as DynamoDB requests would be (a release is one transaction).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from asset_sync.logic.clock import iso_time
from asset_sync.logic.lease import (
    Lease,
    LeaseHeldError,
    LeaseLostError,
    StateView,
    lease_lost_message,
)
from asset_sync.logic.ports import StoreSetupError


class Counts:
    """Requests and write requests, when no MemoryStore shares its counts."""

    def __init__(self) -> None:
        self.requests = 0
        self.writes = 0


UNLOCKED = {
    "lock_owner": None,
    "lock_run_seq": None,
    "lock_expires_at": None,
    "lock_acquired_at": None,
}


class MemoryRunState:
    """The state item and the run history, in memory."""

    def __init__(self, view: StateView | None = None, counts: Counts | None = None) -> None:
        self.view = view or StateView()
        self.history: dict[int, dict[str, Any]] = {}
        self.counts = counts or Counts()  # a MemoryStore: one count for both, as on the wire

    def _sent(self, requests: int = 1, *, writes: int = 1) -> None:
        self.counts.requests += requests
        self.counts.writes += writes

    def read(self) -> StateView:
        self._sent(writes=0)
        return self.view

    def check_serves(self, view: StateView, assets_table: str) -> None:
        if view.assets_table not in (None, assets_table):
            raise StoreSetupError(
                f"state table records the runs of assets table {view.assets_table!r}, "
                f"not {assets_table!r}"
            )

    def acquire(
        self, run_id: str, assets_table: str, expires_at: int, now: float | None = None
    ) -> Lease:
        now = time.time() if now is None else now
        self._sent()
        before = self.view
        free = before.lock_owner in (None, run_id) or (before.lock_expires_at or 0) < int(now)
        if not free or before.assets_table not in (None, assets_table):
            self.check_serves(before, assets_table)
            raise LeaseHeldError.of(before, now)
        seq = before.run_seq + 1
        self.view = replace(
            before,
            run_seq=seq,
            lock_run_seq=seq,
            lock_owner=run_id,
            lock_expires_at=expires_at,
            lock_acquired_at=iso_time(now),
            assets_table=assets_table,
        )
        taken_from = before.lock_owner if before.lock_owner not in (None, run_id) else None
        return Lease(run_id, seq, expires_at, before, taken_from)

    def renew(self, lease: Lease, expires_at: int) -> None:
        self._sent()
        self._require(lease, "; this run stopped writing")
        self.view = replace(self.view, lock_expires_at=expires_at)

    def release(
        self, lease: Lease, record: Mapping[str, Any], *, succeeded: bool, full: bool
    ) -> None:
        self._sent()
        self._require(lease, " before this run recorded itself")
        started = str(record.get("last_sync_timestamp", ""))
        changes: dict[str, Any] = {
            **UNLOCKED,
            "last_run": dict(record),
            "last_run_seq": lease.run_seq,
            "last_run_outcome": str(record.get("outcome", "")),
            "last_run_started_at": started,
        }
        if succeeded:
            changes |= {"last_success": dict(record), "last_sync_timestamp": started}
            if full:
                changes |= {"last_full_at": started, "last_full_run_seq": lease.run_seq}
        self.view = replace(self.view, **changes)
        self.history[lease.run_seq] = dict(record)

    def record_without_lease(self, lease: Lease, record: Mapping[str, Any]) -> None:
        self._sent(2, writes=2)
        self.history[lease.run_seq] = dict(record)
        if self.view.last_run_seq is None or self.view.last_run_seq < lease.run_seq:
            self.view = replace(
                self.view,
                last_run=dict(record),
                last_run_outcome=str(record.get("outcome", "")),
                last_run_seq=lease.run_seq,
            )

    def record_skipped(self, run_id: str, assets_table: str, record: dict[str, Any]) -> int:
        self._sent(2, writes=2)
        self.check_serves(self.view, assets_table)
        seq = self.view.run_seq + 1
        self.view = replace(self.view, run_seq=seq)
        record["run_seq"] = seq
        self.history[seq] = {**record, "run_id": run_id}
        return seq

    def clear(self) -> None:
        """What `asset-sync unlock --force` does."""
        self.view = replace(self.view, **UNLOCKED)

    def _require(self, lease: Lease, why: str) -> None:
        if self.view.lock_owner != lease.run_id:
            message = lease_lost_message(self.view, lease.run_seq)
            raise LeaseLostError(message + why, self.view)

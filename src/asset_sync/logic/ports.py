"""What a run needs of its stores: the ports logic/ is written against (no I/O here).

The data layer (`dal.assets.AssetTable`, `dal.run_state.RunStateTable`) implements them over
DynamoDB, and tests/support's in-memory stores implement them in memory, so a whole `SyncRun`
runs in unit tests. A store raises only the errors below: the data layer turns botocore's into
them (`StoreError` for a request that failed, `StoreSetupError` for a table that is not as the
sync needs it), so nothing in logic/ knows which client sent the request.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from asset_sync.logic.item_writes import GroupWrite
from asset_sync.logic.lease import Lease, StateView
from asset_sync.logic.models import CurrentState, StoredValue

Items = dict[str, dict[str, StoredValue]]


class ConditionFailedError(Exception):
    """A conditional write lost a race: the item changed since it was read."""


class StoreError(RuntimeError):
    """A store's request failed (throttled, a 5xx, a dropped connection, refused): its outcome
    is unknown, a later try may succeed. The message names the cause (`ClientError: ...`)."""


class StoreSetupError(RuntimeError):
    """A store is not set up as the sync needs it (a table missing, another key, an index
    missing, an endpoint that is not the store); the message names the fix."""


class RequestCounts(Protocol):
    """The requests a store sent, as the report counts them (every attempt)."""

    @property
    def requests(self) -> int:
        """Requests, retries included."""

    @property
    def writes(self) -> int:
        """Write requests, retries included."""

    @property
    def retries(self) -> int:
        """Attempts beyond the first of each call."""


class AssetStore(Protocol):
    """The assets table: the planner's reads, whole items, and the conditional writes."""

    @property
    def stats(self) -> RequestCounts:
        """What this run sent to the store (shared with the run-state store)."""

    def read_active(
        self,
        *,
        whole: bool = False,
        keep_values: Callable[[str, Mapping[str, StoredValue]], bool] | None = None,
    ) -> dict[str, CurrentState]:
        """Every active item (whole: every value, kept where `keep_values` says)."""

    def states_of(self, symbols: Iterable[str], *, whole: bool = False) -> dict[str, CurrentState]:
        """The planning view of the named items that exist."""

    def get_item(self, symbol: str) -> dict[str, StoredValue] | None:
        """One whole item, strongly consistent."""

    def get_items(self, symbols: Iterable[str]) -> Items:
        """Whole items by symbol, strongly consistent."""

    def holders_of(self, asset_ids: Collection[str]) -> dict[str, list[str]]:
        """The symbols of the items that store each asset id."""

    def put_new(self, item: Mapping[str, StoredValue]) -> None:
        """Create an item; ConditionFailedError if one with its symbol exists."""

    def update_owned(
        self,
        symbol: str,
        set_values: Mapping[str, StoredValue],
        remove: list[str] | tuple[str, ...],
        expected: Mapping[str, StoredValue | None],
        run_seq: int,
    ) -> None:
        """SET/REMOVE if the item holds exactly `expected`; else ConditionFailedError."""

    def transact(self, writes: Sequence[GroupWrite], run_seq: int) -> None:
        """All of one identity change's writes, or none (ConditionFailedError)."""

    def guard_writes(self, check: Callable[[], None]) -> AbstractContextManager[None]:
        """While the block runs, `check` runs before every attempt of a single item write
        (the store's own retries included) and may raise to stop it."""


class RunStateStore(Protocol):
    """The run-state table: the lease with the run numbers, and the run records."""

    def acquire(
        self, run_id: str, assets_table: str, expires_at: int, now: float | None = None
    ) -> Lease:
        """Take the lease and the next run number (LeaseHeldError when another run holds it)."""

    def renew(self, lease: Lease, expires_at: int) -> None:
        """Extend the lease (LeaseLostError when it is no longer this run's)."""

    def release(
        self, lease: Lease, record: Mapping[str, Any], *, succeeded: bool, full: bool
    ) -> None:
        """Give the lease back with the run's record (LeaseLostError, StateWriteError)."""

    def record_without_lease(self, lease: Lease, record: Mapping[str, Any]) -> None:
        """Record a run that lost its lease."""

    def record_skipped(self, run_id: str, assets_table: str, record: dict[str, Any]) -> int:
        """Record a run that found the lease held; its run number."""

    def read(self) -> StateView:
        """The state, strongly consistent."""

    def check_serves(self, view: StateView, assets_table: str) -> None:
        """StoreSetupError when the state records another assets table's runs."""

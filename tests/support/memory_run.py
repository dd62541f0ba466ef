"""A whole `SyncRun` on the in-memory ports: a catalog, the assets store and the run state.

No moto, no HTTP: each run reads and writes `MemoryStore` and `MemoryRunState` exactly through
the ports the data layer implements, so a test checks the run's outcome by the table's contents,
the recorded run and the report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tests.support.memory_catalog import MemoryCatalog
from tests.support.memory_state import MemoryRunState
from tests.support.memory_store import MemoryStore

from asset_sync.config import SyncSettings
from asset_sync.logic.lifecycle import StopSignal
from asset_sync.logic.report import RunReport
from asset_sync.logic.sync import Progress, SyncError, SyncRun

TABLE = "assets_under_test"


class InstantStop(StopSignal):
    """A stop signal whose waits return at once (recorded): backoff and pacing cost nothing."""

    def __init__(self, deadline: float | None = None) -> None:
        super().__init__(deadline)
        self.waits: list[float] = []

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        return self.requested


@dataclass
class MemoryWorld:
    """The catalog, the table and the run state that consecutive runs share."""

    catalog: MemoryCatalog = field(default_factory=MemoryCatalog)
    store: MemoryStore = field(default_factory=MemoryStore)
    state: MemoryRunState = field(init=False)
    settings: SyncSettings = field(
        default_factory=lambda: SyncSettings(
            assets_table=TABLE,
            full_reconcile_days=0,
            delist_lookups_per_second=1e6,
            max_writes_per_second=1e6,
        )
    )

    def __post_init__(self) -> None:
        self.state = MemoryRunState(counts=self.store)  # type: ignore[arg-type]

    def list(self, records: Iterable[Mapping[str, Any]]) -> MemoryWorld:
        """Alpaca lists these records from now on."""
        self.catalog.records = [dict(record) for record in records]
        return self

    def sync_run(
        self, stop: StopSignal | None = None, progress: Progress | None = None, **settings: Any
    ) -> SyncRun:
        """One run of this world (settings overridden as given), not started."""
        run_settings = replace(self.settings, **settings)
        stop = stop or InstantStop()
        return SyncRun(run_settings, self.catalog, self.store, self.state, progress, stop)

    def sync(self, **settings: Any) -> RunReport:
        """Run once; the report, also of a run that raised (SyncError)."""
        try:
            return self.sync_run(**settings).run()
        except SyncError as ended:
            return ended.report

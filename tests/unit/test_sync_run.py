"""`SyncRun` end to end on the in-memory ports (logic.ports): no moto, no HTTP.

The same run the CLI and the Lambda make, with tests/support's stores behind the ports: the
outcomes are checked by the table's items, the recorded runs and the report.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from tests.support import minimal_record as rec
from tests.support.memory_run import TABLE, InstantStop, MemoryWorld
from tests.support.memory_store import MemoryStore

from asset_sync.contract import Outcome
from asset_sync.logic.lifecycle import TAKEOVER_GRACE_SECONDS
from asset_sync.logic.models import ACTIVE, INACTIVE, CurrentState, StoredValue
from asset_sync.logic.ports import StoreSetupError
from asset_sync.logic.sync import LeaseHeldError, Progress, RunSkippedError, ScopeError, SyncError


def test_a_first_run_creates_every_asset_and_records_itself() -> None:
    world = MemoryWorld().list([rec("AAA"), rec("BBB", name="B Corp")])
    report = world.sync()

    assert report.outcome == Outcome.SUCCEEDED and report.run_seq == 1
    assert (report.fetched, report.valid, report.created) == (2, 2, 2)
    assert world.store.items["BBB"]["name"] == "B Corp"
    assert world.store.items["AAA"]["sync_run_seq"] == Decimal(1)
    view = world.state.view
    assert view.lock_owner is None and view.last_run_outcome == Outcome.SUCCEEDED
    assert view.last_success is not None and view.last_success["created"] == 2
    assert view.assets_table == TABLE and view.last_run_seq == 1


def test_an_unchanged_run_makes_exactly_two_write_requests() -> None:
    world = MemoryWorld().list([rec("AAA"), rec("BBB")])
    world.sync()
    writes = world.store.writes

    report = world.sync()

    assert report.outcome == Outcome.SUCCEEDED and report.run_seq == 2
    assert report.unchanged == 2 and report.created == report.updated == 0
    assert world.store.writes - writes == 2 == report.dynamodb_write_requests - writes


def test_a_run_finding_the_lease_held_is_skipped_with_a_number_of_its_own() -> None:
    world = MemoryWorld().list([rec("AAA")])
    world.sync()
    holder = world.sync_run()
    holder.keeper.acquire("another-run", TABLE)

    with pytest.raises(LeaseHeldError) as held:
        world.sync_run().run()

    assert isinstance(held.value, RunSkippedError)
    report = held.value.report
    assert report.outcome == Outcome.SKIPPED and report.run_seq == 3
    assert "another sync holds the run lease: run another-run (number 2)" in report.message
    assert world.state.history[3]["outcome"] == Outcome.SKIPPED
    assert "AAA" in world.store.items and world.store.items["AAA"]["sync_run_seq"] == 1


def test_a_delisting_is_confirmed_and_written_inactive() -> None:
    world = MemoryWorld().list([rec(s) for s in "ABCDEFGHIJKL"])
    world.sync()
    world.list([rec(s) for s in "ABCDEFGHIJK"])

    report = world.sync()

    assert report.outcome == Outcome.SUCCEEDED and report.delisted == 1
    assert world.catalog.looked_up == ["id-L"]
    assert world.store.items["L"]["status"] == INACTIVE
    assert world.store.items["K"]["status"] == ACTIVE


def test_a_state_table_of_another_assets_table_is_refused_before_any_write() -> None:
    world = MemoryWorld().list([rec("AAA")])
    world.sync(assets_table="other_assets")

    with pytest.raises(SyncError) as failed:
        world.sync_run().run()

    assert isinstance(failed.value.__cause__, StoreSetupError)
    assert failed.value.report.outcome == Outcome.FAILED
    assert "records the runs of assets table 'other_assets'" in failed.value.report.message
    assert world.store.items["AAA"]["sync_run_seq"] == 1


def test_a_dry_run_reports_what_it_would_write_and_writes_nothing() -> None:
    world = MemoryWorld().list([rec("AAA"), rec("BBB")])
    world.sync()
    world.list([rec("AAA", name="A renamed"), rec("BBB"), rec("CCC")])
    writes, view = world.store.writes, world.state.view

    report = world.sync(dry_run=True)

    assert report.outcome == Outcome.DRY_RUN and report.dry_run and report.run_seq is None
    assert (report.created, report.updated, report.unchanged) == (1, 1, 1)
    assert report.changes["CCC"].action == "create"
    assert report.changes["AAA"].fields["name"].new == "A renamed"
    assert world.store.writes == writes and world.state.view == view
    assert world.store.items["AAA"]["name"] == "AAA Corp" and "CCC" not in world.store.items


def test_a_full_reconciliation_is_due_by_its_age_and_recorded() -> None:
    world = MemoryWorld().list([rec("AAA")])
    first = world.sync(full_reconcile_days=7)
    assert first.full and world.state.view.last_full_run_seq == 1
    assert world.state.view.last_full_at == first.last_sync_timestamp

    assert not world.sync(full_reconcile_days=7).full  # a week has not passed
    assert world.sync(full_reconcile_days=7, full=True).full  # asked for
    assert world.state.view.last_full_run_seq == 3


def test_a_full_reconciliation_repairs_a_value_edited_under_a_right_hash() -> None:
    world = MemoryWorld().list([rec("AAA")])
    world.sync()
    world.store.items["AAA"]["name"] = "edited by hand"

    assert world.sync().unchanged == 1  # a plain run trusts the hash
    report = world.sync(full=True)

    assert report.repaired == 1 and report.changes["AAA"].action == "repair"
    assert world.store.items["AAA"]["name"] == "AAA Corp"


def test_a_clock_behind_the_last_run_is_warned_about_and_the_run_proceeds() -> None:
    world = MemoryWorld().list([rec("AAA")])
    world.sync()
    last = dict(world.state.view.last_run or {})
    world.state.view = replace(
        world.state.view, last_run={**last, "last_sync_timestamp": "2999-01-01T00:00:00.000000Z"}
    )

    report = world.sync()

    assert report.outcome == Outcome.SUCCEEDED and len(report.warnings) == 1
    assert report.warnings[0].startswith("this machine's clock is ")
    assert " days " in report.warnings[0]
    assert report.warnings[0].endswith(
        " h behind the last run's (run number 1 started 2999-01-01T00:00:00Z); "
        "ordering uses run numbers, not clocks, so the run proceeds"
    )


def test_a_lease_taken_over_waits_for_the_displaced_run_and_says_so() -> None:
    world = MemoryWorld().list([rec("AAA")])
    world.sync()
    world.state.view = replace(world.state.view, lock_owner="dead-run", lock_expires_at=1)
    stop = InstantStop()

    report = world.sync_run(stop=stop).run()

    assert report.outcome == Outcome.SUCCEEDED and report.run_seq == 2
    assert TAKEOVER_GRACE_SECONDS in stop.waits
    assert report.warnings == [
        "took over the run lease of run dead-run (number 1), expired by this machine's clock; "
        f"waited {TAKEOVER_GRACE_SECONDS:.0f} s for it to stop writing before reading the table"
    ]


def test_progress_names_each_step_and_counts_the_writes() -> None:
    world = MemoryWorld().list([rec("AAA"), rec("BBB")])
    stages: list[str] = []
    totals: list[int] = []
    done: list[int] = []
    progress = Progress(stage=stages.append, start_writes=totals.append, advance=done.append)

    world.sync_run(progress=progress).run()

    assert stages == [
        "taking the run lease",
        "fetching the Alpaca catalog (us_equity)",
        "reading the table (2 valid assets fetched; the status index)",
        "writing 2 changes",
    ]
    assert totals == [2] and sorted(done) == [1, 2]


def test_a_rename_is_counted_once_and_reported() -> None:
    world = MemoryWorld().list([rec("OLD", id="asset-1"), rec("KEEP")])
    world.sync()
    world.list([rec("NEW", id="asset-1"), rec("KEEP")])

    report = world.sync()

    assert report.outcome == Outcome.SUCCEEDED and report.renamed == 1
    assert report.renames == [{"from": "OLD", "to": "NEW", "asset_id": "asset-1"}]
    assert world.store.items["OLD"]["renamed_to"] == "NEW"
    assert world.store.items["NEW"]["previous_symbol"] == "OLD"


def test_the_report_counts_the_requests_each_side_received() -> None:
    world = MemoryWorld().list([rec("AAA")])
    run = world.sync_run()
    assert run.writes_in_flight() == 0

    report = run.run()

    assert report.alpaca_attempts == world.catalog.attempts == 1
    assert report.dynamodb_requests == world.store.requests
    assert report.dynamodb_write_requests == world.store.writes == 3  # lease, item, record
    assert report.dynamodb_retries == 0 and run.writes_in_flight() == 0
    assert report.duration_seconds > 0
    assert (report.region, report.endpoint, report.scope) == ("us-east-1", "AWS", ["us_equity"])


def test_an_asset_class_neither_side_knows_is_a_scope_error_recorded_as_failed() -> None:
    world = MemoryWorld().list([rec("AAA")])

    with pytest.raises(ScopeError) as failed:
        world.sync_run(asset_classes=("us_equity", "bogus_class")).run()

    report = failed.value.report
    assert report.outcome == Outcome.FAILED
    assert report.message == (
        "Alpaca returned no assets of class 'bogus_class'; known classes: crypto, us_equity, "
        "us_option (class names are lower case; the table holds none either)"
    )
    assert world.state.view.last_run_outcome == Outcome.FAILED
    assert world.state.view.lock_owner is None and world.store.items == {}


class LaggingIndex(MemoryStore):
    """A store whose status index has not caught up with some active items yet."""

    hidden: frozenset[str] = frozenset()

    def read_active(self, **kwargs: Any) -> dict[str, CurrentState]:
        states = super().read_active(**kwargs)
        return {symbol: state for symbol, state in states.items() if symbol not in self.hidden}


def test_a_full_reconciliation_repairs_an_item_the_index_has_not_shown_yet() -> None:
    world = MemoryWorld(store=LaggingIndex()).list([rec("AAA"), rec("BBB")])
    world.sync()
    world.store.items["AAA"]["name"] = "edited by hand"
    world.store.hidden = frozenset({"AAA"})  # type: ignore[attr-defined]

    report = world.sync(full=True)  # AAA is read by key, every value of it

    assert report.repaired == 1 and report.changes["AAA"].action == "repair"
    assert world.store.items["AAA"]["name"] == "AAA Corp"


class OverlapMeter(MemoryStore):
    """A store that measures how many writes it serves at once (each takes a moment)."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.in_flight = self.peak = 0

    def put_new(self, item: Mapping[str, StoredValue]) -> None:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        time.sleep(0.02)
        with self.lock:
            self.in_flight -= 1
        super().put_new(item)


def test_writes_run_no_more_at_once_than_the_setting_allows() -> None:
    world = MemoryWorld(store=OverlapMeter()).list([rec(s) for s in "ABCDEF"])

    report = world.sync(write_concurrency=1)

    assert report.outcome == Outcome.SUCCEEDED and report.created == 6
    assert world.store.peak == 1  # type: ignore[attr-defined]

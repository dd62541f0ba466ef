"""`SyncRun` end to end on the in-memory ports (logic.ports): no moto, no HTTP.

The same run the CLI and the Lambda make, with tests/support's stores behind the ports: the
outcomes are checked by the table's items, the recorded runs and the report.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.support import minimal_record as rec
from tests.support.memory_run import TABLE, MemoryWorld

from asset_sync.contract import Outcome
from asset_sync.logic.models import ACTIVE, INACTIVE
from asset_sync.logic.ports import StoreSetupError
from asset_sync.logic.sync import LeaseHeldError, RunSkippedError, SyncError


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

"""Every way a `SyncRun` ends short of success, on the in-memory ports: the error it raises, its
report, what the table holds and what the run-state records (logic/outcome.py, recording.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from tests.support import minimal_record as rec
from tests.support.memory_run import InstantStop, MemoryWorld
from tests.support.memory_store import MemoryStore

from asset_sync.contract import Outcome
from asset_sync.logic.catalog import CatalogError
from asset_sync.logic.lease import FORCED_UNLOCK, LeaseLostError, StateWriteError
from asset_sync.logic.lifecycle import RunAborted
from asset_sync.logic.models import ACTIVE
from asset_sync.logic.ports import StoreError
from asset_sync.logic.sync import (
    GuardRefusedError,
    Progress,
    RunInterruptedError,
    SyncError,
)

TWELVE = [rec(s) for s in "ABCDEFGHIJKL"]


def synced(records: list[dict[str, Any]] = TWELVE) -> MemoryWorld:
    world = MemoryWorld().list(records)
    assert world.sync().outcome == Outcome.SUCCEEDED
    return world


def test_the_guard_refuses_too_many_delistings_and_writes_nothing() -> None:
    world = synced()
    world.list(TWELVE[:9])
    writes = world.store.writes

    with pytest.raises(GuardRefusedError) as refused:
        world.sync_run().run()

    report = refused.value.report
    assert report.outcome == Outcome.REFUSED
    assert report.message == (
        "guard refused the plan, nothing was written: the plan would delist 3 of 12 active "
        "assets (25.0%), more than the allowed 10.0% (use --force to override, or raise "
        "--max-delist-fraction)"
    )
    assert (report.delist_candidates, report.active_in_scope) == (3, 12)
    assert report.delist_candidate_symbols == ["J", "K", "L"]
    assert world.store.writes - writes == 2  # the lease and the record
    assert world.state.view.last_run_outcome == Outcome.REFUSED
    assert all(item["status"] == ACTIVE for item in world.store.items.values())
    assert world.sync(force=True).delisted == 3


def test_writes_that_keep_failing_make_the_run_partial() -> None:
    world = synced([rec("AAA"), rec("BBB")])

    class Refusing(MemoryStore):
        def update_owned(self, symbol: str, *args: Any, **kwargs: Any) -> None:
            if symbol == "AAA":
                raise StoreError("ClientError: AccessDeniedException")
            super().update_owned(symbol, *args, **kwargs)

    store = Refusing()
    store.items = world.store.items
    world.store = store
    world.list([rec("AAA", name="a"), rec("BBB", name="b")])

    with pytest.raises(SyncError) as partial:
        world.sync_run().run()

    report = partial.value.report
    assert type(partial.value) is SyncError and report.outcome == Outcome.PARTIAL
    assert report.message == (
        "1 of 2 writes failed; those items keep their previous values and the next run retries "
        "them: AAA: gave up after 8 attempts: ClientError: AccessDeniedException"
    )
    assert (report.updated, report.failed) == (1, 1)
    assert world.store.items["BBB"]["name"] == "b" and world.store.items["AAA"]["name"] != "a"
    assert world.state.view.last_run_outcome == Outcome.PARTIAL
    assert world.state.view.last_success is not None
    assert world.state.view.last_success["run_seq"] == 1


def test_a_candidate_alpaca_still_lists_as_active_is_kept_and_the_run_is_partial() -> None:
    world = synced()
    world.list(TWELVE[:11])
    world.catalog.answers["id-L"] = {"id": "id-L", "symbol": "L", "status": ACTIVE}

    with pytest.raises(SyncError) as partial:
        world.sync_run().run()

    report = partial.value.report
    assert report.outcome == Outcome.PARTIAL and report.kept_active == ["L"]
    assert report.message == (
        "Alpaca still reports 1 assets active that its list omitted (L); they were not "
        "delisted; delisted only the 0 confirmed one by one"
    )
    assert world.store.items["L"]["status"] == ACTIVE and report.delisted == 0

    dry = world.sync(dry_run=True)
    assert dry.outcome == Outcome.DRY_RUN
    assert dry.message == f"a real run would end partial: {report.message}"


def test_a_stop_before_writing_records_an_interrupted_run_that_wrote_nothing() -> None:
    world = MemoryWorld().list([rec("AAA")])
    stop = InstantStop()
    stop.request("SIGINT")

    with pytest.raises(RunInterruptedError) as stopped:
        world.sync_run(stop=stop).run()

    assert stopped.value.reason == "SIGINT"
    report = stopped.value.report
    assert report.outcome == Outcome.INTERRUPTED
    assert report.message == "stopped (SIGINT) before writing anything"
    assert world.store.items == {} and world.state.view.last_run_outcome == Outcome.INTERRUPTED
    assert world.state.view.lock_owner is None


def test_a_signal_while_fetching_abandons_the_run_as_interrupted() -> None:
    world = MemoryWorld().list([rec("AAA")])
    stop = InstantStop()

    def aborted(_classes: object = ()) -> list[bytes]:
        assert stop.abortable  # only while reading may a signal handler raise
        stop.request("SIGTERM")
        raise RunAborted("SIGTERM")

    world.catalog.list_assets_bodies = aborted  # type: ignore[method-assign]
    with pytest.raises(RunInterruptedError) as stopped:
        world.sync_run(stop=stop).run()

    assert stopped.value.report.message == "stopped (SIGTERM) before writing anything"
    assert not stop.abortable and world.store.items == {}


def test_a_stop_while_writing_records_what_was_written_and_what_was_not() -> None:
    world = MemoryWorld().list([rec(s) for s in "ABCD"])
    stop = InstantStop()
    progress = Progress(advance=lambda done: stop.request("SIGTERM") if done == 1 else None)

    with pytest.raises(RunInterruptedError) as stopped:
        world.sync_run(stop=stop, progress=progress, write_concurrency=1).run()

    report = stopped.value.report
    assert report.message == (
        "stopped (SIGTERM) after writing 1 of 4 planned changes; 3 not written, the next run "
        "completes them"
    )
    assert (report.created, report.not_written) == (1, 3) and len(world.store.items) == 1
    assert world.state.view.last_run_outcome == Outcome.INTERRUPTED
    assert world.sync().created == 3  # the next run completes them


def test_a_catalog_that_cannot_be_fetched_fails_the_run_before_any_write() -> None:
    world = synced([rec("AAA")])
    world.catalog.list_error = CatalogError("HTTP 500 after 5 retries")

    with pytest.raises(SyncError) as failed:
        world.sync_run().run()

    assert failed.value.__cause__ is world.catalog.list_error
    report = failed.value.report
    assert report.outcome == Outcome.FAILED and report.run_seq == 2
    assert report.message == (
        "fetching from Alpaca failed, nothing was written: HTTP 500 after 5 retries"
    )
    assert world.state.view.last_run_outcome == Outcome.FAILED
    assert world.state.view.lock_owner is None and world.state.history[2]["outcome"] == "failed"


def test_a_lease_that_cannot_be_taken_fails_the_run_with_nothing_recorded() -> None:
    world = MemoryWorld().list([rec("AAA")])

    def unreachable(*_args: object, **_kwargs: object) -> None:
        raise StoreError("EndpointConnectionError: Could not connect")

    world.state.acquire = unreachable  # type: ignore[assignment]
    with pytest.raises(SyncError) as failed:
        world.sync_run().run()

    report = failed.value.report
    assert report.outcome == Outcome.FAILED and report.run_seq is None
    assert report.message == "EndpointConnectionError: Could not connect"
    assert world.state.history == {} and world.store.items == {}


def test_a_skipped_run_that_cannot_be_recorded_says_so() -> None:
    world = synced([rec("AAA")])
    world.sync_run().keeper.acquire("holder", "assets_under_test")

    def broken(*_args: object) -> int:
        raise StoreError("ClientError: throttled")

    world.state.record_skipped = broken  # type: ignore[assignment]
    report = world.sync()

    assert report.outcome == Outcome.SKIPPED and report.run_seq is None
    assert report.warnings == ["the skipped run could not be recorded: ClientError: throttled"]


def lose_the_lease_at_release(world: MemoryWorld, error: Exception) -> None:
    """The release fails: another run took the lease, or the store kept failing."""

    def lost(*_args: Any, **_kwargs: Any) -> None:
        raise error

    world.state.release = lost  # type: ignore[method-assign]


def test_a_run_that_lost_its_lease_before_recording_is_failed_and_recorded_without_it() -> None:
    world = MemoryWorld().list([rec("AAA")])
    lose_the_lease_at_release(world, LeaseLostError("a newer run (number 9) took the lease"))

    with pytest.raises(SyncError) as failed:
        world.sync_run().run()

    report = failed.value.report
    assert report.outcome == Outcome.FAILED and report.created == 1
    assert report.message == "a newer run (number 9) took the lease"
    assert world.state.history[1]["outcome"] == Outcome.FAILED
    assert world.state.view.last_run_outcome == Outcome.FAILED


def test_a_forced_unlock_is_said_once() -> None:
    world = MemoryWorld().list([rec("AAA")])
    lose_the_lease_at_release(world, LeaseLostError(FORCED_UNLOCK))
    stop = InstantStop()
    stop.request(FORCED_UNLOCK)

    with pytest.raises(SyncError) as failed:
        world.sync_run(stop=stop).run()

    assert type(failed.value) is SyncError  # the record failed: not a stop's exit code
    assert failed.value.report.message == f"stopped ({FORCED_UNLOCK}) before writing anything"


def test_a_record_the_store_keeps_refusing_fails_the_run_with_both_messages() -> None:
    world = MemoryWorld().list([rec("AAA")])
    lose_the_lease_at_release(world, StateWriteError("could not store the run record"))

    with pytest.raises(SyncError) as failed:
        world.sync_run().run()

    report = failed.value.report
    assert report.outcome == Outcome.SUCCEEDED  # the items were written; the record was not
    assert report.message == "could not store the run record"


def test_an_unexpected_error_fails_the_run_and_records_it() -> None:
    world = MemoryWorld().list([rec("AAA")])

    def broken(**_kwargs: object) -> None:
        raise KeyError("boom")

    world.store.read_active = broken  # type: ignore[method-assign,assignment]
    with pytest.raises(SyncError) as failed:
        world.sync_run().run()

    assert isinstance(failed.value.__cause__, KeyError)
    assert failed.value.report.message == "KeyError: 'boom'"
    assert world.state.view.last_run_outcome == Outcome.FAILED

    lose_the_lease_at_release(world, RuntimeError("the state table went away"))
    with pytest.raises(SyncError) as again:
        world.sync_run().run()
    assert again.value.__cause__ is not None
    assert again.value.__cause__.__notes__ == [
        "also failed to record the run: the state table went away"
    ]


def test_an_interrupt_outside_the_runs_control_is_recorded_and_raised_as_it_is() -> None:
    world = MemoryWorld().list([rec("AAA")])

    def interrupted(**_kwargs: object) -> None:
        raise KeyboardInterrupt

    world.store.read_active = interrupted  # type: ignore[method-assign,assignment]
    with pytest.raises(KeyboardInterrupt):
        world.sync_run().run()
    assert world.state.view.last_run_outcome == Outcome.FAILED


def test_a_dry_run_that_fails_is_failed_and_records_nothing() -> None:
    world = synced([rec("AAA")])

    def broken(**_kwargs: object) -> None:
        raise KeyError("boom")

    world.store.read_active = broken  # type: ignore[method-assign,assignment]
    with pytest.raises(SyncError) as failed:
        world.sync_run(dry_run=True).run()

    assert failed.value.report.outcome == Outcome.FAILED
    assert failed.value.report.message == "KeyError: 'boom'"
    assert world.state.view.last_run_seq == 1


def test_items_a_newer_run_wrote_stop_a_run_whose_lease_was_taken_over() -> None:
    world = synced([rec("AAA")])
    world.store.items["AAA"]["sync_run_seq"] = Decimal(99)
    world.list([rec("AAA", name="new")])
    run = world.sync_run(full=True)  # reads sync_run_seq: the plan finds the item superseded
    state = world.state
    real_read = state.read

    def taken() -> Any:
        view = real_read()
        return view if view.lock_owner is None else type(view)(run_seq=99, lock_owner="newer")

    state.read = taken  # type: ignore[method-assign]
    with pytest.raises(SyncError) as failed:
        run.run()

    report = failed.value.report
    assert report.outcome == Outcome.FAILED
    assert report.message.startswith("LeaseLostError: a newer run wrote 1 of the items this run")
    assert world.store.items["AAA"]["name"] == "AAA Corp"

"""The steps of a `SyncRun` one by one, on the in-memory ports: what each reads and hands on,
where a stop is noticed, how the confirmation samples, and what the report says of it."""

from __future__ import annotations

import random
import re
from decimal import Decimal
from typing import Any

import pytest
from tests.support import minimal_record as rec
from tests.support.memory_run import InstantStop, MemoryWorld
from tests.support.memory_store import MemoryStore

from asset_sync.config import SyncSettings
from asset_sync.contract import Outcome
from asset_sync.logic.catalog import CatalogError
from asset_sync.logic.lease import StateView
from asset_sync.logic.lifecycle import TAKEOVER_GRACE_SECONDS
from asset_sync.logic.models import ACTIVE, INACTIVE
from asset_sync.logic.ports import StoreError
from asset_sync.logic.sync import Progress, RunInterruptedError, SyncError, SyncRun

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def synced(*records: dict[str, Any]) -> MemoryWorld:
    world = MemoryWorld().list(records)
    assert world.sync().outcome == Outcome.SUCCEEDED
    return world


def test_a_run_without_its_own_stop_signal_stops_at_its_settings_deadline() -> None:
    world = MemoryWorld()
    timed = SyncRun(SyncSettings(deadline_seconds=120.0), world.catalog, world.store, world.state)
    left = timed.stop.seconds_to_deadline()
    assert left is not None and 110 < left <= 120
    untimed = SyncRun(SyncSettings(), world.catalog, world.store, world.state)
    assert untimed.stop.seconds_to_deadline() is None


def test_every_run_has_an_id_of_its_own() -> None:
    world = synced(rec("AAA"))
    first, second = world.sync(), world.sync()
    assert UUID.match(first.run_id) and UUID.match(second.run_id)
    assert first.run_id != second.run_id


def test_a_takeover_is_shown_as_a_stage() -> None:
    world = synced(rec("AAA"))
    world.state.view = StateView(
        run_seq=1, assets_table=world.settings.assets_table, lock_owner="gone", lock_expires_at=1
    )
    stages: list[str] = []
    world.sync_run(progress=Progress(stage=stages.append)).run()
    assert stages[1] == f"took over a lease; waiting {TAKEOVER_GRACE_SECONDS:.0f} s"


def test_each_step_is_named_as_it_starts() -> None:
    world = synced(*(rec(s) for s in "ABCDEFGHIJK"), rec("Z", **{"class": "crypto"}))
    world.list([*(rec(s) for s in "ABCDEFGHIJ"), rec("Z", **{"class": "crypto"})])
    stages: list[str] = []
    world.sync_run(
        progress=Progress(stage=stages.append), full=True, asset_classes=("us_equity", "crypto")
    ).run()
    assert stages == [
        "taking the run lease",
        "fetching the Alpaca catalog (us_equity, crypto)",
        "reading the table (11 valid assets fetched; every stored value)",
        "confirming 1 delistings with Alpaca",
        "writing 2 changes",  # K delisted, Z (crypto, fetched for the first time) created
    ]


def test_the_requests_of_an_update_run_are_counted_exactly() -> None:
    world = synced(rec("AAA"), rec("BBB"))
    world.list([rec("AAA", name="new"), rec("BBB")])
    before = world.store.requests
    report = world.sync()
    # lease, status index, identity read of AAA, the lease check's read of the holder, AAA's
    # write, record: the applier reuses the items the identity step read, no empty read is sent
    assert report.dynamodb_requests - before == 6
    assert world.sync_run().writes_in_flight() == 0


def test_a_full_run_keeps_the_values_of_drifted_items_only() -> None:
    world = synced(rec("AAA"), rec("BBB"))
    world.store.items["BBB"]["name"] = "edited"
    kept: dict[str, bool] = {}
    read_active = world.store.read_active

    def spying(**kwargs: Any) -> Any:
        states = read_active(**kwargs)
        kept.update({s: state.values is not None for s, state in states.items()})
        return states

    world.store.read_active = spying  # type: ignore[method-assign]
    report = world.sync(full=True)
    assert kept == {"AAA": False, "BBB": True}
    assert report.repaired == 1


def test_an_inactive_asset_listed_again_is_read_and_reactivated() -> None:
    world = synced(*(rec(s) for s in "ABCDEFGHIJK"))
    world.list([rec(s) for s in "ABCDEFGHIJ"])
    assert world.sync().delisted == 1
    world.store.items["K"]["name"] = "edited while inactive"
    world.list([rec(s) for s in "ABCDEFGHIJK"])

    report = world.sync(full=True)

    assert report.reactivated == 1 and world.store.items["K"]["status"] == ACTIVE
    assert world.store.items["K"]["name"] == "K Corp"
    assert report.changes["K"].fields["name"].old == "edited while inactive"


def test_items_of_classes_outside_the_scope_are_never_delisted() -> None:
    world = MemoryWorld().list([rec("AAA"), rec("BTC/USD", **{"class": "crypto"})])
    assert world.sync(asset_classes=("us_equity", "crypto")).created == 2
    report = world.sync()  # scope us_equity: the crypto asset is not fetched
    assert report.delist_candidates == 0
    assert world.store.items["BTC/USD"]["status"] == ACTIVE


def test_a_reused_ticker_is_reported_as_a_reassignment() -> None:
    world = synced(*(rec(s) for s in "ABCDEFGHIJ"), rec("Z", id="z1"))
    world.list([*(rec(s) for s in "ABCDEFGHIJ"), rec("Z", id="z2")])
    world.catalog.answers["z1"] = {"id": "z1", "symbol": "Z", "status": INACTIVE}
    report = world.sync()
    assert report.reassignments == [{"symbol": "Z", "from": "z1", "to": "z2"}]


def test_an_asset_alpaca_lists_under_another_listed_ticker_has_moved_and_is_confirmed() -> None:
    world = synced(*(rec(s) for s in "ABCDEFGHIJK"))
    world.list([rec(s) for s in "ABCDEFGHIJ"])
    world.catalog.answers["id-K"] = {"id": "id-K", "symbol": "A", "status": ACTIVE}
    report = world.sync()
    assert report.delisted == 1 and report.kept_active == []


def test_the_candidates_looked_up_are_a_sample_seeded_by_the_run() -> None:
    names = [f"S{i:02d}" for i in range(40)]
    world = synced(*(rec(s) for s in names))
    world.list([rec(s) for s in names[:36]])
    run = world.sync_run(delist_confirm_sample=2, max_delist_fraction=0.5)

    report = run.run()

    candidates = names[36:]
    sample = sorted(random.Random(report.run_id).sample(candidates, 2))
    assert world.catalog.looked_up == [f"id-{s}" for s in sample]
    assert report.delisted == 4 and report.delist_lookups == 2


def test_a_lookup_that_fails_leaves_its_candidate_unconfirmed() -> None:
    world = synced(*(rec(s) for s in "ABCDEFGHIJK"))
    world.list([rec(s) for s in "ABCDEFGHIJ"])
    world.catalog.answers["id-K"] = CatalogError("HTTP 500 after 5 retries")
    with pytest.raises(SyncError) as partial:
        world.sync_run().run()
    assert partial.value.report.unconfirmed == ["K"]
    assert world.store.items["K"]["status"] == ACTIVE


class Stopping(MemoryStore):
    """A store that asks the run to stop when `when` is read (the signal comes meanwhile)."""

    def __init__(self, base: MemoryStore, stop: InstantStop, when: str) -> None:
        super().__init__()
        self.items = base.items
        self.stop, self.when = stop, when

    def read_active(self, **kwargs: Any) -> Any:
        if self.when == "read":
            self.stop.request("SIGTERM")
        return super().read_active(**kwargs)


@pytest.mark.parametrize("when", ["fetch", "read", "confirm"])
def test_a_stop_noticed_at_any_step_before_writing_interrupts_with_nothing_written(
    when: str,
) -> None:
    world = synced(*(rec(s) for s in "ABCDEFGHIJK"))
    world.list([rec(s, name="new") for s in "ABCDEFGHIJ"])
    stop = InstantStop()
    world.store = Stopping(world.store, stop, when)
    if when == "fetch":
        list_bodies = world.catalog.list_assets_bodies

        def fetching(classes: Any = ()) -> list[bytes]:
            stop.request("SIGTERM")
            return list_bodies(classes)

        world.catalog.list_assets_bodies = fetching  # type: ignore[method-assign]
    if when == "confirm":
        world.catalog.answers["id-K"] = CatalogError("stopped meanwhile")
        get_asset = world.catalog.get_asset

        def looking_up(key: str) -> dict[str, Any]:
            stop.request("SIGTERM")
            return get_asset(key)

        world.catalog.get_asset = looking_up  # type: ignore[method-assign]

    with pytest.raises(RunInterruptedError) as stopped:
        world.sync_run(stop=stop).run()

    assert str(stopped.value) == "stopped (SIGTERM) before writing anything"
    assert all(item["name"] != "new" for item in world.store.items.values())
    assert stop.abortable is False


def test_writes_are_paced_by_the_settings_and_wait_on_the_stop_signal() -> None:
    world = MemoryWorld().list([rec(s) for s in "ABC"])
    stop = InstantStop()
    world.sync_run(stop=stop, write_concurrency=1, max_writes_per_second=1.0).run()
    assert len([s for s in stop.waits if s > 0.5]) == 2  # the 2nd and 3rd wait a second each

    fast = InstantStop()
    world.list([rec(s, name="n") for s in "ABC"])
    world.sync_run(stop=fast).run()
    assert [s for s in fast.waits if s > 0] == []


class Refusing(MemoryStore):
    """Every write of the given symbols fails as a refused request does."""

    def __init__(self, base: MemoryStore, refused: set[str]) -> None:
        super().__init__()
        self.items = base.items
        self.refused = refused

    def update_owned(self, symbol: str, *args: Any, **kwargs: Any) -> None:
        if symbol in self.refused:
            raise StoreError(f"ClientError: {symbol} refused")
        super().update_owned(symbol, *args, **kwargs)


def test_a_partial_run_names_at_most_five_failures_and_backs_off_on_the_stop_signal() -> None:
    names = [f"S{i}" for i in range(7)]
    world = synced(*(rec(s) for s in names))
    world.store = Refusing(world.store, set(names[:6]))
    world.list([rec(s, name="new") for s in names])
    stop = InstantStop()

    with pytest.raises(SyncError) as partial:
        world.sync_run(stop=stop).run()

    shown = "; ".join(
        f"S{i}: gave up after 8 attempts: ClientError: S{i} refused" for i in range(5)
    )
    assert str(partial.value) == (
        "6 of 7 writes failed; those items keep their previous values and the next run retries "
        f"them: {shown}"
    )
    assert len([s for s in stop.waits if s > 0]) >= 6 * 7 - 10  # backoffs went to the signal


def test_a_stop_while_writing_after_failures_says_both() -> None:
    world = synced(rec("A"), rec("B"), rec("C"))
    world.store = Refusing(world.store, {"A"})
    world.list([rec(s, name="new") for s in "ABC"])
    stop = InstantStop()
    progress = Progress(advance=lambda done: stop.request("SIGINT") if done >= 2 else None)

    with pytest.raises(RunInterruptedError) as stopped:
        world.sync_run(stop=stop, progress=progress, write_concurrency=1).run()

    assert str(stopped.value) == (
        "stopped (SIGINT) after writing 1 of 3 planned changes; 1 not written, the next run "
        "completes them; 1 writes failed"
    )


def test_an_item_a_newer_run_wrote_during_the_writes_stops_a_run_that_lost_its_lease() -> None:
    world = synced(rec("AAA"), rec("BBB"))
    world.store.items["AAA"]["sync_run_seq"] = Decimal(99)  # the plain read does not see it
    world.list([rec("AAA", name="new"), rec("BBB", name="new")])
    read = world.state.read
    world.state.read = lambda: StateView(run_seq=99, lock_owner="newer")  # type: ignore[method-assign]

    with pytest.raises(SyncError) as stopped:
        world.sync_run(write_concurrency=1).run()

    assert stopped.value.report.failures["AAA"].startswith("not attempted: a newer run (number 99)")
    world.state.read = read  # type: ignore[method-assign]
    assert world.store.items["AAA"]["name"] == "AAA Corp"


def test_writes_in_flight_are_counted_while_they_are_sent() -> None:
    world = MemoryWorld().list([rec("AAA")])
    run = world.sync_run()
    seen: list[int] = []
    put_new = world.store.put_new

    def watching(item: Any) -> None:
        seen.append(run.writes_in_flight())
        put_new(item)

    world.store.put_new = watching  # type: ignore[method-assign]
    run.run()
    assert seen == [1] and run.writes_in_flight() == 0


def test_a_dry_run_plans_with_the_number_the_next_run_would_take() -> None:
    world = synced(rec("AAA"), rec("BBB"))
    world.store.items["AAA"]["sync_run_seq"] = Decimal(3)  # by a run numbered after the next
    world.store.items["BBB"]["sync_run_seq"] = Decimal(2)  # by the number the next run takes
    world.list([rec("AAA", name="a"), rec("BBB", name="b")])

    report = world.sync(dry_run=True, full=True)

    assert (report.superseded, report.updated) == (1, 1)
    assert "BBB" in report.changes and "AAA" not in report.changes


def test_each_failure_message_is_the_errors_own() -> None:
    world = MemoryWorld().list([rec("AAA")])
    world.catalog.list_error = CatalogError("down")
    for dry in (False, True):
        with pytest.raises(SyncError) as failed:
            world.sync_run(dry_run=dry).run()
        assert str(failed.value) == failed.value.report.message
        assert (
            failed.value.report.message == "fetching from Alpaca failed, nothing was written: down"
        )

    def unreachable(*_args: object, **_kwargs: object) -> None:
        raise StoreError("EndpointConnectionError: no")

    world.state.acquire = unreachable  # type: ignore[assignment]
    with pytest.raises(SyncError) as failed:
        world.sync_run().run()
    assert str(failed.value) == "EndpointConnectionError: no"

"""The writes of an identity change (logic/item_writes.member_writes) and applying them as one
transaction (logic/apply_groups), against the strict memory store."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from tests.support import minimal_record as rec
from tests.support.memory_store import MemoryStore

from asset_sync.dal.assets import state_from_item
from asset_sync.dal.errors import ConditionFailedError
from asset_sync.logic.apply import PlanApplier, RunIdentity
from asset_sync.logic.item_writes import NewItem, Update, member_writes
from asset_sync.logic.models import ACTIVE, INACTIVE, CatalogAsset, Unrecognized
from asset_sync.logic.planning import Action, IdentityGroup, Member, Role
from asset_sync.logic.validation import validate_catalog

TS = "2026-11-02T04:00:00.000000Z"


def asset(symbol: str, asset_id: str) -> CatalogAsset:
    return validate_catalog(json.dumps([rec(symbol, id=asset_id)]).encode()).assets[symbol]


def item(symbol: str, asset_id: str, status: str = ACTIVE, **extra: Any) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "asset_id": asset_id,
        "status": status,
        "sync_hash": f"h-{asset_id}",
        "sync_version": Decimal(3),
        "sync_run_seq": Decimal(1),
        "created_at": "2026-11-01T04:00:00.000000Z",
        **extra,
    }


RENAME = IdentityGroup(
    (
        Member("NEW", Role.ARRIVE, asset("NEW", "a"), source="OLD"),
        Member("OLD", Role.DEPART, source="NEW"),
    )
)


def test_an_arrival_on_a_new_item_carries_the_source_attributes_and_the_source_is_conditioned() -> (
    None
):
    items = {"OLD": item("OLD", "a", sector="Tech", tags=Unrecognized({"SS": ["x"]}))}
    arrive, depart = member_writes(RENAME, items, TS, 2)
    assert isinstance(arrive, NewItem) and isinstance(depart, Update)
    assert arrive.item["sector"] == "Tech" and arrive.item["tags"] == Unrecognized({"SS": ["x"]})
    assert (arrive.item["previous_symbol"], arrive.item["sync_action"]) == ("OLD", "rename")
    assert arrive.item["sync_version"] == 1 and arrive.item["sync_run_seq"] == 2
    write = depart.write
    assert write.set_values["renamed_to"] == "NEW" and write.set_values["status"] == INACTIVE
    assert write.set_values["sync_action"] == "depart"
    assert write.expected["sector"] == "Tech"  # copied: another writer must not change it now
    assert write.expected["tags"] == Unrecognized({"SS": ["x"]})
    assert "sector" not in write.set_values and "sector" not in write.remove


def test_an_arrival_on_a_held_item_replaces_its_foreign_attributes_exactly() -> None:
    group = IdentityGroup((Member("A", Role.ARRIVE, asset("A", "2"), source="B", replaces="1"),))
    items = {"A": item("A", "1", note="1", only_one="x"), "B": item("B", "2", note="2")}
    [write] = member_writes(group, items, TS, 2)
    assert isinstance(write, Update)
    assert (
        write.write.set_values["note"] == "2" and write.write.set_values["replaces_asset_id"] == "1"
    )
    assert "only_one" in write.write.remove
    assert write.write.expected["note"] == "1" and write.write.expected["only_one"] == "x"


def test_an_arrival_on_an_item_another_service_made_keeps_its_attributes() -> None:
    group = IdentityGroup((Member("A", Role.ARRIVE, asset("A", "2"), source="B"),))
    items = {"A": {"symbol": "A", "made_by": "them"}, "B": item("B", "2", note="2")}
    [write] = member_writes(group, items, TS, 2)
    assert isinstance(write, Update)
    assert write.write.set_values["note"] == "2" and "made_by" not in write.write.remove


def test_an_archive_takes_the_displaced_content_and_attributes() -> None:
    group = IdentityGroup(
        (
            Member("Z", Role.LIST, asset("Z", "z2"), replaces="z1"),
            Member("__asset/z1", Role.ARCHIVE, source="Z", delisting=True),
        )
    )
    items = {"Z": item("Z", "z1", name="Old Co", note="z1")}
    listing, archive = member_writes(group, items, TS, 2)
    assert isinstance(listing, Update) and isinstance(archive, NewItem)
    assert listing.write.remove == ("note",) and listing.write.set_values["sync_action"] == "list"
    stored = archive.item
    assert (stored["asset_id"], stored["name"], stored["sync_hash"]) == ("z1", "Old Co", "h-z1")
    assert (stored["status"], stored["previous_symbol"], stored["note"]) == (INACTIVE, "Z", "z1")
    assert stored["sync_action"] == "delist"


def applied(store: MemoryStore, group: IdentityGroup, **options: Any) -> PlanApplier:
    run = RunIdentity(2, TS)
    applier = PlanApplier(store, state_from_item, run, writes_per_second=1e6, **options)
    applier.apply([], store.get_items(list(group.reads)), [group])
    return applier


class Racing(MemoryStore):
    """Runs `before` once, just before the first transaction (another writer's move)."""

    def __init__(self, items: dict[str, Any], before: Any) -> None:
        super().__init__(items)
        self.before = before
        self.calls = 0

    def transact(self, writes: Any, run_seq: int) -> None:
        self.calls += 1
        if self.calls == 1:
            self.before(self)
        super().transact(writes, run_seq)


def test_a_foreign_write_during_the_change_is_copied_on_the_second_attempt() -> None:
    store = Racing(
        {"OLD": item("OLD", "a", sector="Tech")}, lambda s: s.items["OLD"].update(sector="Energy")
    )
    applier = applied(store, RENAME)
    assert store.calls == 2 and not applier.outcome.failures
    assert store.items["NEW"]["sector"] == "Energy"
    assert applier.outcome.done == {"NEW": Action.RENAME, "OLD": Action.DEPART}
    assert applier.outcome.conflicts_resolved == 2


def test_a_change_of_identity_meanwhile_leaves_the_group_to_the_next_run() -> None:
    def moved(s: MemoryStore) -> None:
        s.items["OLD"]["asset_id"] = "b"

    store = Racing({"OLD": item("OLD", "a")}, moved)
    applier = applied(store, RENAME)
    assert "NEW" not in store.items and store.items["OLD"]["status"] == ACTIVE
    assert set(applier.outcome.failures) == {"NEW", "OLD"}
    assert "the next run plans it again" in applier.outcome.failures["NEW"]


class LostReply(MemoryStore):
    def transact(self, writes: Any, run_seq: int) -> None:
        super().transact(writes, run_seq)
        raise ConditionFailedError("the reply was lost and the retry failed its conditions")


def test_a_transaction_whose_reply_was_lost_is_recognised_as_this_runs() -> None:
    store = LostReply({"OLD": item("OLD", "a")})
    applier = applied(store, RENAME)
    assert not applier.outcome.failures
    assert applier.outcome.done == {"NEW": Action.RENAME, "OLD": Action.DEPART}
    assert store.writes == 1


def test_a_group_with_an_item_a_newer_run_wrote_is_superseded() -> None:
    store = MemoryStore({"OLD": item("OLD", "a", sync_run_seq=Decimal(7))})
    seen: list[tuple[str, int]] = []
    applier = applied(store, RENAME, newer_run_seen=lambda s, n: seen.append((s, n)))
    assert seen == [("OLD", 7)] and store.writes == 0
    assert applier.outcome.done == {"NEW": Action.SUPERSEDED, "OLD": Action.SUPERSEDED}


def test_a_group_that_keeps_failing_is_reported_for_every_item() -> None:
    class Refusing(MemoryStore):
        def transact(self, writes: Any, run_seq: int) -> None:
            self.writes += 1
            raise ConditionFailedError("TransactionConflict")

    store = Refusing({"OLD": item("OLD", "a")})
    applier = applied(store, RENAME, backoff_base=0.0)
    assert store.writes == 8
    assert applier.outcome.failures["OLD"].startswith("identity change of NEW, OLD not applied")

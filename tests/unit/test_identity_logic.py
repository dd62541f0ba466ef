"""The identity rule (logic/identity.py), pure: a per-symbol plan and stored items in, groups out.

Each case of docs/identity.md's table, planned against a memory store and applied by the real
applier; the expected items are written out by hand from the contract.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from tests.support import minimal_record as rec
from tests.support.memory_store import MemoryStore

from asset_sync.dal.assets import state_from_item
from asset_sync.logic.apply import PlanApplier, RunIdentity
from asset_sync.logic.identity import (
    MAX_GROUP_ITEMS,
    Reassignment,
    Rename,
    Resolution,
    block_unconfirmed,
    home_of,
    needs_lookup,
    resolve_identity,
)
from asset_sync.logic.identity_reads import read_for_identity
from asset_sync.logic.models import ACTIVE, INACTIVE, ValidatedCatalog
from asset_sync.logic.planning import Action, Member, Role, build_plan
from asset_sync.logic.validation import validate_catalog

LINKS = ("asset_id", "status", "previous_symbol", "renamed_to", "replaces_asset_id", "sync_action")


def catalog_of(*records: dict[str, Any]) -> ValidatedCatalog:
    return validate_catalog(json.dumps(list(records)).encode())


class Table:
    """A memory store synced run by run (every delisting confirmed unless told otherwise)."""

    def __init__(self, *records: dict[str, Any]) -> None:
        self.store = MemoryStore()
        self.seq = 0
        self.sync(*records)

    def resolve(self, *records: dict[str, Any]) -> Resolution:
        catalog = catalog_of(*records)
        plan = build_plan(catalog, self.store.states(), self.seq + 1)
        self.items = read_for_identity(self.store, plan)
        return resolve_identity(plan, catalog, self.items)

    def sync(self, *records: dict[str, Any], confirm: bool = True) -> Resolution:
        resolution = self.resolve(*records)
        self.seq += 1
        plan = resolution.plan
        confirmed = [i.symbol for i in plan.delists] + [
            m.source or "" for g in plan.groups for m in g.delistings
        ]
        plan = block_unconfirmed(plan, confirmed if confirm else [])
        run = RunIdentity(self.seq, f"2026-11-{self.seq:02d}T04:00:00.000000Z")
        applier = PlanApplier(self.store, state_from_item, run, writes_per_second=1e6)
        self.outcome = applier.apply(plan.writes, self.items, plan.groups)
        assert not self.outcome.failures
        resolution.plan = plan
        return resolution

    def links(self, symbol: str) -> dict[str, Any]:
        item = self.store.items[symbol]
        return {name: item[name] for name in LINKS if name in item}

    def foreign(self, symbol: str, **values: str) -> None:
        self.store.items[symbol].update(values)


def roles(resolution: Resolution) -> list[list[tuple[str, Role, str | None]]]:
    return [[(m.symbol, m.role, m.source) for m in g.members] for g in resolution.plan.groups]


def test_a_ticker_change_is_one_group_and_the_attributes_follow_the_asset() -> None:
    table = Table(rec("OLD", id="a-1"), rec("KEEP"))
    table.foreign("OLD", sector="Tech")
    resolution = table.sync(rec("NEW", id="a-1"), rec("KEEP"))

    assert roles(resolution) == [[("NEW", Role.ARRIVE, "OLD"), ("OLD", Role.DEPART, "NEW")]]
    assert resolution.renames == [Rename("OLD", "NEW", "a-1")]
    assert resolution.plan.delists == [] and resolution.plan.creates == []
    assert table.links("NEW") == {
        "asset_id": "a-1",
        "status": ACTIVE,
        "previous_symbol": "OLD",
        "sync_action": "rename",
    }
    assert table.links("OLD") == {
        "asset_id": "a-1",
        "status": INACTIVE,
        "renamed_to": "NEW",
        "sync_action": "depart",
    }
    assert table.store.items["NEW"]["sector"] == table.store.items["OLD"]["sector"] == "Tech"
    assert table.outcome.done == {"NEW": Action.RENAME, "OLD": Action.DEPART}
    assert table.store.writes == 2 + 1  # day 1's two creates, then one transaction


def test_the_meta_day_is_two_renames_and_sector_etf_stays_with_the_etf() -> None:
    table = Table(rec("FB", id="meta", name="Meta"), rec("META", id="etf", name="ETF"))
    table.foreign("FB", sector="Tech", note="meta")
    table.foreign("META", sector="ETF")
    resolution = table.sync(rec("META", id="meta", name="Meta"), rec("METV", id="etf", name="ETF"))

    assert roles(resolution) == [
        [("META", Role.ARRIVE, "FB"), ("METV", Role.ARRIVE, "META"), ("FB", Role.DEPART, "META")]
    ]
    assert resolution.renames == [Rename("FB", "META", "meta"), Rename("META", "METV", "etf")]
    assert resolution.reassignments == [Reassignment("META", "etf", "meta")]
    assert table.links("META")["replaces_asset_id"] == "etf"
    items = table.store.items
    assert (items["META"]["sector"], items["META"]["note"]) == ("Tech", "meta")
    assert items["METV"]["sector"] == "ETF" and "note" not in items["METV"]
    assert items["FB"]["renamed_to"] == "META" and items["FB"]["sector"] == "Tech"
    assert resolution.plan.delisting_count == 0


def test_a_swap_is_two_renames_with_the_attributes_swapped() -> None:
    table = Table(rec("A", id="1"), rec("B", id="2"))
    table.foreign("A", note="1")
    table.foreign("B", note="2")
    resolution = table.sync(rec("A", id="2"), rec("B", id="1"))
    assert roles(resolution) == [[("A", Role.ARRIVE, "B"), ("B", Role.ARRIVE, "A")]]
    items = table.store.items
    assert (items["A"]["asset_id"], items["A"]["note"], items["A"]["previous_symbol"]) == (
        "2",
        "2",
        "B",
    )
    assert (items["B"]["asset_id"], items["B"]["note"], items["B"]["replaces_asset_id"]) == (
        "1",
        "1",
        "2",
    )


def test_a_reused_ticker_lists_the_new_asset_and_archives_the_old_one() -> None:
    table = Table(rec("Z", id="z1"), rec("K"))
    table.foreign("Z", note="z1")
    table.sync(rec("K"))  # z1 delisted
    resolution = table.sync(rec("Z", id="z2"), rec("K"))

    assert roles(resolution) == [[("Z", Role.LIST, None), ("__asset/z1", Role.ARCHIVE, "Z")]]
    assert resolution.plan.delisting_count == 0  # z1 was already inactive
    assert table.links("Z") == {
        "asset_id": "z2",
        "status": ACTIVE,
        "replaces_asset_id": "z1",
        "sync_action": "list",
    }
    assert "note" not in table.store.items["Z"]
    assert table.links("__asset/z1") == {
        "asset_id": "z1",
        "status": INACTIVE,
        "previous_symbol": "Z",
        "sync_action": "archive",
    }
    assert table.store.items["__asset/z1"]["note"] == "z1"
    assert table.outcome.done == {"Z": Action.CREATE, "__asset/z1": Action.ARCHIVE}


def test_a_ticker_reused_the_same_day_is_a_delisting_the_guard_counts_and_alpaca_confirms() -> None:
    table = Table(rec("Z", id="z1"), rec("K"))
    resolution = table.resolve(rec("Z", id="z2"), rec("K"))
    assert resolution.plan.delisting_count == 1
    [archive] = [m for g in resolution.plan.groups for m in g.delistings]
    assert (archive.symbol, archive.source) == ("__asset/z1", "Z")

    unconfirmed = block_unconfirmed(resolution.plan, [])
    assert unconfirmed.groups == []
    assert unconfirmed.blocked == {"Z": "Alpaca did not confirm that the asset on Z left"}

    table.sync(rec("Z", id="z2"), rec("K"))
    assert table.links("__asset/z1")["sync_action"] == "delist"
    assert table.outcome.done["__asset/z1"] == Action.DELIST


def test_back_and_forth_moves_the_asset_and_keeps_the_links_true() -> None:
    table = Table(rec("AAA", id="a"))
    table.foreign("AAA", note="a")
    for new, old in (("BBB", "AAA"), ("AAA", "BBB"), ("BBB", "AAA")):
        resolution = table.sync(rec(new, id="a"))
        assert resolution.renames == [Rename(old, new, "a")]
        assert table.links(new) == {
            "asset_id": "a",
            "status": ACTIVE,
            "previous_symbol": old,
            "sync_action": "rename",
        }
        assert table.links(old) == {
            "asset_id": "a",
            "status": INACTIVE,
            "renamed_to": new,
            "sync_action": "depart",
        }
        assert table.store.items[new]["note"] == "a"


def test_an_asset_relisted_under_a_new_ticker_is_renamed_from_its_delisted_item() -> None:
    table = Table(rec("X", id="1"), rec("K"))
    table.sync(rec("K"))
    resolution = table.sync(rec("Y", id="1"), rec("K"))
    assert resolution.renames == [Rename("X", "Y", "1")]
    assert table.links("X")["renamed_to"] == "Y" and table.links("Y")["previous_symbol"] == "X"


def test_an_asset_coming_out_of_its_archive_onto_its_old_ticker_is_a_reactivation() -> None:
    table = Table(rec("Y", id="1"), rec("K"))
    table.sync(rec("K"))
    table.sync(rec("Y", id="2"), rec("K"))  # 1 archived
    resolution = table.sync(rec("Y", id="1"), rec("K"))  # 2 displaced, 1 back
    assert resolution.renames == [Rename("Y", "Y", "1")]
    assert table.links("Y") == {
        "asset_id": "1",
        "status": ACTIVE,
        "replaces_asset_id": "2",
        "sync_action": "reactivate",
    }
    assert table.links("__asset/1")["renamed_to"] == "Y"
    assert table.links("__asset/2")["previous_symbol"] == "Y"


def test_a_rename_half_applied_by_an_older_version_is_completed_as_a_rename() -> None:
    table = Table(rec("X", id="1"), rec("K"))
    table.store.items["X"] |= {"status": INACTIVE, "renamed_to": "Y"}  # Y's write never landed
    resolution = table.sync(rec("Y", id="1"), rec("K"))
    assert resolution.renames == [Rename("X", "Y", "1")]
    assert table.links("Y")["previous_symbol"] == "X" and table.links("Y")["status"] == ACTIVE


def test_a_stale_active_item_of_a_listed_asset_departs_instead_of_being_delisted() -> None:
    table = Table(rec("Y", id="1"), rec("K"))
    table.store.items["X"] = {**table.store.items["Y"], "symbol": "X"}  # old side never written
    resolution = table.sync(rec("Y", id="1"), rec("K"))
    assert roles(resolution) == [[("X", Role.DEPART, "Y")]]
    assert resolution.plan.delists == [] and table.links("X")["renamed_to"] == "Y"


def test_different_ids_pair_by_a_cusip_shared_one_to_one() -> None:
    table = Table(rec("OLD", id="a-1", cusip="C1"), rec("O2", id="a-2", cusip="C2"))
    resolution = table.resolve(rec("NEW", id="b-1", cusip="C1"), rec("O2", id="a-2", cusip="C2"))
    assert resolution.renames == [Rename("OLD", "NEW", "b-1")]
    # a cusip two candidates (or two newcomers) share, or an empty one, pairs nothing
    for stored, listed in (
        ([rec("O1", id="a-1", cusip="C"), rec("O2", id="a-2", cusip="C")], [rec("N", cusip="C")]),
        ([rec("O", id="a-1", cusip="C")], [rec("N1", cusip="C"), rec("N2", cusip="C")]),
        ([rec("O", id="a-1", cusip="")], [rec("N", cusip="")]),
    ):
        assert Table(*stored).resolve(*listed).renames == []
    mixed = Table(rec("O1", id="a-1", cusip=""), rec("O2", id="a-2", cusip="C"))
    resolution = mixed.resolve(rec("NEW", id="b-1", cusip="C"))
    assert resolution.renames == [Rename("O2", "NEW", "b-1")]
    assert [i.symbol for i in resolution.plan.delists] == ["O1"]


def test_an_id_match_wins_over_a_cusip_match() -> None:
    table = Table(rec("O1", id="a-1", cusip="C"), rec("O2", id="a-2", cusip="D"))
    resolution = table.resolve(rec("N1", id="a-2", cusip="C"), rec("N2", id="z", cusip="C"))
    assert sorted(resolution.renames, key=lambda r: r.old) == [
        Rename("O1", "N2", "z"),
        Rename("O2", "N1", "a-2"),
    ]


def test_a_change_that_touches_a_left_out_record_is_left_out_whole() -> None:
    table = Table(rec("OLD", id="a-1"), rec("K"))
    resolution = table.resolve(rec("OLD", id="a-1", tradable="yes"), rec("NEW", id="a-1"), rec("K"))
    assert resolution.plan.groups == [] and resolution.plan.delists == []
    assert "OLD" in resolution.plan.blocked["NEW"]


def test_a_change_larger_than_one_transaction_is_left_out() -> None:
    count = MAX_GROUP_ITEMS + 1
    table = Table(*(rec(f"T{i:03d}", id=f"i{i}") for i in range(count)))
    shifted = [rec(f"T{i + 1:03d}", id=f"i{i}") for i in range(count)]
    resolution = table.resolve(*shifted)
    assert resolution.plan.groups == []
    assert len(resolution.plan.blocked) == count
    assert "more than one transaction" in resolution.plan.blocked["T001"]


def test_the_home_is_the_active_item_then_the_one_without_renamed_to() -> None:
    def item(status: str, seq: int, **extra: Any) -> dict[str, Any]:
        return {"asset_id": "a", "status": status, "sync_run_seq": Decimal(seq), **extra}

    items = {
        "A": item(ACTIVE, 1),
        "B": item(ACTIVE, 2),
        "C": item(INACTIVE, 3),
        "D": item(INACTIVE, 4, renamed_to="X"),
    }
    assert home_of("a", "A", items, items) == "A"  # the record's own active item
    assert home_of("a", "Q", items, items) == "B"  # else the latest active one
    assert home_of("a", "C", ["C", "D"], items) == "C"
    assert home_of("a", "Q", ["C", "D"], items) == "C"  # not an old item
    items["E"] = item(INACTIVE, 5, renamed_to="D")
    assert home_of("a", "Q", ["D", "E"], items) == "D"  # the rename left unfinished
    assert home_of("a", "Q", [], items) is None


def test_a_lookup_is_needed_unless_the_record_own_item_settles_it() -> None:
    assert needs_lookup("a", None)
    assert needs_lookup("a", {"asset_id": "b", "status": ACTIVE})
    assert needs_lookup("a", {"asset_id": "a", "status": INACTIVE, "renamed_to": "X"})
    assert not needs_lookup("a", {"asset_id": "a", "status": INACTIVE})
    assert not needs_lookup("a", {"asset_id": "a", "status": ACTIVE})


def test_members_say_what_they_are() -> None:
    member = Member("A", Role.ARCHIVE, source="B", delisting=True)
    assert (member.asset, member.replaces) == (None, None)


def test_a_new_id_for_the_same_security_on_its_own_ticker_is_an_update_in_place() -> None:
    table = Table(rec("S", id="old-id", cusip="C1"), rec("K"))
    resolution = table.sync(rec("S", id="new-id", cusip="C1"), rec("K"))
    assert resolution.plan.groups == [] and resolution.reassignments == []
    assert table.outcome.done == {"S": Action.UPDATE}
    assert table.links("S")["asset_id"] == "new-id"
    # with another CUSIP it is another security: a reassignment, the old one archived
    resolution = table.sync(rec("S", id="third-id", cusip="C2"), rec("K"))
    assert resolution.reassignments == [Reassignment("S", "new-id", "third-id")]
    assert table.links("__asset/new-id")["sync_action"] == "delist"

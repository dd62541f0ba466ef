"""The home the identity rule picks for a record (logic/identity.py, rule 1 of docs/identity.md):
among several candidates the latest (run number, then version, then key), the record's own
active item first, the CUSIP fallback's edges, and which single writes a change takes over."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from tests.support import minimal_record as rec
from tests.support.memory_store import MemoryStore

from asset_sync.logic.identity import Reassignment, Rename, Resolution, home_of, resolve_identity
from asset_sync.logic.identity_reads import read_for_identity
from asset_sync.logic.item_writes import new_item
from asset_sync.logic.models import ACTIVE, INACTIVE, StoredValue, ValidatedCatalog
from asset_sync.logic.planning import Role, build_plan
from asset_sync.logic.validation import validate_catalog

DAY1 = "2026-11-01T04:00:00.000000Z"


def catalog_of(*records: dict[str, Any]) -> ValidatedCatalog:
    return validate_catalog(json.dumps(list(records)).encode())


def stored(record: dict[str, Any], **extra: StoredValue) -> dict[str, StoredValue]:
    """The item run 1 wrote for `record`, plus `extra`."""
    asset = catalog_of(record).assets[record["symbol"]]
    return {**new_item(asset, DAY1, 1), **extra}


def resolve(
    items: dict[str, dict[str, StoredValue]], *records: dict[str, Any], full: bool = False
) -> Resolution:
    store = MemoryStore(items)
    catalog = catalog_of(*records)
    plan = build_plan(catalog, store.whole_states() if full else store.states(), 2, full=full)
    return resolve_identity(plan, catalog, read_for_identity(store, plan))


def roles(resolution: Resolution) -> list[list[tuple[str, Role, str | None]]]:
    return [[(m.symbol, m.role, m.source) for m in g.members] for g in resolution.plan.groups]


TIERS = {  # the candidates rule 1 compares, tier by tier: (status, renamed_to)
    "active": (ACTIVE, None),
    "without renamed_to": (INACTIVE, None),
    "left by an unfinished rename": (INACTIVE, "ELSEWHERE"),
}


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize(
    ("a", "b", "latest"),
    [
        ((Decimal(2), Decimal(1)), (Decimal(1), Decimal(5)), "A"),  # the run number first
        ((Decimal(1), Decimal(5)), (Decimal(1), Decimal(1)), "A"),  # then the version
        ((Decimal(1), Decimal(1)), (Decimal(1), Decimal(1)), "B"),  # then the key
        ((None, Decimal(5)), (Decimal(1), Decimal(1)), "B"),  # no run number counts as 0
        (("9", Decimal(5)), (Decimal(1), Decimal(1)), "B"),  # ... and neither does text
        ((Decimal(1), None), (Decimal(1), Decimal(0)), "B"),  # no version counts as 0
    ],
)
def test_among_several_candidates_the_latest_written_is_the_home(
    tier: str, a: tuple[Any, Any], b: tuple[Any, Any], latest: str
) -> None:
    status, renamed_to = TIERS[tier]
    items: dict[str, dict[str, Any]] = {}
    for symbol, (seq, version) in (("A", a), ("B", b)):
        item = {"asset_id": "x", "status": status, "sync_run_seq": seq, "sync_version": version}
        items[symbol] = {k: v for k, v in item.items() if v is not None}
        if renamed_to:
            items[symbol]["renamed_to"] = renamed_to
    assert home_of("x", "Q", ["A", "B"], items) == latest
    assert home_of("x", "Q", ["B", "A"], items) == latest


def test_a_record_stays_on_its_own_active_item_when_another_active_item_is_later() -> None:
    items = {
        "S": stored(rec("S", id="a")),
        "X": stored(rec("X", id="a"), sync_version=Decimal(9)),  # a stale copy, written later
    }
    resolution = resolve(items, rec("S", id="a", name="Renamed Co"))
    assert roles(resolution) == [[("X", Role.DEPART, "S")]]
    assert [i.symbol for i in resolution.plan.updates] == ["S"]
    assert resolution.renames == [] and resolution.plan.delists == []


def test_a_cusip_does_not_make_an_update_in_place_of_an_asset_listed_elsewhere() -> None:
    """S's record has a new id with S's CUSIP, but S's asset is listed on T: a shift (T takes
    S's asset, S gets a new one), not one security under a new id."""
    items = {"S": stored(rec("S", id="old", cusip="C1"))}
    resolution = resolve(items, rec("S", id="new", cusip="C1"), rec("T", id="old", cusip="C1"))
    assert roles(resolution) == [[("S", Role.LIST, None), ("T", Role.ARRIVE, "S")]]
    assert resolution.renames == [Rename("S", "T", "old")]
    assert resolution.reassignments == [Reassignment("S", "old", "new")]
    # as the run report (--json) lists them
    assert [r.to_json() for r in resolution.renames] == [
        {"from": "S", "to": "T", "asset_id": "old"}
    ]
    assert [r.to_json() for r in resolution.reassignments] == [
        {"symbol": "S", "from": "old", "to": "new"}
    ]


def test_a_candidate_deleted_before_the_identity_read_stays_a_plain_delisting() -> None:
    store = MemoryStore({"X": stored(rec("X", id="x", cusip="C")), "K": stored(rec("K", id="k"))})
    catalog = catalog_of(rec("K", id="k"), rec("N", id="n", cusip="C"))
    plan = build_plan(catalog, store.states(), 2)
    del store.items["X"]  # another writer deleted it after the plan's read
    resolution = resolve_identity(plan, catalog, read_for_identity(store, plan))
    assert [i.symbol for i in resolution.plan.delists] == ["X"]
    assert [i.symbol for i in resolution.plan.creates] == ["N"]
    assert resolution.plan.groups == [] and resolution.renames == []


def test_a_swap_leaves_no_single_write_behind() -> None:
    items = {"A": stored(rec("A", id="1")), "B": stored(rec("B", id="2"))}
    resolution = resolve(items, rec("A", id="2"), rec("B", id="1"))
    assert roles(resolution) == [[("A", Role.ARRIVE, "B"), ("B", Role.ARRIVE, "A")]]
    assert resolution.plan.writes == [] and resolution.plan.updates == []


def test_a_full_run_keeps_a_plain_repair_as_a_single_write() -> None:
    items = {"S": stored(rec("S", id="s"), name="Edited by hand"), "K": stored(rec("K"))}
    resolution = resolve(items, rec("S", id="s"), rec("K"), full=True)
    assert [i.symbol for i in resolution.plan.repairs] == ["S"]
    assert resolution.plan.groups == []


def test_a_full_run_turns_a_repair_of_an_edited_asset_id_into_a_listing() -> None:
    """The hash is right but the stored id was edited: the item holds another asset, which
    the record's asset replaces (and which is archived, as a delisting)."""
    items = {"S": stored(rec("S", id="y"), asset_id="x"), "K": stored(rec("K"))}
    resolution = resolve(items, rec("S", id="y"), rec("K"), full=True)
    assert resolution.plan.repairs == [] and resolution.plan.writes == []
    assert roles(resolution) == [[("S", Role.LIST, None), ("__asset/x", Role.ARCHIVE, "S")]]
    assert resolution.plan.delisting_count == 1

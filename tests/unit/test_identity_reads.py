"""The reads the identity rule makes (logic/identity_reads.py, docs/identity.md "Reads"): which
items it reads whole and which asset ids it looks up in the asset-id index, run by run."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any

from tests.support import minimal_record as rec
from tests.support.memory_store import MemoryStore

from asset_sync.logic.identity_reads import read_for_identity
from asset_sync.logic.item_writes import new_item
from asset_sync.logic.models import INACTIVE, StoredValue
from asset_sync.logic.planning import build_plan
from asset_sync.logic.validation import validate_catalog

DAY1 = "2026-11-01T04:00:00.000000Z"


def stored(record: dict[str, Any], **extra: StoredValue) -> dict[str, StoredValue]:
    asset = validate_catalog(json.dumps([record]).encode()).assets[record["symbol"]]
    return {**new_item(asset, DAY1, 1), **extra}


class Recording(MemoryStore):
    """Records every read: the symbols of each `get_items`, the ids of each `holders_of`."""

    def __init__(self, items: dict[str, dict[str, StoredValue]]) -> None:
        super().__init__(items)
        self.item_reads: list[list[str]] = []
        self.lookups: list[set[str]] = []

    def get_items(self, symbols: Iterable[str]) -> dict[str, dict[str, StoredValue]]:
        symbols = list(symbols)
        self.item_reads.append(symbols)
        return super().get_items(symbols)

    def holders_of(self, asset_ids: Collection[str]) -> dict[str, list[str]]:
        self.lookups.append(set(asset_ids))
        return super().holders_of(asset_ids)


def read(store: Recording, *records: dict[str, Any]) -> dict[str, dict[str, StoredValue]]:
    catalog = validate_catalog(json.dumps(list(records)).encode())
    return read_for_identity(store, build_plan(catalog, store.states(), 2))


def test_an_unchanged_run_reads_no_item_and_looks_up_no_id() -> None:
    store = Recording({"A": stored(rec("A")), "B": stored(rec("B"))})
    assert read(store, rec("A"), rec("B")) == {}
    assert store.item_reads == [[], []] and store.lookups == [set()]


def test_a_rename_whose_old_item_is_read_as_a_candidate_looks_up_nothing() -> None:
    store = Recording({"OLD": stored(rec("OLD", id="a")), "K": stored(rec("K"))})
    items = read(store, rec("NEW", id="a"), rec("K"))
    assert store.item_reads == [["OLD"], []] and store.lookups == [set()]
    assert list(items) == ["OLD"]


def test_a_reactivation_on_its_own_item_looks_up_nothing() -> None:
    store = Recording({"S": stored(rec("S", id="s"), status=INACTIVE)})
    items = read(store, rec("S", id="s"))
    assert store.item_reads == [["S"], []] and store.lookups == [set()]
    assert list(items) == ["S"]


def test_an_inactive_holder_does_not_settle_an_id_it_is_looked_up() -> None:
    """P's inactive item holds p, which R lists now: an active item elsewhere would be p's
    home, so p is looked up (and so is n, P's new id, which P's item does not hold)."""
    store = Recording({"P": stored(rec("P", id="p"), status=INACTIVE)})
    items = read(store, rec("P", id="n"), rec("R", id="p"))
    assert store.lookups == [{"n", "p"}] and store.item_reads == [["P"], []]
    assert list(items) == ["P"]


def test_the_items_the_index_names_are_read_once_each() -> None:
    store = Recording(
        {
            "X": stored(rec("X", id="1"), status=INACTIVE),
            "W": stored(rec("W", id="1"), status=INACTIVE, renamed_to="X"),
            "Z": stored(rec("Z", id="z1")),
        }
    )
    items = read(store, rec("Y", id="1"), rec("Z", id="z2"))
    assert store.lookups == [{"1", "z2"}]
    assert store.item_reads == [["Z"], ["W", "X"]]
    assert sorted(items) == ["W", "X", "Z"]

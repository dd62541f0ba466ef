"""How the identity rule groups its writes (logic/identity.py): one group per connected change,
members in a stable order, the transaction's size bound, and the changes it leaves out (a
left-out catalog record, an unconfirmed delisting) with their exact reasons."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.support import minimal_record as rec
from tests.support.memory_store import MemoryStore

from asset_sync.logic.identity import (
    MAX_GROUP_ITEMS,
    Resolution,
    block_unconfirmed,
    resolve_identity,
)
from asset_sync.logic.identity_reads import read_for_identity
from asset_sync.logic.item_writes import new_item
from asset_sync.logic.models import INACTIVE, StoredValue, ValidatedCatalog
from asset_sync.logic.planning import IdentityGroup, Member, Plan, Role, build_plan
from asset_sync.logic.validation import validate_catalog

DAY1 = "2026-11-01T04:00:00.000000Z"


def catalog_of(*records: dict[str, Any]) -> ValidatedCatalog:
    return validate_catalog(json.dumps(list(records)).encode())


def stored(record: dict[str, Any], **extra: StoredValue) -> dict[str, StoredValue]:
    asset = catalog_of(record).assets[record["symbol"]]
    return {**new_item(asset, DAY1, 1), **extra}


def resolve(items: dict[str, dict[str, StoredValue]], *records: dict[str, Any]) -> Resolution:
    store = MemoryStore(items)
    catalog = catalog_of(*records)
    plan = build_plan(catalog, store.states(), 2)
    return resolve_identity(plan, catalog, read_for_identity(store, plan))


def roles(resolution: Resolution) -> list[list[tuple[str, Role, str | None]]]:
    return [[(m.symbol, m.role, m.source) for m in g.members] for g in resolution.plan.groups]


def test_independent_changes_of_one_run_are_separate_groups_each_complete() -> None:
    items = {
        "A": stored(rec("A", id="a")),
        "Z": stored(rec("Z", id="z1"), status=INACTIVE),
    }
    resolution = resolve(items, rec("B", id="a"), rec("Z", id="z2"))
    assert roles(resolution) == [
        [("B", Role.ARRIVE, "A"), ("A", Role.DEPART, "B")],
        [("Z", Role.LIST, None), ("__asset/z1", Role.ARCHIVE, "Z")],
    ]


def test_members_are_ordered_arrivals_and_listings_by_symbol_then_archives_then_departures() -> (
    None
):
    # A takes B's asset, B gets a new one, C takes A's: arrivals and the listing by symbol
    items = {"A": stored(rec("A", id="1")), "B": stored(rec("B", id="2"))}
    resolution = resolve(items, rec("A", id="2"), rec("B", id="9"), rec("C", id="1"))
    assert roles(resolution) == [
        [("A", Role.ARRIVE, "B"), ("B", Role.LIST, None), ("C", Role.ARRIVE, "A")]
    ]
    # Z takes P's asset and displaces z1 (inactive): the archive, then the departure
    items = {"P": stored(rec("P", id="p")), "Z": stored(rec("Z", id="z1"), status=INACTIVE)}
    resolution = resolve(items, rec("Z", id="p"))
    assert roles(resolution) == [
        [("Z", Role.ARRIVE, "P"), ("__asset/z1", Role.ARCHIVE, "Z"), ("P", Role.DEPART, "Z")]
    ]


@pytest.mark.parametrize("tickers", [MAX_GROUP_ITEMS - 1, MAX_GROUP_ITEMS])
def test_a_group_may_span_exactly_one_transaction(tickers: int) -> None:
    """`tickers` assets each move one ticker up: that many arrivals and one departure."""
    items = {f"T{i:03d}": stored(rec(f"T{i:03d}", id=f"i{i}")) for i in range(tickers)}
    resolution = resolve(items, *(rec(f"T{i + 1:03d}", id=f"i{i}") for i in range(tickers)))
    members = tickers + 1
    if members <= MAX_GROUP_ITEMS:
        assert [len(g.members) for g in resolution.plan.groups] == [MAX_GROUP_ITEMS]
        assert resolution.plan.blocked == {}
    else:
        assert resolution.plan.groups == [] and len(resolution.plan.blocked) == tickers
        assert set(resolution.plan.blocked.values()) == {
            f"its identity change spans {members} items, more than one transaction"
        }


def left_out_day() -> Resolution:
    """Day 2 with three identity changes: Z takes P's asset and displaces z1 (but P's record
    and a record claiming z1's archive key are invalid), N takes O's asset (O's record is
    invalid), and Y's asset is replaced by a new one while still active (a delisting). Q's
    invalid record touches none of them."""
    items = {
        "Z": stored(rec("Z", id="z1"), status=INACTIVE),
        "P": stored(rec("P", id="p")),
        "O": stored(rec("O", id="o")),
        "Y": stored(rec("Y", id="y1")),
    }
    return resolve(
        items,
        rec("Z", id="p"),
        rec("P", id="p2", tradable="yes"),
        rec("__asset/z1", id="z1"),
        rec("N", id="o"),
        rec("O", id="o2", tradable="yes"),
        rec("Q", id="q", tradable="yes"),
        rec("Y", id="y2"),
    )


def test_a_change_touching_left_out_records_is_left_out_naming_exactly_those() -> None:
    resolution = left_out_day()
    assert resolution.plan.blocked == {
        "Z": "its identity change involves P, __asset/z1, whose catalog record was left out",
        "N": "its identity change involves O, whose catalog record was left out",
    }
    assert roles(resolution) == [[("Y", Role.LIST, None), ("__asset/y1", Role.ARCHIVE, "Y")]]
    assert resolution.renames == []


def test_an_unconfirmed_delisting_leaves_its_group_out_beside_the_others_left_out() -> None:
    resolution = left_out_day()
    plan = block_unconfirmed(resolution.plan, [])
    assert plan.groups == []
    assert plan.blocked == {
        **resolution.plan.blocked,
        "Y": "Alpaca did not confirm that the asset on Y left",
    }
    assert block_unconfirmed(resolution.plan, ["Y"]).groups == resolution.plan.groups


def test_an_unconfirmed_group_names_every_pending_source_and_blocks_its_records() -> None:
    catalog = catalog_of(rec("A", id="3"), rec("B", id="4"))
    group = IdentityGroup(
        (
            Member("A", Role.LIST, catalog.assets["A"], replaces="1"),
            Member("B", Role.LIST, catalog.assets["B"], replaces="2"),
            Member("__asset/1", Role.ARCHIVE, source="A", delisting=True),
            Member("__asset/2", Role.ARCHIVE, source="B", delisting=True),
        )
    )
    plan = Plan(groups=[group], blocked={"K": "left out before"})
    for confirmed, pending in (([], "A, B"), (["A"], "B"), (["B"], "A")):
        reason = f"Alpaca did not confirm that the asset on {pending} left"
        blocked = block_unconfirmed(plan, confirmed).blocked
        assert blocked == {"K": "left out before", "A": reason, "B": reason}
    assert block_unconfirmed(plan, ["A", "B"]).groups == [group]

"""The exact writes of an identity change (logic/item_writes.member_writes): for each member the
SET and REMOVE it sends, the report's change, and every stored value it is conditioned on."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from tests.support import minimal_record as rec

from asset_sync.logic.item_writes import NewItem, Update, holder, member_writes, new_item
from asset_sync.logic.models import (
    ACTIVE,
    INACTIVE,
    CatalogAsset,
    FieldChange,
    ItemChange,
    StoredValue,
    Unrecognized,
)
from asset_sync.logic.planning import IdentityGroup, Member, Role
from asset_sync.logic.validation import validate_catalog

DAY1, DAY2 = "2026-11-01T04:00:00.000000Z", "2026-11-02T04:00:00.000000Z"
RUN = 2


def asset(symbol: str, asset_id: str) -> CatalogAsset:
    return validate_catalog(json.dumps([rec(symbol, id=asset_id)]).encode()).assets[symbol]


def stored(symbol: str, asset_id: str, **extra: StoredValue) -> dict[str, StoredValue]:
    """The item day 1's listing of `asset_id` on `symbol` left, plus `extra`."""
    return {**new_item(asset(symbol, asset_id), DAY1, 1), **extra}


def only_update(writes: list[Any], symbol: str) -> Update:
    [write] = [w for w in writes if w.symbol == symbol]
    assert isinstance(write, Update)
    return write


def test_a_swap_sends_exactly_the_moved_values_conditioned_on_everything_it_replaces() -> None:
    items = {
        "A": stored("A", "1", note="1", only_one="x"),
        "B": stored("B", "2", note="2"),
    }
    swap = IdentityGroup(
        (
            Member("A", Role.ARRIVE, asset("A", "2"), source="B", replaces="1"),
            Member("B", Role.ARRIVE, asset("B", "1"), source="A", replaces="2"),
        )
    )
    writes = member_writes(swap, items, DAY2, RUN)
    write = only_update(writes, "A").write
    assert write.set_values == {
        "previous_symbol": "B",
        "replaces_asset_id": "1",
        "asset_id": "2",
        "sync_hash": asset("A", "2").content_hash,
        "updated_at": DAY2,
        "last_sync_timestamp": DAY2,
        "sync_version": Decimal(2),
        "sync_run_seq": Decimal(RUN),
        "sync_action": "rename",
        "note": "2",
    }
    assert write.remove == ("only_one",)
    assert write.change == ItemChange(  # the hash is bookkeeping, not a reported field
        "rename",
        {
            "previous_symbol": FieldChange(None, "B"),
            "replaces_asset_id": FieldChange(None, "1"),
            "asset_id": FieldChange("1", "2"),
            "note": FieldChange("1", "2"),
            "only_one": FieldChange("x", None),
        },
    )
    assert write.expected == {
        "previous_symbol": None,
        "replaces_asset_id": None,
        "renamed_to": None,
        "asset_id": "1",
        "status": ACTIVE,
        "sync_hash": asset("A", "1").content_hash,
        "updated_at": DAY1,
        "last_sync_timestamp": DAY1,
        "sync_version": Decimal(1),
        "sync_run_seq": Decimal(1),
        "sync_action": "list",
        "note": "1",  # replaced here, and copied to B: both as read
        "only_one": "x",
    }
    other = only_update(writes, "B").write
    assert (other.set_values["note"], other.set_values["only_one"], other.remove) == ("1", "x", ())


def test_an_arrival_on_an_item_another_service_made_is_not_conditioned_on_its_attributes() -> None:
    """That item's own attributes are neither replaced nor copied: another service may change
    them meanwhile without failing the transaction."""
    items: dict[str, dict[str, StoredValue]] = {
        "NEW": {"symbol": "NEW", "made_by": "them"},
        "OLD": stored("OLD", "a", sector="T"),
    }
    group = IdentityGroup(
        (
            Member("NEW", Role.ARRIVE, asset("NEW", "a"), source="OLD"),
            Member("OLD", Role.DEPART, source="NEW"),
        )
    )
    write = only_update(member_writes(group, items, DAY2, RUN), "NEW").write
    assert write.set_values["sector"] == "T" and write.set_values["created_at"] == DAY2
    assert write.remove == ()
    assert write.expected == dict.fromkeys([*write.set_values, "renamed_to"], None)
    assert write.change.fields["status"] == FieldChange(None, ACTIVE)


def test_an_asset_displaced_again_is_archived_over_its_old_archive_item() -> None:
    """The archive item the asset once left (`renamed_to` set) becomes its home again."""
    left = {
        **stored("Z", "1", note="old copy"),
        "symbol": "__asset/1",
        "status": INACTIVE,
        "renamed_to": "Z",
        "sync_action": "depart",
    }
    items = {"Z": stored("Z", "1", note="z-one"), "__asset/1": left}
    group = IdentityGroup(
        (
            Member("Z", Role.LIST, asset("Z", "3"), replaces="1"),
            Member("__asset/1", Role.ARCHIVE, source="Z", delisting=True),
        )
    )
    write = only_update(member_writes(group, items, DAY2, RUN), "__asset/1").write
    assert write.remove == ("renamed_to",)
    assert write.change == ItemChange(
        "delist",
        {
            "previous_symbol": FieldChange(None, "Z"),
            "renamed_to": FieldChange("Z", None),
            "note": FieldChange("old copy", "z-one"),
        },
    )
    assert write.set_values["previous_symbol"] == "Z" and write.set_values["note"] == "z-one"


@pytest.mark.parametrize("left", [None, Decimal(7)])
def test_an_archive_without_a_text_previous_symbol_gives_the_arrival_none(
    left: StoredValue | None,
) -> None:
    archive = {**stored("X", "1"), "symbol": "__asset/1", "status": INACTIVE}
    if left is not None:
        archive["previous_symbol"] = left
    group = IdentityGroup(
        (
            Member("Y", Role.ARRIVE, asset("Y", "1"), source="__asset/1"),
            Member("__asset/1", Role.DEPART, source="Y"),
        )
    )
    arrival, _ = member_writes(group, {"__asset/1": archive}, DAY2, RUN)
    assert isinstance(arrival, NewItem)
    assert "previous_symbol" not in arrival.item and arrival.item["sync_action"] == "rename"
    assert arrival.change == ItemChange("rename", {})


def test_a_new_item_reports_the_links_it_sets() -> None:
    group = IdentityGroup(
        (
            Member("Z", Role.LIST, asset("Z", "2"), replaces="1"),
            Member("__asset/1", Role.ARCHIVE, source="Z"),
        )
    )
    listing, archive = member_writes(group, {"Z": stored("Z", "1")}, DAY2, RUN)
    assert isinstance(listing, Update) and isinstance(archive, NewItem)
    assert archive.change == ItemChange("archive", {"previous_symbol": FieldChange(None, "Z")})
    assert listing.write.change == ItemChange(
        "list",
        {"replaces_asset_id": FieldChange(None, "1"), "asset_id": FieldChange("1", "2")},
    )


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"status": ACTIVE, "asset_id": "a"}, "a"),
        ({"status": INACTIVE, "asset_id": "a"}, "a"),
        ({"status": ACTIVE, "asset_id": ""}, None),
        ({"status": ACTIVE, "asset_id": Decimal(5)}, None),
        ({"status": ACTIVE, "asset_id": Unrecognized({"NULL": True})}, None),
        ({"status": ACTIVE}, None),
        ({"status": "pending", "asset_id": "a"}, None),  # another service's item
        (None, None),
    ],
)
def test_the_holder_is_a_non_empty_text_id_on_an_item_the_sync_wrote(
    item: dict[str, StoredValue] | None, expected: str | None
) -> None:
    assert holder(item) == expected

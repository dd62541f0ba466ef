"""Events of sync writes that record `sync_action` (docs/identity.md), and the envelope's
`reason`, `order`, `moved_attributes` and `Time`, on hand-built stream records."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.stream_records import (
    archived,
    detail,
    hand_edit,
    record,
    schema_errors,
    sync_write,
    synced,
    values,
)

from asset_sync.events import (
    ASSET_DELISTED,
    ASSET_LISTED,
    ASSET_REACTIVATED,
    ASSET_REMOVED,
    ASSET_RENAMED,
    ASSET_UPDATED,
    to_events,
)

FOREIGN = {"sector": "Technology", "last_pollenation_date": "2026-11-28"}


def events(*records: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(detail type, detail) of every event the records make, each checked against its schema."""
    entries = to_events(list(records))
    for entry in entries:
        assert schema_errors(entry) == [], entry
    return [(entry["DetailType"], detail(entry)) for entry in entries]


def only(*records: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    [found] = events(*records)
    return found


def test_a_listing_names_its_reason_order_and_the_time_of_the_change() -> None:
    new = synced("AAPL", run=42, sync_action="list")

    [entry] = to_events([record(None, new, ApproximateCreationDateTime=1796011217.4)])
    body = detail(entry)

    assert entry["DetailType"] == ASSET_LISTED
    assert entry["Time"] == 1796011217  # when the change happened, not when it is published
    assert (body["reason"], body["order"], body["run_seq"]) == ("catalog", [42, 1], 42)
    assert "replaces_asset_id" not in body and "moved_attributes" not in body


def test_a_listing_over_another_holder_names_the_asset_it_replaces() -> None:
    held = sync_write(synced("Z", asset_id="z1"), status="inactive")
    listed = sync_write(held, run=9, action="list", asset_id="z2", replaces_asset_id="z1")

    kind, body = only(record(held, listed))

    assert kind == ASSET_LISTED
    assert (body["asset_id"], body["replaces_asset_id"]) == ("z2", "z1")
    assert body["asset"]["replaces_asset_id"] == "z1"
    assert body["order"] == [9, 3]


@pytest.mark.parametrize(
    ("action", "reason"), [("update", "catalog"), ("repair", "repair")], ids=["update", "repair"]
)
def test_updates_and_repairs_are_updated_events_labelled_by_reason(
    action: str, reason: str
) -> None:
    old = synced("IBM", run=7)
    new = sync_write(old, run=9, action=action, name="IBM Corp.")

    kind, body = only(record(old, new))

    assert (kind, body["reason"], body["order"]) == (ASSET_UPDATED, reason, [9, 2])
    assert body["changes"] == {"name": {"old": "IBM Inc.", "new": "IBM Corp."}}


def test_a_repair_that_changed_no_announced_value_makes_no_event() -> None:
    old = synced("IBM")
    rewritten = sync_write(old, action="repair")  # e.g. only the hash put back
    old["margin_requirement_long"] = {"N": "30.00"}

    assert events(record(old, rewritten)) == []


def test_reactivation_and_delisting_follow_the_action() -> None:
    active = synced("F")
    delisted = sync_write(active, run=9, action="delist", status="inactive")
    back = sync_write(delisted, run=10, action="reactivate", status="active", name="Ford")

    found = events(record(active, delisted), record(delisted, back))

    assert [(kind, body["order"]) for kind, body in found] == [
        (ASSET_DELISTED, [9, 2]),
        (ASSET_REACTIVATED, [10, 3]),
    ]
    assert found[1][1]["changes"] == {
        "status": {"old": "inactive", "new": "active"},
        "name": {"old": "F Inc.", "new": "Ford"},
    }


def test_an_asset_back_from_its_archive_onto_a_held_ticker_is_reactivated() -> None:
    other = synced("Y", asset_id="id-2")
    back = sync_write(other, run=7, action="reactivate", asset_id="id-1", replaces_asset_id="id-2")
    [(kind, body)] = events(record(other, back))
    assert (kind, body["asset_id"]) == (ASSET_REACTIVATED, "id-1")
    assert body["changes"]["asset_id"] == {"old": "id-2", "new": "id-1"}
    same_holder = sync_write(other, run=7, action="reactivate")  # active -> active, same asset
    assert [kind for kind, _ in events(record(other, same_holder))] != [ASSET_REACTIVATED]


def test_an_action_its_images_contradict_is_classified_by_the_images() -> None:
    active = synced("F")
    not_delisted = sync_write(active, action="delist", name="F Holdings")  # still active

    kind, body = only(record(active, not_delisted))

    assert kind == ASSET_UPDATED
    assert body["changes"] == {"name": {"old": "F Inc.", "new": "F Holdings"}}


def test_a_rename_moves_the_old_items_foreign_attributes_and_its_old_side_announces_nothing() -> (
    None
):
    x_before = {**synced("X", asset_id="a1"), **values(**FOREIGN)}
    y_new = {**synced("Y", run=12, asset_id="a1", previous_symbol="X", sync_action="rename")}
    y_new.update(values(**FOREIGN))  # X's foreign attributes copied with the asset
    x_after = sync_write(x_before, run=12, action="depart", status="inactive", renamed_to="Y")

    found = events(record(None, y_new), record(x_before, x_after))

    [(kind, body)] = found
    assert (kind, body["symbol"], body["previous_symbol"]) == (ASSET_RENAMED, "Y", "X")
    assert body["moved_attributes"] == {"in": sorted(FOREIGN), "out": []}
    assert "replaces_asset_id" not in body  # Y held no other asset


def test_a_same_day_shift_announces_both_arrivals_with_what_moved() -> None:
    # FB=m, META=e -> META=m, METV=e (docs/identity.md): one transaction, three records.
    fb = {**synced("FB", asset_id="m"), **values(owner="m-team")}
    meta = {**synced("META", asset_id="e"), **values(owner="e-team", e_only="x")}
    metv = {**synced("METV", run=20, asset_id="e", previous_symbol="META", sync_action="rename")}
    metv.update(values(owner="e-team", e_only="x"))
    meta_after = sync_write(
        meta, run=20, action="rename", asset_id="m", previous_symbol="FB", replaces_asset_id="e"
    )
    meta_after.update(values(owner="m-team"))
    del meta_after["e_only"]
    fb_after = sync_write(fb, run=20, action="depart", status="inactive", renamed_to="META")

    found = events(record(None, metv), record(meta, meta_after), record(fb, fb_after))

    assert [(k, b["symbol"], b["previous_symbol"], b["asset_id"]) for k, b in found] == [
        (ASSET_RENAMED, "METV", "META", "e"),
        (ASSET_RENAMED, "META", "FB", "m"),
    ]
    assert "replaces_asset_id" not in found[0][1]
    assert found[1][1]["replaces_asset_id"] == "e"  # META's holder changed
    assert found[1][1]["moved_attributes"] == {"in": ["owner"], "out": ["e_only"]}


def test_a_reused_ticker_lists_the_new_asset_and_archives_the_old_silently() -> None:
    z = {**sync_write(synced("Z", asset_id="z1"), status="inactive"), **values(**FOREIGN)}
    z_new = sync_write(z, run=30, action="list", asset_id="z2", replaces_asset_id="z1")
    for name in FOREIGN:
        del z_new[name]
    archive = {**archived("z1", "Z", run=30), **values(**FOREIGN)}

    found = events(record(z, z_new), record(None, archive))

    [(kind, body)] = found
    assert (kind, body["symbol"], body["replaces_asset_id"]) == (ASSET_LISTED, "Z", "z1")
    assert body["moved_attributes"] == {"in": [], "out": sorted(FOREIGN)}


def test_a_displaced_active_asset_is_delisted_under_its_ticker_from_its_archive_item() -> None:
    archive = archived("z1", "Z", run=31, sync_action="delist")

    kind, body = only(record(None, archive))

    assert kind == ASSET_DELISTED
    assert (body["symbol"], body["archived_as"], body["asset_id"]) == ("Z", "__asset/z1", "z1")
    assert body["changes"] == {"status": {"old": "active", "new": "inactive"}}
    assert body["order"] == [31, 1]  # the archive item's own order


def test_an_archive_item_announces_nothing_but_its_assets_delisting() -> None:
    archive = archived("q1", "Q")
    relisted = sync_write(archive, run=40, action="depart", renamed_to="Q2")
    repaired = sync_write(archive, run=41, action="repair", name="typo fixed")

    assert events(record(None, archive), record(archive, relisted), record(archive, repaired)) == []


def test_a_hand_edit_is_manual_whatever_sync_action_the_item_still_records() -> None:
    stored = synced("T", run=15, version=3, sync_action="repair")
    edited = hand_edit(stored, name="typed by hand", sector="x")

    kind, body = only(record(stored, edited))

    assert (kind, body["reason"], body["run_seq"], body["order"]) == (
        ASSET_UPDATED,
        "manual",
        None,
        [15, 4],
    )
    assert "moved_attributes" not in body  # only the sync's writes report moved attributes


def test_items_of_a_version_without_sync_action_keep_the_image_rules() -> None:
    old = synced("GE")
    new = sync_write(old, run=10, status="inactive")

    kind, body = only(record(old, new))

    assert (kind, body["reason"], body["order"]) == (ASSET_DELISTED, "catalog", [10, 2])


def test_order_keys_grow_across_a_hand_delete_and_the_syncs_recreation() -> None:
    item = synced("KO", run=7)
    updated = sync_write(item, run=8, action="update", name="Coca-Cola")
    edited = hand_edit(updated, tradable=False)
    recreated = synced("KO", run=9, sync_action="list")

    found = events(
        record(None, item),
        record(item, updated),
        record(updated, edited),
        record(edited, None),
        record(None, recreated),
    )

    assert [kind for kind, _ in found] == [
        ASSET_LISTED,
        ASSET_UPDATED,
        ASSET_UPDATED,
        ASSET_REMOVED,
        ASSET_LISTED,
    ]
    orders = [body["order"] for _, body in found]
    assert orders == [[7, 1], [8, 2], [8, 3], [8, 4], [9, 1]]
    assert orders == sorted(orders) and len({tuple(o) for o in orders}) == len(orders)


def test_removing_an_archive_item_names_the_ticker_and_the_archive_key() -> None:
    kind, body = only(record(archived("z1", "Z", run=5), None))

    assert kind == ASSET_REMOVED
    assert (body["symbol"], body["archived_as"], body["order"]) == ("Z", "__asset/z1", [5, 2])


def test_a_write_that_only_moved_foreign_attributes_is_announced_with_what_moved() -> None:
    old = synced("NVDA")
    new = sync_write(old, run=9, action="update")
    new.update(values(**FOREIGN))

    kind, body = only(record(old, new))

    assert (kind, body["changes"]) == (ASSET_UPDATED, {})
    assert body["moved_attributes"] == {"in": sorted(FOREIGN), "out": []}

"""Which write of the assets table makes a version, and what the version holds (pure)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from tests.support.stream_records import archived, hand_edit, record, sync_write, synced

from asset_sync.history.versions import (
    MANUAL,
    REPAIR,
    SHARDS,
    StreamRecordError,
    Version,
    shard_of,
    version_of_item,
    version_of_record,
)


def version(old: Any, new: Any, **stream: Any) -> Version | None:
    return version_of_record(record(old, new, **stream))


def test_a_listing_is_a_version_of_the_asset_with_its_run_and_the_runs_start() -> None:
    new = synced("AAPL", run=7, sync_action="list")

    found = version(None, new)

    assert found is not None
    assert (found.asset_id, found.symbol, found.version, found.run_seq) == (
        "id-AAPL",
        "AAPL",
        "000000000007",
        7,
    )
    assert (found.reason, found.sync_action, found.status) == ("catalog", "list", "active")
    assert found.changed_at == "2026-11-30T04:00:00.000000Z"  # the run's start, not the stream's
    assert found.state["margin_requirement_long"] == {"N": "30"}
    assert "sync_hash" not in found.state and "symbol" not in found.state


def test_an_update_a_repair_and_a_delisting_are_versions_with_their_reason() -> None:
    old = synced("AAPL")
    updated = version(old, sync_write(old, run=8, action="update", name="Apple"))
    repaired = version(old, sync_write(old, run=9, action="repair", tradable=False))
    delisted = version(old, sync_write(old, run=10, action="delist", status="inactive"))

    assert updated is not None and repaired is not None and delisted is not None
    assert (updated.reason, updated.state["name"]) == ("catalog", {"S": "Apple"})
    assert (repaired.reason, repaired.state["tradable"]) == (REPAIR, {"BOOL": False})
    assert (delisted.status, delisted.version) == ("inactive", "000000000010")


def test_a_sync_write_that_changes_no_owned_state_makes_none() -> None:
    old = synced("AAPL")
    same = sync_write(old, run=8, action="update", margin_requirement_long=Decimal("30.00"))

    assert version(old, same) is None  # equal decimals by value: no change
    assert version(old, hand_edit(old, sector="Tech")) is None  # another service's attribute


@pytest.mark.parametrize("action", ["depart", "archive"])
def test_a_departure_and_an_archive_write_make_none(action: str) -> None:
    old = synced("FB", asset_id="m")
    new = sync_write(old, run=9, action=action, status="inactive", renamed_to="META")
    archive = archived("z1", "Z", run=9)

    assert version(old, new) is None
    assert version(None, archive) is None  # `archive`: the asset's state did not change


def test_an_arrival_is_a_version_under_the_new_ticker() -> None:
    arrival = synced("META", run=9, asset_id="m", previous_symbol="FB", sync_action="rename")
    back = synced("AAA", run=10, asset_id="1", previous_symbol="BBB", sync_action="rename")
    old_item = synced("AAA", run=8, asset_id="1", status="inactive", renamed_to="BBB")

    found = version(None, arrival)
    returned = version(old_item, back)

    assert found is not None and (found.symbol, found.asset_id) == ("META", "m")
    assert returned is not None and (returned.symbol, returned.status) == ("AAA", "active")


def test_a_delisting_on_an_archive_item_names_the_ticker_never_the_archive_key() -> None:
    delisted = archived("z1", "Z", run=9, sync_action="delist")

    found = version(None, delisted)

    assert found is not None
    assert (found.symbol, found.asset_id, found.status) == ("Z", "z1", "inactive")


def test_an_archive_item_without_its_ticker_cannot_be_read() -> None:
    broken = archived("z1", "Z", run=9, sync_action="delist", previous_symbol=None)

    with pytest.raises(StreamRecordError, match="previous_symbol"):
        version(None, broken)


def test_a_hand_edit_is_a_manual_version_after_the_run_that_last_wrote_the_item() -> None:
    old = synced("AAPL", run=7)
    edited = hand_edit(old, tradable=False)

    first = version(old, edited, SequenceNumber="111", ApproximateCreationDateTime=1796040000)
    again = version(old, edited, SequenceNumber="111", ApproximateCreationDateTime=1796040000)
    later = version(edited, hand_edit(edited, name="x"), SequenceNumber="222")

    assert first is not None and again is not None and later is not None
    assert (first.reason, first.run_seq, first.sync_action) == (MANUAL, None, None)
    assert first.version == "000000000007m" + "111".zfill(40)
    assert first.changed_at == "2026-11-30T12:00:00.000000Z"  # when the stream recorded it
    assert first == again  # a redelivery is the same version
    assert "000000000007" < first.version < later.version < "000000000008"


def test_a_hand_edit_of_an_item_the_asset_left_makes_none() -> None:
    old_item = synced("FB", asset_id="m", status="inactive", renamed_to="META")

    assert version(old_item, hand_edit(old_item, name="Facebook")) is None


def test_a_deleted_home_is_a_removed_version_and_other_deletes_make_none() -> None:
    home = synced("AAPL", run=7)

    removed = version(home, None, SequenceNumber="5")

    assert removed is not None and removed.removed and removed.reason == MANUAL
    assert version(synced("FB", renamed_to="META"), None) is None
    assert version({"symbol": {"S": "X"}, "sector": {"S": "Tech"}}, None) is None


def test_another_services_item_makes_none() -> None:
    theirs = {"symbol": {"S": "X"}, "sector": {"S": "Tech"}}

    assert version(None, theirs) is None
    assert version(theirs, {**theirs, "rating": {"S": "A"}}) is None


@pytest.mark.parametrize(
    "broken",
    [
        {"eventID": "1", "eventName": "MODIFY"},
        {"eventID": "1", "eventName": "TTL", "dynamodb": {}},
        {"eventID": "1", "eventName": "MODIFY", "dynamodb": {"Keys": {"symbol": {"S": "A"}}}},
    ],
)
def test_a_record_that_cannot_be_read_is_an_error(broken: dict[str, Any]) -> None:
    with pytest.raises(StreamRecordError):
        version_of_record(broken)


def test_a_version_round_trips_through_its_item_and_is_keyed_by_asset_and_run() -> None:
    found = version(None, synced("AAPL", run=7, sync_action="list"))
    assert found is not None

    item = found.to_item()

    assert Version.from_item(item) == found
    assert set(item) == {"shard", "key", "symbol", "data"}  # a year of versions parses fast
    assert item["shard"] == {"S": shard_of("id-AAPL")}
    assert item["key"] == {"S": "id-AAPL#000000000007"}
    assert json.loads(item["data"]["S"])["state"]["margin_requirement_long"] == {"N": "30"}


def test_shards_spread_ids_and_never_move_one() -> None:
    shards = {shard_of(f"asset-{n}") for n in range(2000)}

    assert shards == {f"{n:02d}" for n in range(SHARDS)}
    # Fixed forever, and portable: sha256 of the id's UTF-8, first 4 bytes big-endian, mod 32
    # (sha256 = 886d68ab...; 0x886d68ab % 32 = 11).
    assert shard_of("b0b6dd9d-8b9b-48a9-ba46-b9d54906e415") == "11"


def test_backfill_records_an_items_state_under_the_run_that_last_wrote_it() -> None:
    item = synced("AAPL", run=7, sync_action="repair")
    archive = archived("z1", "Z", run=9)

    found = version_of_item("AAPL", item, now="2026-12-06T00:00:00.000000Z")
    kept = version_of_item(archive["symbol"]["S"], archive, now="x")
    streamed = version(None, synced("AAPL", run=7, sync_action="list"))

    assert found is not None and streamed is not None
    assert (found.version, found.reason, found.changed_at) == (
        "000000000007",
        REPAIR,
        "2026-11-30T04:00:00.000000Z",
    )
    assert found.sort_key == streamed.sort_key  # what the stream writer wrote is not rewritten
    assert kept is not None and kept.symbol == "Z"
    assert version_of_item("FB", synced("FB", renamed_to="META"), now="x") is None

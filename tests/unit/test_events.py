"""`to_events`: one event per real change of owned state, on hand-built stream records."""

from __future__ import annotations

import json
import logging
import uuid
from decimal import Decimal
from typing import Any

import pytest
from tests.support.stream_records import (
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
    SOURCE,
    StreamRecordError,
    to_events,
)
from asset_sync.events.entries import MAX_ENTRY_BYTES, entry_size
from asset_sync.events.transform import ANNOUNCED_ATTRIBUTES
from asset_sync.logic.models import BOOKKEEPING_ATTRIBUTES, CONTENT_ATTRIBUTES


def only_event(*records: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The single event the records make, checked against its schema."""
    entries = to_events(list(records))
    assert len(entries) == 1, entries
    entry = entries[0]
    assert entry["Source"] == SOURCE
    assert "EventBusName" not in entry  # the publisher adds it
    assert schema_errors(entry) == []
    return entry["DetailType"], detail(entry)


def test_an_item_the_sync_creates_is_listed_with_every_owned_attribute() -> None:
    kind, body = only_event(record(None, synced("AAPL", run=3, cusip=None)))

    assert kind == ASSET_LISTED
    assert body["symbol"] == "AAPL"
    assert body["asset_id"] == "id-AAPL"
    assert body["run_seq"] == 3
    assert body["sync_version"] == 1
    assert body["changed_at"] == "2026-11-30T04:00:00Z"
    assert set(body["asset"]) == set(ANNOUNCED_ATTRIBUTES)
    assert body["asset"]["status"] == "active"
    assert body["asset"]["tradable"] is True
    assert body["asset"]["attributes"] == ["has_options"]
    assert body["asset"]["margin_requirement_long"] == "30"
    assert body["asset"]["cusip"] is None  # absent as null
    assert body["asset"]["previous_symbol"] is None
    for name in BOOKKEEPING_ATTRIBUTES:
        assert name not in body["asset"]


def test_the_sync_first_write_on_an_item_another_service_created_is_listed() -> None:
    foreign = values(symbol="MSFT", sector="Technology")
    first_write = {**foreign, **synced("MSFT", run=4)}

    assert to_events([record(None, foreign)]) == []  # another service's item: no event
    kind, body = only_event(record(foreign, first_write))

    assert kind == ASSET_LISTED
    assert body["run_seq"] == 4
    assert body["asset"]["name"] == "MSFT Inc."
    assert "sector" not in body["asset"]


def test_an_update_names_old_and_new_of_each_changed_owned_attribute() -> None:
    old = synced("IBM")
    new = sync_write(old, run=9, name="IBM Corp.", tradable=False, borrow_status=None)

    kind, body = only_event(record(old, new))

    assert kind == ASSET_UPDATED
    assert body["run_seq"] == 9
    assert body["sync_version"] == 2
    assert body["changes"] == {
        "name": {"old": "IBM Inc.", "new": "IBM Corp."},
        "tradable": {"old": True, "new": False},
        "borrow_status": {"old": "easy_to_borrow", "new": None},  # removed: null
    }


def test_decimals_are_exact_text_and_compared_by_value() -> None:
    old = synced("BTC/USD", min_order_size=Decimal("0.000000001"))
    old["price_increment"] = {"N": "0.10"}
    new = sync_write(old, min_order_size=Decimal("0.0000000025"))
    new["price_increment"] = {"N": "0.1"}  # the same value written as other text
    new["margin_requirement_long"] = {"N": "30.00"}

    kind, body = only_event(record(old, new))

    assert kind == ASSET_UPDATED
    assert body["changes"] == {
        "min_order_size": {"old": "0.000000001", "new": "0.0000000025"},
    }
    rewrite = sync_write(new)
    rewrite["min_order_size"] = {"N": "2.5E-9"}
    assert to_events([record(new, rewrite)]) == []  # equal value: not a change


def test_delisting_is_one_event_with_the_status_change() -> None:
    old = synced("GE")
    new = sync_write(old, run=10, status="inactive")

    kind, body = only_event(record(old, new))

    assert kind == ASSET_DELISTED
    assert body["changes"] == {"status": {"old": "active", "new": "inactive"}}
    assert body["run_seq"] == 10


def test_reactivation_with_changed_content_is_one_reactivated_event_with_changes() -> None:
    old = sync_write(synced("F"), status="inactive")
    new = sync_write(old, run=11, status="active", name="Ford Motor Co.")

    kind, body = only_event(record(old, new))

    assert kind == ASSET_REACTIVATED
    assert body["changes"] == {
        "status": {"old": "inactive", "new": "active"},
        "name": {"old": "F Inc.", "new": "Ford Motor Co."},
    }


def test_a_rename_is_one_event_from_the_new_item_and_none_from_the_old() -> None:
    old_before = synced("FB", asset_id="id-meta")
    old_after = sync_write(old_before, run=12, status="inactive", renamed_to="META")
    new_item = synced("META", run=12, asset_id="id-meta", previous_symbol="FB")

    entries = to_events([record(None, new_item), record(old_before, old_after)])

    assert [entry["DetailType"] for entry in entries] == [ASSET_RENAMED]
    body = detail(entries[0])
    assert schema_errors(entries[0]) == []
    assert (body["symbol"], body["previous_symbol"], body["asset_id"]) == ("META", "FB", "id-meta")
    assert body["asset"]["previous_symbol"] == "FB"
    assert body["run_seq"] == 12
    assert to_events([record(old_before, old_after)]) == []  # no Delisted for the old side


def test_a_rename_onto_an_existing_item_is_renamed_not_reactivated() -> None:
    reused = sync_write(synced("NEW"), status="inactive")  # an older asset once had the ticker
    renamed = sync_write(reused, run=13, status="active", previous_symbol="OLD", name="Renamed")

    kind, body = only_event(record(reused, renamed))

    assert kind == ASSET_RENAMED
    assert body["previous_symbol"] == "OLD"
    assert body["asset"]["status"] == "active"


def test_a_ticker_swap_announces_the_new_asset_on_each_symbol() -> None:
    a_old, b_old = synced("A", asset_id="id-a"), synced("B", asset_id="id-b")
    a_new = sync_write(a_old, asset_id="id-b", previous_symbol="B", renamed_to="B")
    b_new = sync_write(b_old, asset_id="id-a", previous_symbol="A", renamed_to="A")

    entries = to_events([record(a_old, a_new), record(b_old, b_new)])

    assert [(e["DetailType"], detail(e)["symbol"], detail(e)["asset_id"]) for e in entries] == [
        (ASSET_RENAMED, "A", "id-b"),
        (ASSET_RENAMED, "B", "id-a"),
    ]


def test_writes_of_only_foreign_attributes_make_no_event() -> None:
    old = synced("NVDA")
    annotated = {**old, **values(sector="Technology", last_pollenation_date="2026-11-28")}
    unchanged_rewrite = dict(annotated)  # a rewrite of the same values (moto streams those)

    assert to_events([record(old, annotated), record(annotated, unchanged_rewrite)]) == []


def test_writes_of_only_bookkeeping_make_no_event() -> None:
    old = synced("AMD")
    bumped = sync_write(old, run=14)  # version, hash, timestamps and run number all change
    by_hand = hand_edit(bumped)  # only sync_version

    assert to_events([record(old, bumped), record(bumped, by_hand)]) == []


def test_owned_attributes_on_an_item_the_sync_never_wrote_make_no_event() -> None:
    foreign = values(symbol="ZZZ", sector="x")
    edited = hand_edit({**foreign, **values(name="typed by hand")})

    assert to_events([record(foreign, edited)]) == []


def test_a_hand_edit_of_owned_attributes_is_announced_with_a_null_run_seq() -> None:
    stored = synced("T", run=15)
    edited = hand_edit(stored, name="AT&T by hand")
    repaired = sync_write(edited, run=16, name="T Inc.")

    hand_kind, hand_body = only_event(record(stored, edited))
    sync_kind, sync_body = only_event(record(edited, repaired))

    assert hand_kind == sync_kind == ASSET_UPDATED
    assert hand_body["run_seq"] is None
    assert hand_body["changes"] == {"name": {"old": "T Inc.", "new": "AT&T by hand"}}
    assert sync_body["run_seq"] == 16
    assert sync_body["changes"] == {"name": {"old": "AT&T by hand", "new": "T Inc."}}


def test_items_written_before_run_numbers_existed_have_a_null_run_seq() -> None:
    old = synced("OLDCODE", run=None)
    new = sync_write(old, name="x")
    del new["sync_run_seq"]

    assert only_event(record(old, new))[1]["run_seq"] is None
    assert only_event(record(None, synced("NEWCODE", run=None)))[1]["run_seq"] is None


class Collect(logging.Handler):
    """Keeps the records of the logger it is attached to (whatever its propagation)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_hand_delete_of_a_sync_item_is_announced_as_removed_and_logged() -> None:
    collect = Collect()
    transform_logger = logging.getLogger("asset_sync.events.transform")
    transform_logger.addHandler(collect)
    try:
        deleted = record(synced("GONE", run=7, version=4), None, event_id="e-1")
        deleted["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
        kind, body = only_event(deleted)
    finally:
        transform_logger.removeHandler(collect)

    assert kind == ASSET_REMOVED
    assert body == {
        "event_id": body["event_id"],
        "symbol": "GONE",
        "asset_id": "id-GONE",
        "run_seq": None,
        "sync_version": None,
        "changed_at": "2026-11-30T04:00:00Z",
        "reason": "manual",
        "order": [7, 5],  # one past the deleted item's last write
        "removed_by": "dynamodb.amazonaws.com",
    }
    [warning] = collect.records
    assert "deleted outside the sync" in warning.getMessage()
    assert warning.__dict__["symbol"] == "GONE"
    assert warning.__dict__["stream_event_id"] == "e-1"
    assert warning.__dict__["deleted_by"] == "dynamodb.amazonaws.com"


def test_deleting_an_item_the_sync_never_wrote_makes_no_event() -> None:
    foreign = values(symbol="ZZZ", sector="x")
    no_images = record(synced("KEYS"), None)
    del no_images["dynamodb"]["OldImage"]

    assert to_events([record(foreign, None), no_images]) == []
    _, body = only_event(record(synced("ANON", run=None, version=2), None))
    assert (body["order"], body["removed_by"]) == ([0, 3], None)


def test_event_ids_are_stable_per_stream_record_and_distinct_between_records() -> None:
    old = synced("KO")
    write = record(old, sync_write(old, name="Coca-Cola"), event_id="c4ca4238a0b92382")
    redelivered = json.loads(json.dumps(write))
    other = record(old, sync_write(old, name="Coca-Cola"), event_id="c81e728d9d4c2f63")

    first = detail(to_events([write])[0])["event_id"]
    again = detail(to_events([synced_noise(), redelivered])[-1])["event_id"]

    assert first == again
    assert uuid.UUID(first).version == 5
    assert detail(to_events([other])[0])["event_id"] != first


def synced_noise() -> dict[str, Any]:
    """An unrelated record in front, so the id cannot depend on the position in the batch."""
    return record(None, synced("NOISE"))


def test_an_oversized_detail_is_truncated_under_the_limit_and_keeps_its_schema() -> None:
    old = synced("BIG", name="Ö" * 70_000)  # 140,000 bytes of UTF-8
    new = sync_write(old, name="Ä" * 70_000, tradable=False)  # old + new: 280,000 bytes

    [entry] = to_events([record(old, new)])
    body = detail(entry)

    assert entry_size(entry) <= MAX_ENTRY_BYTES
    assert body["truncated"] is True
    assert body["changed_attributes"] == ["name", "tradable"]
    assert "changes" not in body
    assert body["symbol"] == "BIG" and body["event_id"]
    assert schema_errors(entry) == []
    [listed] = to_events([record(None, synced("BIG2", name="Ä" * 140_000))])
    assert detail(listed)["truncated"] is True
    assert "name" in detail(listed)["changed_attributes"]


def test_an_event_that_cannot_be_truncated_enough_is_refused() -> None:
    old = synced("HUGE")
    new = hand_edit(old, asset_id="x" * 300_000)

    with pytest.raises(StreamRecordError, match="cannot fit"):
        to_events([record(old, new)])


def test_records_without_images_are_refused_not_guessed() -> None:
    keys_only = record(synced("X"), sync_write(synced("X"), name="y"))
    del keys_only["dynamodb"]["OldImage"], keys_only["dynamodb"]["NewImage"]

    with pytest.raises(StreamRecordError, match="NEW_AND_OLD_IMAGES"):
        to_events([keys_only])
    with pytest.raises(StreamRecordError, match="eventName"):
        to_events([{**keys_only, "eventName": "TRUNCATE"}])


def test_every_owned_content_attribute_is_announced() -> None:
    assert set(CONTENT_ATTRIBUTES) < set(ANNOUNCED_ATTRIBUTES)
    assert not set(BOOKKEEPING_ATTRIBUTES) & set(ANNOUNCED_ATTRIBUTES)
    assert {"status", "previous_symbol", "renamed_to"} < set(ANNOUNCED_ATTRIBUTES)

"""`to_events` over moto's real stream after real syncs: exactly one event per real change."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from tests.support import Env, run_cli
from tests.support import asset_record as asset
from tests.support.stream_records import schema_errors

from asset_sync.dal.serialization import to_json
from asset_sync.events import (
    ASSET_DELISTED,
    ASSET_LISTED,
    ASSET_REACTIVATED,
    ASSET_UPDATED,
    to_events,
)
from asset_sync.events.transform import ANNOUNCED_ATTRIBUTES
from asset_sync.local.stream import TableStream
from asset_sync.logic.report import RunReport
from asset_sync.wiring import build_run

ACTION_EVENTS = {"update": ASSET_UPDATED, "delist": ASSET_DELISTED, "reactivate": ASSET_REACTIVATED}


@pytest.fixture
def stream(env: Env) -> TableStream:
    """The assets table's stream, read from its start."""
    return TableStream(env.settings.assets_table, env.settings.dynamodb_endpoint_url)


CLASSES = ("us_equity", "crypto")  # Alpaca returns only us_equity unless asked for others


def sync(env: Env, catalog: list[dict[str, Any]], **overrides: Any) -> RunReport:
    """One real sync of `catalog`, asking for both classes it holds."""
    env.stand_in.set_assets(catalog)
    return build_run(replace(env.settings, asset_classes=CLASSES, **overrides)).run()


def events(stream: TableStream) -> dict[str, tuple[str, dict[str, Any]]]:
    """The events of the new stream records by symbol; at most one per symbol, schema-valid."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for entry in to_events(stream.read_new()):
        assert schema_errors(entry) == [], entry
        body = json.loads(entry["Detail"])
        assert body["symbol"] not in out, f"two events for {body['symbol']}"
        out[body["symbol"]] = (entry["DetailType"], body)
    return out


def crypto(**overrides: Any) -> dict[str, Any]:
    record = asset(
        "BTC/USD",
        **{"class": "crypto"},
        exchange="CRYPTO",
        min_order_size="0.000000001",
        price_increment="0.10",
    )
    record.pop("borrow_status")
    return {**record, **overrides}


def day_one() -> list[dict[str, Any]]:
    return [asset(f"S{i:02d}") for i in range(10)] + [crypto()]


def annotate(env: Env, symbol: str) -> None:
    """Another service writes its own attributes (creating the item if it is new)."""
    env.assets.client.update_item(
        TableName=env.settings.assets_table,
        Key={"symbol": {"S": symbol}},
        UpdateExpression="SET sector = :s, last_pollenation_date = :d",
        ExpressionAttributeValues={":s": {"S": "Tech"}, ":d": {"S": "2026-11-28"}},
    )


def test_day_one_lists_every_asset_with_its_stored_owned_state(
    env: Env, stream: TableStream
) -> None:
    report = sync(env, day_one())

    found = events(stream)

    assert report.created == 11
    assert set(found) == {a["symbol"] for a in day_one()}
    for symbol, (kind, body) in found.items():
        raw = env.raw_item(symbol)
        assert raw is not None
        assert kind == ASSET_LISTED
        assert body["asset"] == {name: to_json(raw.get(name)) for name in ANNOUNCED_ATTRIBUTES}
        assert body["asset_id"] == raw["asset_id"]["S"]
        assert body["sync_version"] == 1
    btc = found["BTC/USD"][1]["asset"]
    assert (btc["min_order_size"], btc["price_increment"]) == ("0.000000001", "0.10")
    assert btc["borrow_status"] is None and btc["cusip"] is None


def test_day_two_announces_each_kind_of_change_once_and_foreign_writes_never(
    env: Env, stream: TableStream
) -> None:
    sync(env, day_one())
    stream.read_new()
    for symbol in ("S00", "S01", "S05", "FOREIGN"):  # FOREIGN: created by another service
        annotate(env, symbol)
    assert events(stream) == {}

    day_two = [a for a in day_one() if a["symbol"] not in ("S08", "S09")]
    day_two[1] = asset("S01", name="S01 Holdings Inc.")
    day_two[2] = asset("S02", tradable=False, attributes=[])
    day_two[-1] = crypto(min_order_size="0.00000001")
    day_two += [asset("NEW1"), asset("FOREIGN")]
    report = sync(env, day_two, max_delist_fraction=0.5)
    found = events(stream)

    assert {symbol: kind for symbol, (kind, _) in found.items()} == {
        "NEW1": ASSET_LISTED,
        "FOREIGN": ASSET_LISTED,  # the sync's first write on another service's item
        "S01": ASSET_UPDATED,
        "S02": ASSET_UPDATED,
        "BTC/USD": ASSET_UPDATED,
        "S08": ASSET_DELISTED,
        "S09": ASSET_DELISTED,
    }
    assert set(found) == set(report.changes)
    for symbol, change in report.changes.items():
        if change.action in ACTION_EVENTS:  # the same old/new as the run report
            assert found[symbol][1]["changes"] == change.to_json()["fields"], symbol
    assert found["BTC/USD"][1]["changes"] == {
        "min_order_size": {"old": "0.000000001", "new": "0.00000001"}
    }
    assert found["S02"][1]["changes"]["attributes"] == {"old": ["has_options"], "new": []}
    assert found["FOREIGN"][1]["asset"]["name"] == "FOREIGN Inc."
    assert "sector" not in found["FOREIGN"][1]["asset"]


def test_reactivation_carries_the_content_that_changed_with_it(
    env: Env, stream: TableStream
) -> None:
    sync(env, day_one())
    sync(env, day_one()[:8] + day_one()[10:], max_delist_fraction=0.5)  # S08, S09 delisted
    stream.read_new()

    back = [*day_one()[:8], asset("S08", name="S08 Reborn Inc."), asset("S09"), crypto()]
    report = sync(env, back)
    found = events(stream)

    assert report.reactivated == 2
    assert found["S08"] == (ASSET_REACTIVATED, found["S08"][1])
    assert found["S08"][1]["changes"] == {
        "status": {"old": "inactive", "new": "active"},
        "name": {"old": "S08 Inc.", "new": "S08 Reborn Inc."},
    }
    assert found["S09"][0] == ASSET_REACTIVATED
    assert found["S09"][1]["changes"] == {"status": {"old": "inactive", "new": "active"}}
    assert set(found) == {"S08", "S09"}


def test_an_unchanged_rerun_makes_no_stream_record_and_no_event(
    env: Env, stream: TableStream
) -> None:
    sync(env, day_one())
    stream.read_new()

    report = sync(env, day_one())

    assert report.unchanged == 11
    assert stream.read_new() == []


def test_events_carry_the_run_number_of_the_sync_that_wrote(env: Env, stream: TableStream) -> None:
    first = sync(env, day_one())
    day_one_events = events(stream)
    second = sync(env, [asset("S00", name="S00 Renamed Co."), *day_one()[1:]])
    day_two_events = events(stream)

    assert first.run_seq is not None and second.run_seq == first.run_seq + 1
    assert {body["run_seq"] for _, body in day_one_events.values()} == {first.run_seq}
    assert {symbol: body["run_seq"] for symbol, (_, body) in day_two_events.items()} == {
        "S00": second.run_seq
    }


def test_a_full_reconciliation_of_an_unchanged_table_makes_no_event(
    env: Env, stream: TableStream
) -> None:
    sync(env, day_one())
    stream.read_new()

    report = sync(env, day_one(), full=True)

    assert report.full
    assert to_events(stream.read_new()) == []


def test_a_hand_edit_is_announced_without_a_run_and_its_repair_with_one(
    env: Env, stream: TableStream
) -> None:
    sync(env, day_one())
    stream.read_new()
    env.assets.client.update_item(  # a manual fix, following the writer rules
        TableName=env.settings.assets_table,
        Key={"symbol": {"S": "S03"}},
        UpdateExpression="SET #n = :n, sync_version = sync_version + :one",
        ExpressionAttributeNames={"#n": "name"},
        ExpressionAttributeValues={":n": {"S": "typed by hand"}, ":one": {"N": "1"}},
    )
    by_hand = events(stream)

    repair = sync(env, day_one(), full=True)
    repaired = events(stream)

    assert by_hand["S03"][0] == ASSET_UPDATED
    assert by_hand["S03"][1]["run_seq"] is None
    assert by_hand["S03"][1]["changes"] == {"name": {"old": "S03 Inc.", "new": "typed by hand"}}
    assert set(repaired) == {"S03"}
    assert repaired["S03"][0] == ASSET_UPDATED
    assert repaired["S03"][1]["run_seq"] == repair.run_seq
    assert repaired["S03"][1]["changes"] == {"name": {"old": "typed by hand", "new": "S03 Inc."}}


def test_create_table_enables_the_stream_with_new_and_old_images(env: Env) -> None:
    table = f"{env.settings.assets_table}_cli"
    result = run_cli("create-table", "--table", table, env=env.cli_env())
    assert result.code == 0, result.stderr

    described = env.assets.client.describe_table(TableName=table)["Table"]

    assert described["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    assert described["LatestStreamArn"]


def test_a_rename_is_one_renamed_event_and_the_old_symbol_makes_none(
    env: Env, stream: TableStream
) -> None:
    catalog = day_one()
    sync(env, catalog)
    stream.read_new()
    old = catalog[3]
    moved = {**old, "symbol": "S03NEW", "name": "S03 New Name Inc."}  # same asset id

    report = sync(env, [*catalog[:3], moved, *catalog[4:]])
    announced = events(stream)

    assert report.renames == [{"from": "S03", "to": "S03NEW", "asset_id": old["id"]}]
    assert set(announced) == {"S03NEW"}  # the old item's write (renamed_to) announces nothing
    detail_type, body = announced["S03NEW"]
    assert detail_type == "Asset Renamed"
    assert (body["symbol"], body["previous_symbol"], body["asset_id"]) == (
        "S03NEW",
        "S03",
        old["id"],
    )
    assert body["run_seq"] == report.run_seq

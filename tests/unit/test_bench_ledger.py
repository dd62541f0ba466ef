"""The benchmark's write-unit ledger bills both indexes of the assets table by DynamoDB's rules:
`status-index` (projection ALL) on any change, `asset-id-index` (keys only) only when an item's
`asset_id` is set, changed or removed; every item of a transaction twice."""

from __future__ import annotations

import json
from typing import Any

from bench.ledger import Capture, Ledger
from bench.units import Item

from asset_sync.contract import ASSET_ID_INDEX, STATUS_INDEX
from asset_sync.dal.assets import ASSETS_SPEC

TABLE = "assets"


def item(symbol: str, asset_id: str, status: str = "active") -> Item:
    return {
        "symbol": {"S": symbol},
        "asset_id": {"S": asset_id},
        "status": {"S": status},
        "name": {"S": f"{symbol} Inc."},
    }


def ledger(*items: Item) -> Ledger:
    book = Ledger()
    book.add_table(TABLE, ASSETS_SPEC.key, ASSETS_SPEC.indexes)
    for stored in items:
        book.put(TABLE, stored)
    return book


def update(symbol: str, **values: str) -> dict[str, Any]:
    names = {f"#s{i}": name for i, name in enumerate(values)}
    return {
        "TableName": TABLE,
        "Key": {"symbol": {"S": symbol}},
        "UpdateExpression": "SET " + ", ".join(f"#s{i} = :s{i}" for i in range(len(values))),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": {f":s{i}": {"S": v} for i, v in enumerate(values.values())},
    }


def capture(operation: str, request: dict[str, Any]) -> Capture:
    return Capture(operation, json.dumps(request).encode(), 200, b"")


def test_a_put_enters_both_indexes_once() -> None:
    bill = ledger().bill([capture("PutItem", {"TableName": TABLE, "Item": item("AAA", "a1")})])
    assert bill.base_units == 1
    assert bill.index_units_by_name == {STATUS_INDEX: 1, ASSET_ID_INDEX: 1}
    assert bill.index_units == 2


def test_a_status_change_costs_the_status_index_twice_and_the_asset_id_index_nothing() -> None:
    bill = ledger(item("AAA", "a1")).bill([capture("UpdateItem", update("AAA", status="inactive"))])
    assert bill.index_units_by_name[STATUS_INDEX] == 2  # moved between partitions
    assert bill.index_units_by_name[ASSET_ID_INDEX] == 0  # its keys did not change


def test_an_asset_id_change_deletes_and_puts_the_asset_id_entry() -> None:
    bill = ledger(item("META", "etf")).bill([capture("UpdateItem", update("META", asset_id="m"))])
    assert bill.index_units_by_name[ASSET_ID_INDEX] == 2
    assert bill.index_units_by_name[STATUS_INDEX] == 1  # same status: one entry rewritten


def test_a_transaction_bills_every_item_and_its_index_writes_twice() -> None:
    swap = {
        "TransactItems": [
            {"Update": update("A", asset_id="2")},
            {"Update": update("B", asset_id="1")},
        ]
    }
    bill = ledger(item("A", "1"), item("B", "2")).bill([capture("TransactWriteItems", swap)])
    assert bill.units_by_table[TABLE] == 4  # 2 items, 1 unit each, twice
    assert bill.index_units_by_name == {STATUS_INDEX: 4, ASSET_ID_INDEX: 8}
    assert bill.transact_units == bill.total_units == 16


def test_a_query_of_the_keys_only_index_is_billed_on_its_entries() -> None:
    big = [{**item(f"S{i}", "shared"), "notes": {"S": "x" * 1_000}} for i in range(10)]
    book = ledger(*big)
    keys = [{"symbol": i["symbol"], "asset_id": i["asset_id"]} for i in big]

    def query(index: str) -> Capture:
        request = {"TableName": TABLE, "IndexName": index, "KeyConditionExpression": "k = :v"}
        return Capture(
            "Query", json.dumps(request).encode(), 200, json.dumps({"Items": keys}).encode()
        )

    assert book.bill([query(ASSET_ID_INDEX)]).read_units == 0.5  # 10 small entries: one 4 KB block
    assert book.bill([query(STATUS_INDEX)]).read_units == 1.5  # 10 whole items: 3 blocks

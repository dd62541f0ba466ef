"""Tickers reassigned the way Alpaca really does it, through the CLI, moto's server and the Alpaca
stand-in over HTTP (issue 19): the META day of 2022-06-09, a reused ticker, records that are not
active in an active-only response, conflicts that stay on the record, a table made before the
asset-id index existed.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from tests.support import Env, asset_record, run_cli

from asset_sync.events import to_events
from asset_sync.local.stand_in import Fault
from asset_sync.local.stream import TableStream
from asset_sync.logic.report import RunReport
from asset_sync.logic.sync import SyncError
from asset_sync.wiring import build_run

META_ID = "fc6a5dcd-4a70-4b8d-b64f-d83a6dae9ba4"  # Meta Platforms (was FB)
ETF_ID = "3c2a9f8e-0b1d-4e5f-9a7b-6c8d2e4f1a03"  # Roundhill's ETF, META until 2022-06-09


def fast(env: Env) -> Env:
    env.settings = replace(env.settings, delist_lookups_per_second=1_000.0)
    return env


def run(env: Env) -> RunReport:
    try:
        return build_run(env.settings).run()
    except SyncError as failed:
        return failed.report


def annotate(env: Env, symbol: str, **values: str) -> None:
    """Another service's attributes on an item (one UpdateItem, as it would write them)."""
    names = {f"#n{i}": name for i, name in enumerate(values)}
    env.assets.client.update_item(
        TableName=env.settings.assets_table,
        Key={"symbol": {"S": symbol}},
        UpdateExpression="SET " + ", ".join(f"#n{i} = :v{i}" for i in range(len(values))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":v{i}": {"S": v} for i, v in enumerate(values.values())},
    )


def others(count: int = 20) -> list[dict[str, Any]]:
    return [asset_record(f"S{i:03d}") for i in range(count)]


def events(stream: TableStream) -> list[tuple[str, str, str | None]]:
    """(detail-type, symbol, previous_symbol) of the new stream records' events, sorted."""
    out = []
    for entry in to_events(stream.read_new()):
        detail = json.loads(entry["Detail"])
        out.append((entry["DetailType"], detail["symbol"], detail.get("previous_symbol")))
    return sorted(out)


def test_the_meta_day_is_two_renames_no_delisting_and_sector_etf_stays_on_the_etf(
    env: Env,
) -> None:
    fb = asset_record("FB", id=META_ID, name="Meta Platforms, Inc.", cusip="30303M102")
    etf = asset_record("META", id=ETF_ID, name="Roundhill Ball Metaverse ETF", exchange="ARCA")
    env.serve([fb, etf, *others()])
    fast(env)
    assert run(env).outcome == "succeeded"
    annotate(env, "FB", sector="Communication Services", owner="meta-desk")
    annotate(env, "META", sector="ETF")
    stream = TableStream(env.settings.assets_table, env.settings.dynamodb_endpoint_url)
    stream.read_new()
    lookups = len(env.stand_in.lookups)
    env.serve([{**fb, "symbol": "META"}, {**etf, "symbol": "METV"}, *others()])

    result = run_cli("sync", "--json", env=env.cli_env())

    report = result.json()
    assert result.code == 0, result.stderr
    assert (report["renamed"], report["delisted"], report["created"]) == (2, 0, 0)
    assert (report["delist_candidates"], len(env.stand_in.lookups)) == (0, lookups)
    assert sorted(report["renames"], key=lambda r: r["to"]) == [
        {"from": "FB", "to": "META", "asset_id": META_ID},
        {"from": "META", "to": "METV", "asset_id": ETF_ID},
    ]
    assert report["reassignments"] == [{"symbol": "META", "from": ETF_ID, "to": META_ID}]
    assert report["dynamodb"]["write_requests"] == 3  # the lease, ONE transaction, the record
    fb_item, meta, metv = (env.item(s) for s in ("FB", "META", "METV"))
    assert meta and metv and fb_item
    assert (meta["asset_id"], meta["status"], meta["previous_symbol"]) == (META_ID, "active", "FB")
    assert (meta["sector"], meta["owner"]) == ("Communication Services", "meta-desk")
    assert meta["replaces_asset_id"] == ETF_ID
    assert (metv["asset_id"], metv["status"], metv["previous_symbol"]) == (ETF_ID, "active", "META")
    assert metv["sector"] == "ETF" and "owner" not in metv
    assert (fb_item["status"], fb_item["renamed_to"]) == ("inactive", "META")
    assert fb_item["sector"] == "Communication Services"  # history of the old item
    assert events(stream) == [
        ("Asset Renamed", "META", "FB"),
        ("Asset Renamed", "METV", "META"),
    ]
    again = run_cli("sync", "--json", env=env.cli_env()).json()
    assert (again["renamed"], again["dynamodb"]["write_requests"]) == (0, 2)


def test_a_ticker_reused_the_same_day_is_confirmed_archived_and_listed_anew(env: Env) -> None:
    old = asset_record("Z", id="zillow-z1", name="Old Z Corp")
    env.serve([old, *others()])
    fast(env)
    run(env)
    annotate(env, "Z", sector="Real Estate")
    newcomer = asset_record("Z", id="z2-new-company", name="New Z Inc.")
    env.serve([newcomer, *others()])  # the stand-in retires z1: its lookup answers inactive

    report = run(env)

    assert report.outcome == "succeeded", report.message
    assert (report.created, report.delisted, report.archived) == (1, 1, 1)
    assert (report.delist_candidates, report.delist_lookups) == (1, 1)
    assert env.stand_in.lookups[-1] == "zillow-z1"
    z, archived = env.item("Z"), env.item("__asset/zillow-z1")
    assert z and archived
    assert (z["asset_id"], z["replaces_asset_id"], z["name"]) == (
        "z2-new-company",
        "zillow-z1",
        "New Z Inc.",
    )
    assert "sector" not in z  # the old company's attribute is not on the new one
    assert (archived["asset_id"], archived["status"], archived["sector"]) == (
        "zillow-z1",
        "inactive",
        "Real Estate",
    )
    assert (archived["previous_symbol"], archived["name"]) == ("Z", "Old Z Corp")


def test_reused_tickers_count_as_delistings_for_the_guard(env: Env) -> None:
    day1 = others(20)
    env.serve(day1)
    fast(env)
    run(env)
    before = env.snapshot()
    reused = [asset_record(r["symbol"], id=f"new-{r['symbol']}") for r in day1[:3]]
    env.serve([*reused, *day1[3:]])  # 3 of 20 active assets displaced: 15 % > 10 %

    result = run_cli("sync", "--json", env=env.cli_env())

    assert result.code == 3, result.stderr
    assert "would delist 3 of 20" in result.json()["message"]
    assert env.snapshot() == before


def test_records_that_are_not_active_are_invalid_and_turn_nothing_inactive(env: Env) -> None:
    day1 = others(20)
    env.serve(day1)
    fast(env)
    run(env)
    before = env.snapshot()
    lookups = len(env.stand_in.lookups)
    broken = [
        {**r, "status": "inactive" if i % 2 else "ACTIVE"} if i < 15 else r
        for i, r in enumerate(day1)
    ]
    env.stand_in.script(Fault.body(json.dumps(broken).encode()), route="list")  # as sent

    result = run_cli("sync", "--json", env=env.cli_env())

    report = result.json()
    assert (report["fetched"], report["valid"], report["invalid"]) == (20, 5, 15)
    assert report["delisted"] == 0 and report["delist_candidates"] == 0
    reasons = {r["reason"] for r in report["invalid_records"]}
    assert any("`status` is 'inactive', not 'active'" in reason for reason in reasons)
    assert any("`status` is 'ACTIVE', not 'active'" in reason for reason in reasons)
    assert env.snapshot() == before and len(env.stand_in.lookups) == lookups


def test_conflicts_stay_on_the_record_and_the_counts_add_up(env: Env) -> None:
    day1 = others(10)
    env.serve(day1)
    fast(env)
    run(env)
    twin = {**day1[1], "symbol": "TWIN"}  # S001's id on a second symbol
    duplicate = {**day1[2], "name": "a second S002"}
    env.stand_in.set_assets([*day1, twin, duplicate])

    result = run_cli("sync", "--json", env=env.cli_env())
    history = run_cli("history", "--json", env=env.cli_env()).json()["runs"][0]
    status = run_cli("status", env=env.cli_env())

    report = result.json()
    assert result.code == 0, result.stderr
    counts = ("fetched", "valid", "invalid", "duplicate_records", "id_conflict_records")
    assert [report[name] for name in counts] == [12, 8, 0, 2, 2]  # 12 = 8 + 0 + 2 + 2
    assert [history[name] for name in counts] == [12, 8, 0, 2, 2]
    assert (history["duplicates"], history["id_conflicts"]) == (1, 1)
    assert report["duplicate_symbols"] == ["S002"]
    assert report["id_conflicts"] == [{"asset_id": day1[1]["id"], "symbols": ["S001", "TWIN"]}]
    line = "fetched 12, valid 8, unchanged 8, duplicate records 2, id conflict records 2"
    assert line in status.stdout


def test_a_table_made_before_the_asset_id_index_is_named_and_create_table_adds_it(
    env: Env,
) -> None:
    client, table = env.assets.client, env.settings.assets_table
    client.delete_table(TableName=table)
    client.get_waiter("table_not_exists").wait(TableName=table)
    client.create_table(  # the layout of earlier versions: status-index only
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "symbol", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "symbol", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "status-index",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    env.serve(others(5))

    failed = run_cli("sync", env=env.cli_env())
    created = run_cli("create-table", env=env.cli_env())
    synced = run_cli("sync", "--json", env=env.cli_env())

    assert failed.code == 2
    assert "has no index 'asset-id-index'" in failed.stderr
    assert "`asset-sync create-table` adds it" in failed.stderr
    assert f"{table}: already exists (added asset-id-index)" in created.stdout
    assert synced.code == 0 and synced.json()["created"] == 5


@pytest.mark.parametrize("moves", [1, 2])
def test_an_asset_back_and_forth_is_a_rename_each_time(env: Env, moves: int) -> None:
    record = asset_record("AAA", id="back-and-forth")
    env.serve([record, *others()])
    fast(env)
    run(env)
    annotate(env, "AAA", note="kept")
    stream = TableStream(env.settings.assets_table, env.settings.dynamodb_endpoint_url)
    stream.read_new()
    tickers = ["BBB", "AAA", "BBB"][: moves + 1]
    seen = []
    for new in tickers:
        env.serve([{**record, "symbol": new}, *others()])
        report = run(env)
        assert report.renamed == 1 and report.delisted == 0
        seen += events(stream)
    previous = ["AAA", *tickers][: len(tickers)]
    assert seen == [("Asset Renamed", t, p) for t, p in zip(tickers, previous, strict=True)]
    home, old = env.item(tickers[-1]), env.item(previous[-1])
    assert home and old and home["note"] == old["note"] == "kept"
    assert (home["previous_symbol"], old["renamed_to"]) == (previous[-1], tickers[-1])
    assert "previous_symbol" not in old and "renamed_to" not in home

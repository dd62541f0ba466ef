"""`asset-sync` end to end: a child process, the stand-in over HTTP, moto's server over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support import CANARY_SECRET, Env, run_cli
from tests.support import asset_record as asset

from asset_sync.local.catalog import evolve_catalog, generate_catalog


def sync(env: Env, *args: str) -> Any:
    result = run_cli("sync", "--json", *args, env=env.cli_env())
    assert CANARY_SECRET not in result.stdout + result.stderr
    return result


def test_first_sync_stores_every_attribute_exactly(env: Env) -> None:
    crypto = asset(
        "BTC/USD",
        **{"class": "crypto"},
        exchange="CRYPTO",
        min_order_size="0.000000001",
        min_trade_increment="0.000000001",
        price_increment="0.10",
    )
    for name in ("borrow_status", "maintenance_margin_requirement", "margin_requirement_long"):
        crypto.pop(name)
    perp = asset("ETH-PERP", **{"class": "crypto_perp"}, exchange="ASCX", attributes=["new_flag"])
    env.serve([asset("BRK.B"), crypto, perp])

    result = sync(env)

    assert result.code == 0, result.stderr
    report = result.json()
    assert report["created"] == 3 and report["fetched"] == 3 and report["dry_run"] is False
    for key in ("invalid", "updated", "unchanged", "delisted", "reactivated", "changes"):
        assert key in report
    raw = env.raw_item("BTC/USD")
    assert raw is not None
    assert raw["min_order_size"] == {"N": "0.000000001"}
    assert raw["price_increment"] == {"N": "0.10"}
    assert "borrow_status" not in raw and "cusip" not in raw  # absent, not null
    perp_item = env.item("ETH-PERP")
    assert perp_item is not None
    assert perp_item["asset_class"] == "crypto_perp"
    assert perp_item["exchange"] == "ASCX"
    assert perp_item["attributes"] == ("new_flag",)
    brk = env.item("BRK.B")
    assert brk is not None
    assert brk["status"] == "active" and brk["tradable"] is True
    assert brk["last_sync_timestamp"] == report["last_sync_timestamp"]

    status = run_cli("status", "--json", env=env.cli_env())
    assert status.code == 0
    assert status.json()["last_sync_timestamp"] == report["last_sync_timestamp"]
    assert status.json()["last_run"]["created"] == 3


def test_rerun_on_an_unchanged_catalog_writes_no_asset_item(env: Env) -> None:
    env.serve(generate_catalog(300, seed=3))
    assert sync(env).code == 0
    before = env.snapshot()

    report = sync(env).json()

    assert report["unchanged"] == 300
    assert report["created"] == report["updated"] == report["delisted"] == 0
    assert report["dynamodb"]["write_requests"] == 2  # the lease and the run record
    assert report["changes"] == {}
    assert env.snapshot() == before


def test_changes_delistings_and_reactivation_keep_foreign_attributes(env: Env) -> None:
    catalog = generate_catalog(200, seed=11)
    env.serve(catalog)
    assert sync(env).code == 0
    for item in env.snapshot().values():  # another service annotates every item
        env.assets.client.update_item(
            TableName=env.settings.assets_table,
            Key={"symbol": item["symbol"]},
            UpdateExpression="SET last_pollenation_date = :d, sector = :s",
            ExpressionAttributeValues={":d": {"S": "2026-11-28"}, ":s": {"S": "Tech"}},
        )
    evolved, changes = evolve_catalog(catalog, seed=12, listings=0.02, delistings=0.02, flips=0.05)
    env.serve(evolved)

    report = sync(env).json()

    assert report["created"] == len(changes.listed)
    assert report["delisted"] == len(changes.delisted)
    assert report["updated"] == len(changes.changed)
    for symbol in changes.delisted:
        item = env.item(symbol)
        assert item is not None
        assert item["status"] == "inactive"
        assert report["changes"][symbol]["fields"]["status"] == {"old": "active", "new": "inactive"}
    for symbol in changes.changed:
        assert report["changes"][symbol]["action"] == "update"
        assert report["changes"][symbol]["fields"]
    for symbol, item in env.snapshot().items():
        if symbol not in changes.listed:
            assert item["last_pollenation_date"] == {"S": "2026-11-28"}, symbol
            assert item["sector"] == {"S": "Tech"}, symbol

    env.serve(catalog + [a for a in evolved if a["symbol"] in changes.listed])
    report = sync(env).json()
    assert report["reactivated"] == len(changes.delisted)
    for symbol in changes.delisted:
        item = env.item(symbol)
        assert item is not None
        assert item["status"] == "active"
        assert item["sector"] == "Tech"


def test_guard_refusal_changes_nothing_and_force_gets_past_it(env: Env) -> None:
    catalog = [asset(f"S{i:03d}") for i in range(50)]
    env.serve(catalog)
    assert sync(env).code == 0
    before = env.snapshot()
    env.serve(catalog[:40])  # 20% gone

    refused = sync(env)

    assert refused.code == 3
    assert refused.json()["outcome"] == "refused"
    assert "10 of 50" in refused.json()["message"]
    assert env.snapshot() == before
    assert run_cli("status", "--json", env=env.cli_env()).json()["last_run_outcome"] == "refused"

    assert sync(env, "--max-delist-fraction", "0.25").code == 0
    assert sum(i["status"]["S"] == "inactive" for i in env.snapshot().values()) == 10


def test_empty_catalog_is_refused(env: Env) -> None:
    env.serve([asset("A"), asset("B")])
    assert sync(env).code == 0
    before = env.snapshot()
    env.serve([])

    result = sync(env)

    assert result.code == 3
    assert "no valid assets" in result.json()["message"]
    assert env.snapshot() == before


def test_invalid_and_duplicate_records_leave_existing_items_untouched(env: Env) -> None:
    env.serve([asset("A"), asset("B"), asset("C"), asset("D")])
    assert sync(env).code == 0
    before = env.snapshot()
    env.serve(
        [
            asset("A", tradable="yes", name="changed"),
            asset("B", name="first"),
            asset("B", name="second"),
            asset("C", margin_requirement_long="abc"),
            asset("D"),
        ]
    )

    result = sync(env)

    assert result.code == 0
    report = result.json()
    assert report["invalid"] == 2
    assert report["duplicate_symbols"] == ["B"]
    assert {r["symbol"] for r in report["invalid_records"]} == {"A", "C"}
    assert any("tradable" in r["reason"] for r in report["invalid_records"])
    assert report["delisted"] == 0
    assert env.snapshot() == before


def test_dry_run_writes_nothing_and_reports_the_plan(env: Env) -> None:
    env.serve([asset("A"), asset("B")])
    assert sync(env).code == 0
    before = env.snapshot()
    env.serve([asset("A", name="A Renamed"), asset("C")])

    report = sync(env, "--dry-run", "--max-delist-fraction", "1").json()

    assert report["dry_run"] is True
    assert (report["created"], report["updated"], report["delisted"]) == (1, 1, 1)
    assert report["changes"]["A"]["fields"]["name"] == {"old": "A Inc.", "new": "A Renamed"}
    assert report["dynamodb"]["write_requests"] == 0
    assert env.snapshot() == before


def test_asset_class_filter_scopes_fetching_and_delisting(env: Env) -> None:
    btc = asset("BTC/USD", **{"class": "crypto"}, exchange="CRYPTO")
    env.serve([asset("A"), btc])
    assert sync(env).code == 0
    env.serve([asset("A")])

    report = sync(env, "--asset-class", "crypto", "--force").json()  # crypto now empty

    assert report["delisted"] == 1
    a_item, btc_item = env.item("A"), env.item("BTC/USD")
    assert a_item is not None and btc_item is not None
    assert a_item["status"] == "active"  # outside the fetched class: never delisted
    assert btc_item["status"] == "inactive"
    assert ("GET", "/v2/assets", "asset_class=crypto&status=active") in {
        (m, p, "&".join(sorted(q.split("&")))) for m, p, q in env.stand_in.request_log
    }


def test_human_output_is_a_readable_summary(env: Env) -> None:
    env.serve([asset("A"), asset("B.C")])
    result = run_cli("sync", env=env.cli_env())
    assert result.code == 0
    assert "succeeded" in result.stdout
    assert "created 2" in result.stdout
    assert "created: A, B.C" in result.stdout


def test_wrong_keys_fail_at_once_without_leaking_the_secret(env: Env) -> None:
    cli_env = {**env.cli_env(), "APCA_API_SECRET_KEY": CANARY_SECRET + "-wrong"}
    result = run_cli("sync", env=cli_env)
    assert result.code == 2  # no retry can fix rejected keys: configuration
    assert "rejected the API keys" in result.stderr
    assert CANARY_SECRET not in result.stdout + result.stderr
    assert len(env.stand_in.request_log) == 1  # 401 is not retried


def test_missing_credentials_and_bad_configuration_are_clear(env: Env) -> None:
    cli_env = {k: v for k, v in env.cli_env().items() if not k.startswith("APCA_API_SECRET")}
    result = run_cli("sync", env=cli_env)
    assert result.code == 2
    assert "APCA_API_SECRET_KEY" in result.stderr
    bad = run_cli("sync", env={**env.cli_env(), "MAX_DELIST_FRACTION": "lots"})
    assert bad.code == 2
    assert "MAX_DELIST_FRACTION" in bad.stderr


def test_missing_table_says_how_to_create_it(env: Env) -> None:
    env.serve([asset("A")])
    table = f"no_such_table_{uuid.uuid4().hex[:8]}"  # the moto server is shared by tests
    result = run_cli("sync", "--table", table, env=env.cli_env())
    assert result.code == 2  # configuration: no retry creates the table
    assert "create-table" in result.stderr
    created = run_cli("create-table", "--table", table, env=env.cli_env())
    assert created.code == 0
    assert f"{table}: created" in created.stdout
    assert run_cli("sync", "--table", table, env=env.cli_env()).code == 0


def test_every_command_has_help() -> None:
    for command in ([], ["sync"], ["status"], ["create-table"], ["demo"]):
        result = run_cli(*command, "--help", env={})
        assert result.code == 0
        assert "Usage:" in result.stdout

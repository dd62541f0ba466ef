"""Asset identity over HTTP: ticker changes kept as renames, delistings confirmed with Alpaca.

The Alpaca stand-in behaves like Alpaca: an asset that leaves the catalog is retired (a lookup by
its id answers `inactive`), a ticker change keeps the asset's id, and `omit_from_list` scripts the
inconsistency the confirmation exists for (active by id, missing from the list).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from tests.support import Env, asset_record, run_cli
from tests.support.reliability import foreign_view, hash_matches_content

from asset_sync.local.stand_in import Fault
from asset_sync.logic.report import RunReport
from asset_sync.logic.sync import SyncError
from asset_sync.wiring import build_run

FOREIGN = {"sector": {"S": "Technology"}, "last_pollenation_date": {"S": "2026-11-28"}}


def catalog(count: int, prefix: str = "S") -> list[dict[str, Any]]:
    return [asset_record(f"{prefix}{i:03d}", cusip=f"C{prefix}{i:03d}") for i in range(count)]


def renamed(record: dict[str, Any], symbol: str, **changes: Any) -> dict[str, Any]:
    """The same asset (same id, same CUSIP) under a new ticker."""
    return {**record, "symbol": symbol, "name": f"{symbol} Inc.", **changes}


def annotate(env: Env, symbol: str) -> None:
    """Another service keeps its own attributes on the item."""
    env.assets.client.update_item(
        TableName=env.settings.assets_table,
        Key={"symbol": {"S": symbol}},
        UpdateExpression="SET sector = :s, last_pollenation_date = :d",
        ExpressionAttributeValues={":s": FOREIGN["sector"], ":d": FOREIGN["last_pollenation_date"]},
    )


def fast(env: Env, **changes: Any) -> Env:
    """Lookups unpaced (the 2/s default would make every test wait), other changes applied."""
    env.settings = replace(env.settings, delist_lookups_per_second=1_000.0, **changes)
    return env


def run(env: Env) -> RunReport:
    try:
        return build_run(env.settings).run()
    except SyncError as failed:
        return failed.report


def test_a_ticker_change_is_a_rename_whose_attributes_follow_the_asset(env: Env) -> None:
    day1 = catalog(20)
    env.serve(day1)
    fast(env)
    run(env)
    annotate(env, "S003")
    env.serve([*day1[:3], renamed(day1[3], "NEWCO"), *day1[4:]])
    lookups_before = len(env.stand_in.lookups)

    result = run_cli("sync", "--json", env=env.cli_env())

    report = result.json()
    assert result.code == 0, result.stderr
    assert (report["renamed"], report["delisted"], report["created"]) == (1, 0, 0)
    asset_id = day1[3]["id"]
    assert report["renames"] == [{"from": "S003", "to": "NEWCO", "asset_id": asset_id}]
    assert report["changes"]["NEWCO"]["action"] == "rename"
    assert report["changes"]["S003"]["action"] == "depart"
    assert report["dynamodb"]["write_requests"] == 3  # the lease, one transaction, the record
    assert len(env.stand_in.lookups) == lookups_before  # a rename needs no lookup
    old, new = env.raw_item("S003"), env.raw_item("NEWCO")
    assert old is not None and new is not None
    assert old["status"] == {"S": "inactive"} and old["renamed_to"] == {"S": "NEWCO"}
    assert {k: old[k] for k in FOREIGN} == FOREIGN  # kept on the old item as history
    assert new["status"] == {"S": "active"} and new["previous_symbol"] == {"S": "S003"}
    assert new["asset_id"] == {"S": asset_id}
    assert {k: new[k] for k in FOREIGN} == FOREIGN  # and on the asset's item now
    assert (old["sync_action"], new["sync_action"]) == ({"S": "depart"}, {"S": "rename"})
    assert hash_matches_content(new)
    again = run_cli("sync", "--json", env=env.cli_env()).json()
    assert (again["renamed"], again["dynamodb"]["write_requests"]) == (0, 2)  # nothing left


def test_a_day_with_12_percent_ticker_changes_is_not_refused_and_delists_nothing(
    env: Env,
) -> None:
    day1 = catalog(100)
    env.serve(day1)
    fast(env)
    run(env)
    day2 = [renamed(r, f"R{i:03d}") if i < 12 else r for i, r in enumerate(day1)]
    env.serve(day2)

    report = run(env)

    assert report.outcome == "succeeded", report.message  # the 10% guard counts no rename
    assert (report.renamed, report.delisted, report.delist_candidates) == (12, 0, 0)
    assert report.dynamodb_write_requests == 12 + 2  # one transaction per rename
    snapshot = env.snapshot()
    active_ids = [i["asset_id"]["S"] for i in snapshot.values() if i["status"]["S"] == "active"]
    assert sorted(active_ids) == sorted(r["id"] for r in day1)  # each asset active exactly once
    assert all(snapshot[f"S{i:03d}"]["renamed_to"] == {"S": f"R{i:03d}"} for i in range(12))


def test_a_rename_by_cusip_when_the_id_changed_too(env: Env) -> None:
    day1 = catalog(10)
    env.serve(day1)
    fast(env)
    run(env)
    env.serve([renamed(day1[0], "NEWID", id="a-brand-new-asset-id"), *day1[1:]])

    report = run(env)

    assert (report.renamed, report.delisted) == (1, 0)
    assert report.renames == [{"from": "S000", "to": "NEWID", "asset_id": "a-brand-new-asset-id"}]


def test_a_rename_chain_then_a_new_company_on_the_first_ticker(env: Env) -> None:
    day1 = catalog(10)
    env.serve(day1)
    fast(env)
    run(env)
    env.serve([renamed(day1[0], "MID"), *day1[1:]])
    assert run(env).renamed == 1
    env.serve([renamed(day1[0], "LAST"), *day1[1:]])

    human = run_cli("sync", env=env.cli_env())

    assert human.code == 0, human.stderr
    assert f"renamed: MID -> LAST (asset {day1[0]['id']})" in human.stdout
    first, mid, last = env.raw_item("S000"), env.raw_item("MID"), env.raw_item("LAST")
    assert first and first["renamed_to"] == {"S": "MID"}
    assert mid and mid["renamed_to"] == {"S": "LAST"} and "previous_symbol" not in mid
    assert last and last["previous_symbol"] == {"S": "MID"} and "renamed_to" not in last
    # a new company takes the first ticker: a listing that replaces the asset, which lives on
    # under LAST, so nothing is archived
    newcomer = asset_record("S000", id="another-company", name="Someone Else")
    env.serve([renamed(day1[0], "LAST"), newcomer, *day1[1:]])
    report = run(env)
    first = env.raw_item("S000")
    assert (report.created, report.archived, report.delisted) == (1, 0, 0)
    assert report.reassignments == [
        {"symbol": "S000", "from": day1[0]["id"], "to": "another-company"}
    ]
    assert first and first["status"] == {"S": "active"} and "renamed_to" not in first
    assert first["replaces_asset_id"] == {"S": day1[0]["id"]}
    assert env.raw_item(f"__asset/{day1[0]['id']}") is None


def test_two_catalog_symbols_with_one_asset_id_are_a_conflict_left_as_they_are(
    env: Env,
) -> None:
    day1 = catalog(10)
    env.serve(day1)
    fast(env)
    run(env)
    before = env.snapshot()
    twin = {**day1[1], "symbol": "TWIN", "name": "Twin"}  # S001's id on a second symbol
    env.serve([*day1, twin])

    report = run(env)

    assert report.outcome == "succeeded"
    assert report.id_conflicts == [{"asset_id": day1[1]["id"], "symbols": ["S001", "TWIN"]}]
    assert (report.renamed, report.delisted, report.created) == (0, 0, 0)
    assert (report.fetched, report.valid, report.id_conflict_records) == (11, 9, 2)
    assert env.snapshot() == before


def test_a_new_id_for_the_same_security_on_its_ticker_is_an_update_in_place(env: Env) -> None:
    day1 = catalog(10)
    env.serve(day1)
    fast(env)
    run(env)
    env.serve([*day1[:2], {**day1[2], "id": "a-new-id-for-S002"}, *day1[3:]])

    report = run(env)

    assert (report.updated, report.renamed, report.delisted, report.archived) == (1, 0, 0, 0)
    assert env.raw_item("S002")["asset_id"] == {"S": "a-new-id-for-S002"}  # type: ignore[index]


def test_assets_omitted_from_the_list_but_active_by_id_are_not_delisted(env: Env) -> None:
    day1 = catalog(40)
    env.serve(day1)
    fast(env)
    run(env)
    gone = day1[:2]  # really delisted
    env.serve(day1[2:])
    omitted = ["S010", "S011"]
    env.stand_in.omit_from_list(omitted)  # still active by id: the list is inconsistent

    result = run_cli("sync", "--json", env=env.cli_env())

    report = result.json()
    assert result.code == 1  # partial: Lambda raises, retries, the alarms take over
    assert report["outcome"] == "partial"
    assert report["kept_active"] == omitted
    assert "S010" in report["message"] and "still reports" in report["message"]
    assert report["delist_candidates"] == 4 and report["delist_lookups"] == 4
    assert report["delisted"] == 2  # confirmed one by one
    for symbol in omitted:
        assert env.raw_item(symbol)["status"] == {"S": "active"}  # type: ignore[index]
    for record in gone:
        assert env.raw_item(record["symbol"])["status"] == {"S": "inactive"}  # type: ignore[index]


def test_a_genuine_7_percent_delisting_is_applied_after_a_bounded_sample(env: Env) -> None:
    day1 = catalog(200)
    env.serve(day1)
    fast(env, delist_confirm_sample=5, max_delist_fraction=0.10)
    run(env)
    env.serve(day1[14:])  # 14 of 200 (7%) really delisted
    lookups_before = len(env.stand_in.lookups)

    report = run(env)

    assert report.outcome == "succeeded", report.message
    assert (report.delist_candidates, report.delist_lookups, report.delisted) == (14, 5, 14)
    assert len(env.stand_in.lookups) - lookups_before == 5
    ids = {r["id"] for r in day1[:14]}
    assert set(env.stand_in.lookups[lookups_before:]) <= ids  # looked up by asset id


@pytest.mark.parametrize(
    "faults",
    [
        [Fault.rate_limited(retry_after=0.1)] * 2,
        [Fault.status(503), Fault.status(500)],
        [Fault.slow(1.5)],
    ],
    ids=["429", "5xx", "timeout"],
)
def test_lookup_faults_are_retried_during_confirmation(
    env: Env, faults: list[Fault], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.reliability import use_fast_alpaca_client  # noqa: PLC0415

    use_fast_alpaca_client(monkeypatch, read_timeout=0.5)
    day1 = catalog(30)
    env.serve(day1)
    fast(env)
    run(env)
    env.serve(day1[2:])
    env.stand_in.script(*faults, route="lookup")

    report = run(env)

    assert report.outcome == "succeeded", report.message
    assert report.delisted == 2 and not report.unconfirmed


def test_a_lookup_that_keeps_failing_leaves_its_candidate_and_the_run_partial(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.reliability import use_fast_alpaca_client  # noqa: PLC0415

    use_fast_alpaca_client(monkeypatch)
    day1 = catalog(30)
    env.serve(day1)
    fast(env)
    run(env)
    env.serve(day1[2:])
    env.stand_in.script(*[Fault.status(503)] * 6, route="lookup")  # the first lookup's budget

    report = run(env)

    assert report.outcome == "partial"
    assert report.delisted == 1 and len(report.unconfirmed) == 1
    assert env.raw_item(report.unconfirmed[0])["status"] == {"S": "active"}  # type: ignore[index]


def test_an_unchanged_run_makes_no_lookup_and_a_refused_plan_none_either(env: Env) -> None:
    day1 = catalog(30)
    env.serve(day1)
    fast(env)
    run(env)
    lookups = len(env.stand_in.lookups)

    assert run(env).dynamodb_write_requests == 2
    env.serve(day1[10:])  # a third gone: the guard refuses before any lookup
    refused = run(env)

    assert refused.outcome == "refused"
    assert len(env.stand_in.lookups) == lookups


def test_a_dry_run_looks_candidates_up_and_says_what_it_would_delist(env: Env) -> None:
    day1 = catalog(30)
    env.serve(day1)
    fast(env)
    run(env)
    before = env.snapshot()
    env.serve(day1[1:])
    env.stand_in.omit_from_list("S010")

    result = run_cli("sync", "--dry-run", "--json", env=env.cli_env())

    report = json.loads(result.stdout)
    assert report["delist_lookups"] == 2
    assert report["kept_active"] == ["S010"]
    assert report["delisted"] == 1 and report["changes"]["S000"]["action"] == "delist"
    assert env.snapshot() == before
    assert foreign_view(env.snapshot()) == foreign_view(before)

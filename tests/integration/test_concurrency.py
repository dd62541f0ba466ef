"""Concurrency: duplicate deliveries (two syncs at once) and other writers on the same items.

The protocol (docs/architecture.md): the sync owns its attributes and writes them only with
conditional `UpdateItem SET/REMOVE` on owned names (optimistic lock on `sync_version` plus the
values it replaces); other services write their own attributes freely; a writer that changes an
owned attribute bumps `sync_version`. A newer sync (a higher run number, `sync_run_seq`)
always wins, whatever the clocks say: the "newer" writes below carry an older timestamp.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.support import CREDENTIALS, Env
from tests.support.reliability import (
    SerializingProxy,
    asset_record,
    finish,
    foreign_view,
    fresh_env,
    hash_matches_content,
    owned_view,
    start_cli,
    wait_for_lease_expiry,
)
from tests.support.write_gate import ApplyGate

from asset_sync.dal.client import dynamodb_client
from asset_sync.dal.serialization import deserialize_item
from asset_sync.local.catalog import Asset, evolve_catalog, generate_catalog
from asset_sync.local.stand_in import AlpacaStandIn
from asset_sync.logic.models import CONTENT_ATTRIBUTES, content_hash
from asset_sync.logic.report import RunReport
from asset_sync.logic.sync import LeaseHeldError, Progress, SyncError
from asset_sync.wiring import build_run

DAY1 = generate_catalog(160, seed=41)
DAY2, CHANGES = evolve_catalog(DAY1, seed=42, listings=0.03, delistings=0.05, flips=0.3)
pytestmark = pytest.mark.xdist_group("concurrency")  # one worker builds `expected` once
NEWER_RUN = 1_000_000  # the number of a run that took the lease after the run under test
STALE_CLOCK = "2020-01-01T00:00:00.000000Z"  # ... on a machine whose clock is years behind


def utc_timestamp() -> str:
    """The newer run's start as its (wrong) clock has it: clocks never decide."""
    return STALE_CLOCK


@pytest.fixture
def env(env: Env, moto_url: str) -> Iterator[Env]:
    """The fixture's tables, with every sync and every writer going through one
    SerializingProxy: moto's server does not apply conditional writes atomically under
    concurrent requests, real DynamoDB does (see tests.support.reliability.SerializingProxy)."""
    with SerializingProxy(moto_url) as proxy:
        settings = env.settings.with_overrides(dynamodb_endpoint_url=proxy.url)
        yield Env(settings, env.assets, env.state, env.stand_in)


@pytest.fixture(scope="module")
def expected(moto_url: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Owned attributes after clean day-1 and day-2 runs."""
    with AlpacaStandIn(DAY1, key_id=CREDENTIALS.key_id, secret_key=CREDENTIALS.secret_key) as api:
        ref = fresh_env(moto_url, api)
        ref.serve(DAY1)
        build_run(ref.settings).run()
        day1 = owned_view(ref.snapshot())
        ref.serve(DAY2)
        build_run(ref.settings).run()
        return {"day1": day1, "day2": owned_view(ref.snapshot())}


def run_together(runs: list[Callable[[], RunReport]]) -> list[RunReport | LeaseHeldError]:
    """Start every run at the same moment (a barrier), each in its own thread."""
    barrier = threading.Barrier(len(runs))
    results: list[RunReport | LeaseHeldError | None] = [None] * len(runs)

    def worker(index: int) -> None:
        barrier.wait(timeout=30)
        try:
            results[index] = runs[index]()
        except LeaseHeldError as held:
            results[index] = held

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(runs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(result is not None for result in results), "a run did not finish"
    return [r for r in results if r is not None]


def check_duplicate_delivery(results: list[RunReport | LeaseHeldError], writes: int) -> None:
    """At most one run applied; the other was refused the lease or found nothing to do."""
    reports = [r for r in results if isinstance(r, RunReport)]
    refused = [r for r in results if isinstance(r, LeaseHeldError)]
    assert all(r.report.outcome == "skipped" for r in refused)
    assert reports, "neither run applied"
    assert all("holds the run lease" in str(error) for error in refused)
    assert all(report.outcome == "succeeded" for report in reports)
    applied = [r for r in reports if r.created + r.updated + r.delisted]
    assert len(applied) <= 1
    assert sum(r.created + r.updated + r.delisted for r in reports) == writes


def test_two_syncs_started_together_in_threads_one_applies(
    env: Env, expected: dict[str, dict[str, dict[str, Any]]]
) -> None:
    day2_writes = len(CHANGES.listed) + len(CHANGES.changed) + len(CHANGES.delisted)
    for catalog, writes, want in (
        (DAY1, len(DAY1), expected["day1"]),
        (DAY2, day2_writes, expected["day2"]),
    ):
        env.serve(catalog)

        results = run_together([build_run(env.settings).run, build_run(env.settings).run])

        check_duplicate_delivery(results, writes)
        assert env.state.read().lock_owner is None
        assert owned_view(env.snapshot()) == want


def test_two_cli_processes_started_together_one_applies(
    env: Env, expected: dict[str, dict[str, dict[str, Any]]]
) -> None:
    env.serve(DAY1)

    processes = [start_cli("sync", "--json", env=env.cli_env(), fast=False) for _ in range(2)]
    results = [finish(process) for process in processes]

    codes = sorted(result.code for result in results)
    assert codes in ([0, 4], [0, 0]), [r.stderr for r in results]
    for result in results:
        if result.code == 4:
            assert "holds the run lease" in result.stderr
    created = sum(r.json()["created"] for r in results if r.code == 0)
    assert created == len(DAY1)
    assert owned_view(env.snapshot()) == expected["day1"]


# -- other writers -------------------------------------------------------------------------------


def seed_day1(env: Env) -> None:
    """Day 1, synced straight to moto (nothing races yet); then serve day 2."""
    env.serve(DAY1)
    direct = env.settings.with_overrides(dynamodb_endpoint_url=env.assets.client.meta.endpoint_url)
    build_run(direct).run()
    env.serve(DAY2)


def writer_client(env: Env) -> Any:
    return dynamodb_client(env.settings.region, env.settings.dynamodb_endpoint_url)


def write_as_newer_sync(env: Env, client: Any, symbol: str, name: str, timestamp: str) -> None:
    """What a newer sync does to one item: owned attributes, version bump, its run number."""
    table = env.settings.assets_table
    for _ in range(20):  # bounded: retry only when the item changed under us
        raw = client.get_item(TableName=table, Key={"symbol": {"S": symbol}}, ConsistentRead=True)
        item = deserialize_item(raw["Item"])
        content = {n: item[n] for n in CONTENT_ATTRIBUTES if n in item}
        content["name"] = name
        version = item["sync_version"]
        assert isinstance(version, Decimal)
        try:
            client.update_item(
                TableName=table,
                Key={"symbol": {"S": symbol}},
                UpdateExpression=(
                    "SET #n = :n, sync_hash = :h, last_sync_timestamp = :t, updated_at = :t, "
                    "sync_version = :next, sync_run_seq = :seq"
                ),
                ConditionExpression="sync_version = :v",
                ExpressionAttributeNames={"#n": "name"},
                ExpressionAttributeValues={
                    ":n": {"S": name},
                    ":h": {"S": content_hash(content)},
                    ":t": {"S": timestamp},
                    ":v": {"N": str(version)},
                    ":next": {"N": str(version + 1)},
                    ":seq": {"N": str(NEWER_RUN)},
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                continue
            raise
        return
    raise AssertionError(f"could not write {symbol} as a newer sync")


def write_owned_as_other_service(env: Env, client: Any, symbol: str) -> None:
    """Another service changes an owned attribute, following the protocol (bumps the version)."""
    client.update_item(
        TableName=env.settings.assets_table,
        Key={"symbol": {"S": symbol}},
        UpdateExpression="SET exchange = :x, sync_version = sync_version + :one",
        ExpressionAttributeValues={":x": {"S": "MANUAL-FIX"}, ":one": {"N": "1"}},
    )


def test_a_foreign_writer_during_a_sync_loses_nothing(
    env: Env, expected: dict[str, dict[str, dict[str, Any]]]
) -> None:
    """Another service rewrites `last_pollenation_date` on every item the sync changes, over and
    over while the sync applies: every last value survives, and the sync's table is exact."""
    seed_day1(env)
    symbols = sorted({*CHANGES.changed, *CHANGES.delisted})
    client = writer_client(env)
    last_written: dict[str, str] = {}
    applying, done = threading.Event(), threading.Event()
    writes_during_apply: list[int] = []
    errors: list[BaseException] = []

    def foreign_writer() -> None:
        try:
            applying.wait(timeout=60)
            deadline = time.monotonic() + 60
            for round_number in range(30):  # bounded in count and in time
                for symbol in symbols:
                    value = f"2026-11-{round_number:02d}/{symbol}"
                    client.update_item(
                        TableName=env.settings.assets_table,
                        Key={"symbol": {"S": symbol}},
                        UpdateExpression="SET last_pollenation_date = :d",
                        ConditionExpression="attribute_exists(symbol)",
                        ExpressionAttributeValues={":d": {"S": value}},
                    )
                    last_written[symbol] = value
                    if not done.is_set():
                        writes_during_apply.append(1)
                if done.is_set() or time.monotonic() > deadline:
                    return
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=foreign_writer)
    thread.start()
    try:
        report = build_run(env.settings, Progress(start_writes=lambda _n: applying.set())).run()
    finally:
        applying.set()
        done.set()
        thread.join(timeout=90)

    assert not errors
    assert report.outcome == "succeeded"
    assert writes_during_apply  # the writes really overlapped the apply
    after = env.snapshot()
    assert owned_view(after) == expected["day2"]
    for symbol in symbols:
        assert after[symbol]["last_pollenation_date"] == {"S": last_written[symbol]}, symbol


def updated_symbols() -> list[str]:
    return sorted(CHANGES.changed)[:8]


def last_updates(count: int = 8) -> list[str]:
    """The updates the applier reaches last (plan order: creates, updates in catalog order,
    reactivations, delists), so a hook at the first finished write still precedes them."""
    changed = set(CHANGES.changed)
    return [str(a["symbol"]) for a in DAY2 if a["symbol"] in changed][-count:]


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> ApplyGate:
    return ApplyGate(monkeypatch)


def test_a_newer_syncs_write_between_plan_and_apply_is_left_alone(
    env: Env, expected: dict[str, dict[str, dict[str, Any]]]
) -> None:
    """The newer write lands after the plan and before the writes: every one is superseded."""
    seed_day1(env)
    targets = updated_symbols()
    client = writer_client(env)
    newer: dict[str, str] = {}

    def newer_sync_writes(_total: int) -> None:
        for symbol in targets:
            newer[symbol] = utc_timestamp()
            write_as_newer_sync(env, client, symbol, f"Newer {symbol}", newer[symbol])

    report = build_run(env.settings, Progress(start_writes=newer_sync_writes)).run()

    assert report.outcome == "succeeded"
    assert report.superseded == len(targets)
    after = env.snapshot()
    for symbol in targets:
        item = deserialize_item(after[symbol])
        assert item["name"] == f"Newer {symbol}"
        assert item["last_sync_timestamp"] == newer[symbol]
        assert hash_matches_content(after[symbol])
    others = {s: v for s, v in owned_view(after).items() if s not in targets}
    assert others == {s: v for s, v in expected["day2"].items() if s not in targets}


def test_a_newer_syncs_write_mid_apply_wins_the_race(
    env: Env, expected: dict[str, dict[str, dict[str, Any]]], gate: ApplyGate
) -> None:
    """The newer write lands after the applier read the items: the conditional write loses,
    the item is re-read and left alone (superseded), never overwritten."""
    seed_day1(env)
    targets = last_updates()
    client = writer_client(env)
    newer: dict[str, str] = {}

    def newer_sync_writes() -> None:
        for symbol in targets:
            newer[symbol] = utc_timestamp()
            write_as_newer_sync(env, client, symbol, f"Newer {symbol}", newer[symbol])

    advance = gate.once_after_first_write(newer_sync_writes)
    report = build_run(env.settings, Progress(advance=advance)).run()

    assert report.outcome == "succeeded"
    assert report.superseded == len(targets)
    assert report.conflicts_resolved >= len(targets)
    after = env.snapshot()
    for symbol in targets:
        item = deserialize_item(after[symbol])
        assert (item["name"], item["last_sync_timestamp"]) == (f"Newer {symbol}", newer[symbol])
    others = {s: v for s, v in owned_view(after).items() if s not in targets}
    assert others == {s: v for s, v in expected["day2"].items() if s not in targets}


def test_a_newer_sync_racing_the_apply_in_a_thread_always_wins(
    env: Env, expected: dict[str, dict[str, dict[str, Any]]]
) -> None:
    seed_day1(env)
    targets = sorted(CHANGES.changed)[:20]
    client = writer_client(env)
    started = threading.Event()
    errors: list[BaseException] = []

    def racer() -> None:
        try:
            started.wait(timeout=30)
            for symbol in targets:
                write_as_newer_sync(env, client, symbol, f"Newer {symbol}", utc_timestamp())
                time.sleep(0.01)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=racer)
    thread.start()
    try:
        report = build_run(env.settings, Progress(start_writes=lambda _n: started.set())).run()
    finally:
        started.set()
        thread.join(timeout=60)

    assert not errors
    assert report.outcome == "succeeded"
    assert report.superseded <= len(targets)
    after = env.snapshot()
    for symbol in targets:
        assert deserialize_item(after[symbol])["name"] == f"Newer {symbol}", symbol
        assert hash_matches_content(after[symbol]), symbol
    others = {s: v for s, v in owned_view(after).items() if s not in targets}
    assert others == {s: v for s, v in expected["day2"].items() if s not in targets}


def test_an_item_superseded_before_the_plan_is_reported_superseded(env: Env) -> None:
    seed_day1(env)
    targets = updated_symbols()
    client = writer_client(env)

    def stage(message: str) -> None:
        if message.startswith("reading the table"):  # after the run's timestamp, before reading
            for symbol in targets:
                write_as_newer_sync(env, client, symbol, f"Newer {symbol}", utc_timestamp())

    report = build_run(env.settings, Progress(stage=stage)).run()

    for symbol in targets:
        assert env.item(symbol)["name"] == f"Newer {symbol}"  # type: ignore[index]
    assert report.superseded == len(targets)


def test_an_owned_attribute_changed_by_another_writer_mid_apply_is_replanned_not_clobbered(
    env: Env, expected: dict[str, dict[str, dict[str, Any]]], gate: ApplyGate
) -> None:
    """The other writer bumps sync_version: the sync's write loses the race, re-reads the item
    and writes the catalog's values against the fresh item (never a blind overwrite)."""
    seed_day1(env)
    targets = last_updates()
    client = writer_client(env)
    for symbol in targets:
        client.update_item(
            TableName=env.settings.assets_table,
            Key={"symbol": {"S": symbol}},
            UpdateExpression="SET sector = :s",
            ExpressionAttributeValues={":s": {"S": "Tech"}},
        )

    def other_writer() -> None:
        for symbol in targets:
            write_owned_as_other_service(env, client, symbol)

    report = build_run(
        env.settings, Progress(advance=gate.once_after_first_write(other_writer))
    ).run()

    assert report.outcome == "succeeded"
    assert report.conflicts_resolved >= len(targets)
    after = env.snapshot()
    for symbol in targets:
        want = dict(expected["day2"][symbol])
        want["sync_version"] = {"N": str(int(want["sync_version"]["N"]) + 1)}  # the writer's bump
        assert owned_view({symbol: after[symbol]})[symbol] == want, symbol
        assert after[symbol]["sector"] == {"S": "Tech"}
        assert hash_matches_content(after[symbol])


def test_a_foreign_upsert_before_the_create_still_yields_a_complete_created_item(
    env: Env,
) -> None:
    env.serve([asset_record("NEWCO"), asset_record("OTHER")])
    env.assets.client.update_item(  # another service annotates a symbol before it is listed
        TableName=env.settings.assets_table,
        Key={"symbol": {"S": "NEWCO"}},
        UpdateExpression="SET sector = :s",
        ExpressionAttributeValues={":s": {"S": "Tech"}},
    )

    report = build_run(env.settings).run()

    item = env.item("NEWCO")
    assert item is not None
    assert item["sector"] == "Tech" and item["status"] == "active"
    assert hash_matches_content(env.raw_item("NEWCO") or {})
    assert item.get("created_at") == report.last_sync_timestamp
    assert report.created == 2


def changed_to(catalog: list[Asset], symbols: list[str], suffix: str) -> list[Asset]:
    return [
        {**a, "name": f"{a['name']} {suffix}"} if a["symbol"] in symbols else dict(a)
        for a in catalog
    ]


def test_a_run_that_lost_its_lease_never_overwrites_the_newer_runs_table(
    env: Env, moto_url: str
) -> None:
    env.serve(DAY1[:60])
    build_run(env.settings).run()
    symbols = [str(a["symbol"]) for a in DAY1[:60]]
    old_catalog = changed_to(DAY1[:60], symbols[:30], "(old run)")  # what the slow run fetched
    new_catalog = changed_to(DAY1[:60], symbols[20:40], "(new run)")  # the newer truth
    slow = replace(env.settings, lock_lease_seconds=5)
    newer_report: list[RunReport] = []

    def pause_past_the_lease(_total: int) -> None:
        # the slow run has planned; it stalls past its lease and a newer run does a whole sync
        wait_for_lease_expiry(env)
        env.serve(new_catalog)
        newer_report.append(build_run(env.settings).run())

    env.serve(old_catalog)
    with pytest.raises(SyncError) as stale:
        build_run(slow, Progress(start_writes=pause_past_the_lease)).run()
    assert "lease" in str(stale.value)  # the stale run says why it stopped

    assert newer_report and newer_report[0].outcome == "succeeded"
    with AlpacaStandIn(
        new_catalog, key_id=CREDENTIALS.key_id, secret_key=CREDENTIALS.secret_key
    ) as api:
        ref = fresh_env(moto_url, api)
        ref.serve(new_catalog)
        build_run(ref.settings).run()
        want = {s: v["name"] for s, v in owned_view(ref.snapshot()).items()}
    got = {s: v["name"] for s, v in owned_view(env.snapshot()).items()}
    assert got == want


def test_foreign_attributes_survive_two_concurrent_syncs(
    env: Env, expected: dict[str, dict[str, dict[str, Any]]]
) -> None:
    seed_day1(env)
    client = env.assets.client  # set-up writes, before the race
    symbols = sorted(env.snapshot())
    for symbol in symbols:
        client.update_item(
            TableName=env.settings.assets_table,
            Key={"symbol": {"S": symbol}},
            UpdateExpression="SET sector = :s",
            ExpressionAttributeValues={":s": {"S": f"sector-{symbol}"}},
        )
    before = foreign_view(env.snapshot())

    results = run_together([build_run(env.settings).run, build_run(env.settings).run])

    check_duplicate_delivery(
        results, len(CHANGES.listed) + len(CHANGES.changed) + len(CHANGES.delisted)
    )
    after = env.snapshot()
    assert owned_view(after) == expected["day2"]
    assert {s: v for s, v in foreign_view(after).items() if s in before} == before

"""DynamoDB misbehaving: a fault-injecting proxy in front of moto's server.

`DynamoProxy(moto_url, FaultPlan(rate=0.2, seed=S))` answers a seeded 20% of requests (every
operation: the lease, the status-index queries, BatchGetItem, PutItem, UpdateItem, GetItem) with
`ProvisionedThroughputExceededException`, `ThrottlingException`, a 500, or forwards the request
and then drops the connection before the reply (the write was applied, the client never hears).
The sync must end with exactly the table a fault-free run produces (owned attributes compared,
`sync_version` included; only the three timestamps differ between runs) and report its retries.

The 5,000-asset variants are `@pytest.mark.soak` (run with `-m soak`); the default suite runs
the same scenarios on 200 assets.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tests.support import CREDENTIALS, Env
from tests.support.reliability import (
    asset_record,
    content_view,
    foreign_view,
    fresh_env,
    owned_view,
    skip_soak_unless_selected,
)

from asset_sync import wiring
from asset_sync.dal.client import dynamodb_client
from asset_sync.local.catalog import Asset, CatalogChanges, evolve_catalog, generate_catalog
from asset_sync.local.dynamo_proxy import FAULT_KINDS, DynamoProxy, FaultPlan
from asset_sync.local.stand_in import AlpacaStandIn
from asset_sync.logic.report import RunReport
from asset_sync.logic.sync import SyncError
from asset_sync.wiring import build_run

FAULT_RATE = 0.2
SMALL, SOAK = 200, 5000
pytestmark = pytest.mark.xdist_group("dynamodb_faults")  # one worker builds `small` once


@pytest.fixture(autouse=True)
def _soak_only_when_asked(request: pytest.FixtureRequest) -> None:
    skip_soak_unless_selected(request)


@dataclass
class Scenario:
    """A day-1 catalog, its evolved day 2, and the tables a fault-free run leaves after each."""

    day1: list[Asset]
    day2: list[Asset]
    changes: CatalogChanges
    expected_day1: dict[str, dict[str, Any]]
    expected_day2: dict[str, dict[str, Any]]


def build_scenario(moto_url: str, size: int) -> Scenario:
    day1 = generate_catalog(size, seed=21)
    day2, changes = evolve_catalog(
        day1, seed=22, listings=0.02, delistings=0.05, flips=0.1, renames=0.02
    )
    with AlpacaStandIn(day1, key_id=CREDENTIALS.key_id, secret_key=CREDENTIALS.secret_key) as api:
        ref = fresh_env(moto_url, api)
        ref.serve(day1)
        build_run(ref.settings).run()
        expected_day1 = owned_view(ref.snapshot())
        ref.serve(day2)
        build_run(ref.settings).run()
        expected_day2 = owned_view(ref.snapshot())
    return Scenario(day1, day2, changes, expected_day1, expected_day2)


@pytest.fixture(scope="module")
def small(moto_url: str) -> Scenario:
    return build_scenario(moto_url, SMALL)


@pytest.fixture(scope="module")
def soak(moto_url: str, request: pytest.FixtureRequest) -> Scenario:
    if "soak" not in (request.config.getoption("markexpr", "") or ""):
        pytest.skip("soak variant: run with `pytest -m soak`")
    return build_scenario(moto_url, SOAK)


@pytest.fixture
def faulty(moto_url: str) -> Iterator[DynamoProxy]:
    with DynamoProxy(moto_url, FaultPlan(rate=FAULT_RATE, seed=7)) as proxy:
        yield proxy


def faulted_env(env: Env, proxy: DynamoProxy) -> Env:
    """The fixture's tables, reached by the sync through the proxy (helpers still go direct)."""
    settings = env.settings.with_overrides(dynamodb_endpoint_url=proxy.url)
    return Env(settings, env.assets, env.state, env.stand_in)


def describe(label: str, report: RunReport, proxy: DynamoProxy, seconds: float) -> str:
    stats = proxy.stats
    return (
        f"{label}: {report.outcome} in {seconds:.1f} s; created {report.created}, updated "
        f"{report.updated}, delisted {report.delisted}, unchanged {report.unchanged}; "
        f"{stats.total()} DynamoDB requests through the proxy {dict(stats.requests)}, "
        f"faults {dict(stats.faults)} ({sum(stats.faults.values())}), "
        f"boto3 retries {report.dynamodb_retries}, conflicts resolved {report.conflicts_resolved}"
    )


def run_faulted(env: Env, proxy: DynamoProxy, label: str) -> RunReport:
    """One sync through the proxy; the report whether or not it succeeded (printed for -s)."""
    started = time.monotonic()
    try:
        report = build_run(faulted_env(env, proxy).settings).run()
    except SyncError as error:
        report = error.report
    print(describe(label, report, proxy, time.monotonic() - started))
    return report


def day1_under_faults(env: Env, proxy: DynamoProxy, scenario: Scenario) -> RunReport:
    env.serve(scenario.day1)
    report = run_faulted(env, proxy, f"day 1, {len(scenario.day1)} assets")

    assert report.outcome == "succeeded"
    assert report.created == len(scenario.day1)
    assert report.failed == 0
    assert report.dynamodb_retries > 0
    assert set(proxy.stats.faults) == set(FAULT_KINDS)  # every kind was injected
    assert owned_view(env.snapshot()) == scenario.expected_day1
    return report


def day2_under_faults(env: Env, proxy: DynamoProxy, scenario: Scenario) -> RunReport:
    # day 1 without faults, then another service annotates every item
    env.serve(scenario.day1)
    build_run(env.settings).run()
    client, table = env.assets.client, env.settings.assets_table
    for symbol in env.snapshot():
        client.update_item(
            TableName=table,
            Key={"symbol": {"S": symbol}},
            UpdateExpression="SET last_pollenation_date = :d",
            ExpressionAttributeValues={":d": {"S": f"2026-11-28/{symbol}"}},
        )
    foreign_before = foreign_view(env.snapshot())
    env.serve(scenario.day2)
    proxy.reset_stats()

    report = run_faulted(env, proxy, f"day 2, {len(scenario.day2)} assets")

    changes = scenario.changes
    assert report.outcome == "succeeded"
    assert (report.created, report.updated, report.delisted) == (
        len(changes.listed),
        len(changes.changed),
        len(changes.delisted),
    )
    assert report.dynamodb_retries > 0
    after = env.snapshot()
    assert owned_view(after) == scenario.expected_day2
    foreign_after = foreign_view(after)
    for symbol, foreign in foreign_before.items():
        assert foreign_after[symbol] == foreign, symbol
    return report


def test_day1_with_20_percent_of_requests_faulted_ends_with_the_fault_free_table(
    env: Env, faulty: DynamoProxy, small: Scenario
) -> None:
    day1_under_faults(env, faulty, small)


def test_day2_updates_and_delistings_under_faults_end_with_the_fault_free_table(
    env: Env, faulty: DynamoProxy, small: Scenario
) -> None:
    day2_under_faults(env, faulty, small)


def test_a_rerun_under_faults_writes_no_asset_item(
    env: Env, faulty: DynamoProxy, small: Scenario
) -> None:
    env.serve(small.day1[:100])
    build_run(env.settings).run()
    before = env.snapshot()

    report = build_run(faulted_env(env, faulty).settings).run()

    assert report.outcome == "succeeded"
    assert report.unchanged == 100
    assert faulty.stats.total(["PutItem"]) == 0
    assert env.snapshot() == before


def test_writes_whose_replies_are_lost_are_confirmed_not_repeated(
    env: Env, moto_url: str, small: Scenario
) -> None:
    """A third of the creates are applied and their replies lost: each is confirmed by a re-read."""
    plan = FaultPlan(
        rate=0.3, kinds=("drop_after_apply",), operations=frozenset({"PutItem"}), seed=3
    )
    env.serve(small.day1[:60])
    with DynamoProxy(moto_url, plan) as proxy:
        report = build_run(faulted_env(env, proxy).settings).run()

        assert report.outcome == "succeeded"
        assert report.created == 60
        assert proxy.stats.faults["drop_after_apply"] >= 10
        assert report.conflicts_resolved >= 10
    items = env.snapshot()
    assert len(items) == 60
    assert {item["sync_version"]["N"] for item in items.values()} == {"1"}  # applied once


def test_a_create_whose_every_reply_is_lost_is_confirmed_by_a_re_read(
    env: Env, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two attempts instead of ten, so the test takes a second (the outcome is the same)
    monkeypatch.setattr(
        wiring, "dynamodb_client", functools.partial(dynamodb_client, max_attempts=2)
    )
    env.serve([asset_record("LOST")])
    plan = FaultPlan(rate=1.0, kinds=("drop_after_apply",), operations=frozenset({"PutItem"}))
    with DynamoProxy(moto_url, plan) as proxy:
        settings = faulted_env(env, proxy).settings
        try:
            report = build_run(settings).run()
        except SyncError as error:
            report = error.report
        assert proxy.stats.faults["drop_after_apply"] >= 2

    item = env.item("LOST")
    assert item is not None and item["last_sync_timestamp"] == report.last_sync_timestamp
    assert report.failures == {}
    assert (report.outcome, report.created) == ("succeeded", 1)


def test_content_matches_between_runs_apart_from_bookkeeping(small: Scenario) -> None:
    """Sanity check of the comparison itself: day 2 really differs from day 1."""
    day1, day2 = content_view(small.expected_day1), content_view(small.expected_day2)
    changed = {s for s in day1 if s in day2 and day1[s] != day2[s]}
    assert changed == {*small.changes.changed, *small.changes.delisted}


def test_a_fifth_of_create_replies_lost_over_400_creates_still_succeeds(
    env: Env, moto_url: str
) -> None:
    """Regression: the retries of writes whose reply was lost end in ConditionalCheckFailed,
    which boto3's standard mode never refunds to its per-client retry quota; with the quota
    spent, throttles and 500s were raised unretried and the run aborted after 25 failures."""
    catalog = generate_catalog(400, seed=23)
    env.serve(catalog)
    plan = FaultPlan(
        rate=FAULT_RATE, kinds=("drop_after_apply",), operations=frozenset({"PutItem"}), seed=5
    )
    with DynamoProxy(moto_url, plan) as proxy:
        report = run_faulted(env, proxy, "400 creates, 20% of replies lost")

    assert report.failures == {}
    assert (report.outcome, report.created) == ("succeeded", 400)
    assert len(env.snapshot()) == 400


@pytest.mark.soak
def test_soak_day1_5000_assets_with_20_percent_faults(
    env: Env, faulty: DynamoProxy, soak: Scenario
) -> None:
    day1_under_faults(env, faulty, soak)


@pytest.mark.soak
def test_soak_day2_5000_assets_with_20_percent_faults(
    env: Env, faulty: DynamoProxy, soak: Scenario
) -> None:
    day2_under_faults(env, faulty, soak)

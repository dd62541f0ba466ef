"""Crash safety: SIGKILL the CLI sync at seeded points during apply, then run again.

The sync runs as a child process (`python -m asset_sync.cli sync --json`) whose DynamoDB traffic
goes through a counting `DynamoProxy` (no faults); the test kills it (SIGKILL: no cleanup, no
lease release) as soon as the proxy has seen a seeded number of asset writes. The killed run's
lease is 5 s (`SYNC_LOCK_LEASE_SECONDS=5`, the shortest allowed), so once it has expired the
next run may start.

After the kill, every item must be whole: exactly the old item or exactly the new one (owned
attributes, `sync_version` and `sync_hash` included, and the hash must match the content). After
the rerun, the table must equal the table of a clean run, with no asset lost or duplicated and
other services' attributes intact.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tests.support import Env
from tests.support.reliability import (
    child_env,
    foreign_view,
    hash_matches_content,
    kill,
    owned_view,
    reference_views,
    start_cli,
    wait_for_lease_expiry,
    wait_until,
)

from asset_sync.local.catalog import evolve_catalog, generate_catalog
from asset_sync.local.dynamo_proxy import DynamoProxy
from asset_sync.logic.sync import LeaseHeldError
from asset_sync.wiring import build_run

SIZE = 150
DAY1 = generate_catalog(SIZE, seed=31)
DAY2, CHANGES = evolve_catalog(
    DAY1, seed=32, listings=0.05, delistings=0.05, flips=0.3, renames=0.05
)
DAY1_WRITES = SIZE
DAY2_WRITES = len(CHANGES.listed) + len(CHANGES.changed) + len(CHANGES.delisted)
SEEDS = (1, 2, 3)
pytestmark = pytest.mark.xdist_group("crash_safety")  # one worker builds `expected` once


@dataclass
class Expected:
    day1: dict[str, dict[str, Any]]
    day2: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def expected(moto_url: str) -> Expected:
    """Owned attributes after clean day-1 and day-2 runs (a separate table)."""
    return Expected(*reference_views(moto_url, DAY1, DAY2))


@pytest.fixture
def proxy(moto_url: str) -> Iterator[DynamoProxy]:
    with DynamoProxy(moto_url) as counting:
        yield counting


def asset_writes(proxy: DynamoProxy) -> int:
    """PutItem/UpdateItem requests seen, less the lease's acquire."""
    requests = proxy.stats.requests
    return requests["PutItem"] + max(0, requests["UpdateItem"] - 1)


def kill_during_apply(env: Env, proxy: DynamoProxy, threshold: int) -> int:
    """Start the CLI sync through the proxy, SIGKILL it once `threshold` asset writes went by."""
    proxy.reset_stats()
    cli_env = child_env(
        env.cli_env(), AWS_ENDPOINT_URL_DYNAMODB=proxy.url, SYNC_LOCK_LEASE_SECONDS="5"
    )
    process = start_cli("sync", "--json", env=cli_env, fast=False)
    try:
        if threshold == 0:
            reached = wait_until(
                lambda: proxy.stats.requests["UpdateItem"] >= 1 or process.poll() is not None,
                60,
                0.001,
            )
        else:
            reached = wait_until(
                lambda: asset_writes(proxy) >= threshold or process.poll() is not None, 60, 0.001
            )
    finally:
        kill(process)
    assert reached, "the sync never reached the kill point"
    assert process.returncode == -signal.SIGKILL, "the sync finished before it could be killed"
    # requests the proxy had already read are still forwarded to moto: let them land
    seen = -1
    for _ in range(100):  # bounded: at most ~10 s
        if proxy.stats.total() == seen:
            break
        seen = proxy.stats.total()
        time.sleep(0.1)
    return asset_writes(proxy)


def assert_table(env: Env, want: dict[str, dict[str, Any]]) -> None:
    """The table equals `want` (owned attributes), nothing lost, nothing duplicated."""
    snapshot = env.snapshot()
    count = env.assets.client.scan(
        TableName=env.settings.assets_table, Select="COUNT", ConsistentRead=True
    )["Count"]
    assert count == len(snapshot) == len(want)
    assert set(snapshot) == set(want)
    assert owned_view(snapshot) == want
    assert all(hash_matches_content(item) for item in snapshot.values())


def rerun_after_lease_expiry(env: Env) -> Any:
    wait_for_lease_expiry(env)
    report = build_run(env.settings).run()
    state = env.state.read()
    assert state.lock_owner is None
    assert state.last_run_outcome == "succeeded"
    return report


@pytest.mark.parametrize("seed", [0, *SEEDS], ids=lambda s: f"seed{s}")
def test_day1_killed_during_creates_then_rerun_converges(
    env: Env, proxy: DynamoProxy, expected: Expected, seed: int
) -> None:
    env.serve(DAY1)
    threshold = 0 if seed == 0 else random.Random(seed).randint(1, DAY1_WRITES - 1)

    written = kill_during_apply(env, proxy, threshold)

    after_kill = env.snapshot()
    assert threshold <= written and len(after_kill) < SIZE
    for symbol, item in owned_view(after_kill).items():
        assert item == expected.day1[symbol], f"{symbol} is not a whole item"
    assert env.state.read().lock_owner, "the killed run still holds its lease"

    report = rerun_after_lease_expiry(env)

    assert report.created == SIZE - len(after_kill)
    assert report.unchanged == len(after_kill)
    assert_table(env, expected.day1)


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
def test_day2_killed_during_updates_then_rerun_converges_with_no_mixed_item(
    env: Env, proxy: DynamoProxy, expected: Expected, seed: int
) -> None:
    env.serve(DAY1)
    build_run(env.settings).run()
    client, table = env.assets.client, env.settings.assets_table
    for symbol in list(env.snapshot())[::3]:  # another service annotates a third of the items
        client.update_item(
            TableName=table,
            Key={"symbol": {"S": symbol}},
            UpdateExpression="SET last_pollenation_date = :d",
            ExpressionAttributeValues={":d": {"S": "2026-11-28"}},
        )
    foreign_before = foreign_view(env.snapshot())
    env.serve(DAY2)
    threshold = random.Random(seed).randint(1, DAY2_WRITES - 1)

    written = kill_during_apply(env, proxy, threshold)

    after_kill = env.snapshot()
    assert threshold <= written < DAY2_WRITES
    old_items = new_items = 0
    for symbol, item in owned_view(after_kill).items():
        if item == expected.day1.get(symbol):
            old_items += 1
        else:
            assert item == expected.day2[symbol], f"{symbol} mixes old and new attributes"
            new_items += 1
        assert hash_matches_content(after_kill[symbol]), symbol
    assert old_items and new_items  # the kill really fell in the middle

    report = rerun_after_lease_expiry(env)

    assert report.created + report.updated + report.delisted == DAY2_WRITES - new_items
    assert_table(env, expected.day2)
    foreign_after = foreign_view(env.snapshot())
    for symbol, foreign in foreign_before.items():
        assert foreign_after[symbol] == foreign, symbol


def test_a_killed_run_blocks_the_next_one_until_its_lease_expires(env: Env) -> None:
    env.serve(DAY1[:50])
    cli_env = child_env(env.cli_env(), SYNC_LOCK_LEASE_SECONDS="30")
    process = start_cli("sync", "--json", env=cli_env, fast=False)
    try:
        assert wait_until(lambda: env.state.read().lock_owner is not None, 60, 0.01)
    finally:
        kill(process)
    before = env.snapshot()

    with pytest.raises(LeaseHeldError, match=r"holds the run lease: run .* lease until"):
        build_run(env.settings).run()

    assert env.snapshot() == before
    assert env.state.read().lock_owner  # still the killed run's lease

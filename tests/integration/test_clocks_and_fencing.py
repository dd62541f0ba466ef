"""Clocks and run numbers (issue 8): a wrong clock never freezes the table, runs are ordered by
the number their lease hands out, and a run whose lease was taken over is fenced.

Every run is the real CLI (or the Lambda handler) in a child process whose `time.time` is shifted
by days (tests/support/skewed_clock.py), against moto's server and the Alpaca stand-in over HTTP.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from tests.support import CANARY_SECRET, CREDENTIALS, CliResult, Env, run_cli
from tests.support import skewed_clock as clock
from tests.support.reliability import (
    SerializingProxy,
    content_view,
    finish,
    foreign_view,
    fresh_env,
    hash_matches_content,
    owned_view,
    wait_until,
)
from tests.support.write_gate import ApplyGate

from asset_sync.dal.errors import ConditionFailedError
from asset_sync.dal.serialization import deserialize_item
from asset_sync.local.catalog import Asset, evolve_catalog, generate_catalog
from asset_sync.local.stand_in import AlpacaStandIn, Fault
from asset_sync.logic.sync import Progress, SyncError
from asset_sync.wiring import build_run

DAY = clock.DAY
DAY1 = generate_catalog(150, seed=81)
DAY2, CHANGES2 = evolve_catalog(
    DAY1, seed=82, listings=0.03, delistings=0.05, flips=0.2, renames=0.05
)
DAY3, CHANGES3 = evolve_catalog(
    DAY2, seed=83, listings=0.03, delistings=0.05, flips=0.2, renames=0.05
)
BEHIND = re.compile(r"this machine's clock is 3 days 0 h behind the last run's \(run number \d+")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def days_off(timestamp: str) -> float:
    """How many days `timestamp` (a run's start) is ahead of the real clock now."""
    return (parse_time(timestamp) - datetime.now(UTC)).total_seconds() / DAY


def sync(env: Env, offset: float, *args: str, **extra_env: str) -> CliResult:
    """`asset-sync sync --json ARGS` in a child process whose clock is `offset` seconds off."""
    child_env = {**env.cli_env(), **extra_env}
    result = finish(clock.start("sync", "--json", *args, env=child_env, offset=offset))
    assert CANARY_SECRET not in result.stdout + result.stderr
    return result


def status(env: Env) -> dict[str, Any]:
    result = run_cli("status", "--json", env=env.cli_env())
    assert result.code == 0, result.stderr
    return dict(result.json())


def item_seqs(env: Env) -> dict[str, int]:
    """Every item's `sync_run_seq` (the number of the run that last wrote it)."""
    return {s: int(item["sync_run_seq"]["N"]) for s, item in env.snapshot().items()}


@pytest.fixture(scope="module")
def expected(moto_url: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Owned attributes (timestamps and run numbers aside) after clean runs on one right clock."""
    with AlpacaStandIn(DAY1, key_id=CREDENTIALS.key_id, secret_key=CREDENTIALS.secret_key) as api:
        ref = fresh_env(moto_url, api)
        views = {}
        for name, catalog in (("day1", DAY1), ("day2", DAY2), ("day3", DAY3)):
            ref.serve(catalog)
            assert build_run(ref.settings).run().outcome == "succeeded"
            views[name] = owned_view(ref.snapshot())
        return views


def check_applied_every_change(report: dict[str, Any], changes: Any) -> None:
    assert report["outcome"] == "succeeded", report["message"]
    assert report["created"] == len(changes.listed)
    assert report["updated"] == len(changes.changed)
    assert report["delisted"] == len(changes.delisted)
    assert report["superseded"] == 0


# -- a wrong clock never freezes the table --------------------------------------------------------


def test_a_run_from_a_clock_three_days_ahead_then_one_from_the_right_clock_applies_everything(
    env: Env, expected: dict[str, dict[str, dict[str, Any]]]
) -> None:
    env.serve(DAY1)
    ahead = sync(env, +3 * DAY)
    assert ahead.code == 0, ahead.stderr
    first = ahead.json()
    assert first["outcome"] == "succeeded" and first["created"] == len(DAY1)
    assert 2.99 < days_off(first["last_sync_timestamp"]) < 3.01  # the clock really was ahead
    env.serve(DAY2)

    right = sync(env, 0)

    assert right.code == 0, right.stderr
    second = right.json()
    check_applied_every_change(second, CHANGES2)
    assert any(BEHIND.match(warning) for warning in second["warnings"]), second["warnings"]
    assert owned_view(env.snapshot()) == expected["day2"]
    assert second["run_seq"] > first["run_seq"]
    seqs = item_seqs(env)
    written = {*CHANGES2.listed, *CHANGES2.changed, *CHANGES2.delisted}
    assert {s for s, n in seqs.items() if n == second["run_seq"]} == written
    assert {s for s, n in seqs.items() if n == first["run_seq"]} == set(seqs) - written
    state = status(env)
    assert state["last_run_seq"] == state["last_run"]["run_seq"] == second["run_seq"]
    assert state["last_success"]["run_seq"] == second["run_seq"]
    # the state's last run is the highest number, although its timestamp is the earlier one
    assert state["last_run"]["last_sync_timestamp"] < first["last_sync_timestamp"]


def test_a_run_from_a_clock_three_days_behind_applies_everything_and_says_so(
    env: Env, expected: dict[str, dict[str, dict[str, Any]]]
) -> None:
    reports = []
    for catalog, offset in ((DAY1, 0.0), (DAY2, -3 * DAY), (DAY3, 0.0)):
        env.serve(catalog)
        result = sync(env, offset)
        assert result.code == 0, result.stderr
        reports.append(result.json())
    _, behind, right = reports

    check_applied_every_change(behind, CHANGES2)
    assert -3.01 < days_off(behind["last_sync_timestamp"]) < -2.99
    assert [w for w in behind["warnings"] if BEHIND.match(w)], behind["warnings"]
    check_applied_every_change(right, CHANGES3)
    assert not [w for w in right["warnings"] if "clock" in w]  # ahead of the last run: fine
    assert owned_view(env.snapshot()) == expected["day3"]
    numbers = [r["run_seq"] for r in reports]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    history = env.state.history(10)
    assert [r["run_seq"] for r in history] == numbers[::-1]
    assert [r["last_sync_timestamp"] for r in history[::-1]] == [
        r["last_sync_timestamp"] for r in reports
    ]
    seqs = item_seqs(env)
    written3 = {*CHANGES3.listed, *CHANGES3.changed, *CHANGES3.delisted}
    assert {s for s, n in seqs.items() if n == right["run_seq"]} == written3
    assert max(seqs.values()) == right["run_seq"]


def test_the_lambda_on_a_clock_three_days_behind_applies_everything_and_logs_the_warning(
    env: Env, expected: dict[str, dict[str, dict[str, Any]]]
) -> None:
    env.serve(DAY1)
    assert sync(env, 0).code == 0
    env.serve(DAY2)
    event = {"id": "evt-behind", "source": "aws.events", "detail-type": "Scheduled Event"}

    process = clock.start("--handler", json.dumps(event), env=env.cli_env(), offset=-3 * DAY)
    result = finish(process)

    assert result.code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    returned = json.loads(result.stdout.split("RESULT ", 1)[1])
    check_applied_every_change(returned, CHANGES2)
    assert [w for w in returned["warnings"] if BEHIND.match(w)]
    logged = [line for line in lines if line.get("level") == "WARNING"]
    assert [line for line in logged if BEHIND.match(str(line.get("message")))], logged
    assert owned_view(env.snapshot()) == expected["day2"]


def test_a_run_from_a_clock_three_days_behind_waits_out_a_rate_limit_by_the_servers_clock(
    env: Env,
) -> None:
    """Alpaca's `X-RateLimit-Reset` is epoch seconds on Alpaca's clock: a machine three days
    behind must not read it as "wait three days" (it has the response's `Date` to go by)."""
    env.serve(DAY1)
    env.stand_in.script(Fault.rate_limited(reset_in=1))

    behind = sync(env, -3 * DAY)

    assert behind.code == 0, behind.stderr
    assert behind.json()["created"] == len(DAY1)
    assert behind.json()["alpaca_attempts"] >= 2


# -- run numbers ---------------------------------------------------------------------------------


def test_status_shows_the_last_runs_real_duration_and_its_number(env: Env) -> None:
    env.serve(DAY1)
    runs = []
    for _ in range(2):
        result = sync(env, 0)
        assert result.code == 0, result.stderr
        runs.append(result.json())

    state = status(env)
    text = run_cli("status", env=env.cli_env())

    last = state["last_run"]
    assert last["run_seq"] == runs[1]["run_seq"] == runs[0]["run_seq"] + 1
    assert 0 < last["duration_seconds"] <= runs[1]["duration_seconds"]
    assert last["full"] is False and last["unchanged"] == len(DAY1)  # the record has the counts
    stored = env.state.history(1)[0]
    assert stored["duration_seconds"] == last["duration_seconds"]
    assert (stored["run_seq"], stored["full"]) == (last["run_seq"], False)
    assert text.code == 0
    assert (
        f"last run: number {last['run_seq']}, started {last['last_sync_timestamp']}, "
        f"succeeded in {last['duration_seconds']:.1f} s"
    ) in text.stdout


def test_the_data_layer_refuses_a_write_from_a_lower_run_number_whatever_it_expects(
    env: Env,
) -> None:
    """The fence is in the condition DynamoDB evaluates: a stored `sync_run_seq` higher than
    the writer's fails the write even when every expected value matches."""
    env.serve(DAY1[:5])
    build_run(env.settings).run()
    symbol = str(DAY1[0]["symbol"])
    item = env.item(symbol)
    assert item is not None
    table = env.assets

    def write(run_seq: int, name: str) -> None:
        current = env.item(symbol)
        assert current is not None
        expected = {k: current.get(k) for k in ("name", "sync_version", "sync_run_seq")}
        version = current["sync_version"] + 1
        table.update_owned(
            symbol,
            {"name": name, "sync_version": version, "sync_run_seq": Decimal(run_seq)},
            (),
            expected,
            run_seq,
        )

    write(7, "seven")
    with pytest.raises(ConditionFailedError):
        write(6, "six")  # a lower number: refused although `expected` is exact
    write(7, "seven again")  # the same number (the run itself) may write again
    write(8, "eight")
    after = env.item(symbol)
    assert after is not None
    assert (after["name"], after["sync_run_seq"]) == ("eight", 8)


# -- a lease taken over by a run on a skewed clock -----------------------------------------------

EQUITIES = [a for a in generate_catalog(400, seed=84) if a["class"] == "us_equity"][:120]


def renamed(catalog: list[Asset], symbols: list[str], suffix: str) -> list[Asset]:
    return [
        {**a, "name": f"{a['name']} {suffix}"} if a["symbol"] in symbols else dict(a)
        for a in catalog
    ]


@pytest.fixture
def racing_env(env: Env, moto_url: str) -> Iterator[Env]:
    """The fixture's tables behind a SerializingProxy: moto's server does not apply conditional
    writes atomically under concurrent requests, real DynamoDB does."""
    with SerializingProxy(moto_url) as proxy:
        settings = env.settings.with_overrides(dynamodb_endpoint_url=proxy.url)
        yield Env(settings, env.assets, env.state, env.stand_in)


def seed_annotated(env: Env, catalog: list[Asset]) -> None:
    """A synced table whose every item another service annotated."""
    env.serve(catalog)
    assert build_run(env.settings).run().outcome == "succeeded"
    for symbol in env.snapshot():
        env.assets.client.update_item(
            TableName=env.settings.assets_table,
            Key={"symbol": {"S": symbol}},
            UpdateExpression="SET sector = :s",
            ExpressionAttributeValues={":s": {"S": f"sector-{symbol}"}},
        )


def reference_content(moto_url: str, first: list[Asset], then: list[Asset]) -> dict[str, Any]:
    """Content and status after a clean run of `first` then one of `then`."""
    with AlpacaStandIn(first, key_id=CREDENTIALS.key_id, secret_key=CREDENTIALS.secret_key) as api:
        ref = fresh_env(moto_url, api)
        for catalog in (first, then):
            ref.serve(catalog)
            assert build_run(ref.settings).run().outcome == "succeeded"
        return content_view(ref.snapshot())


def test_a_run_whose_lease_a_skewed_clock_took_over_is_fenced_and_stops(
    racing_env: Env, moto_url: str
) -> None:
    """Run A writes slowly (2 writes/s) on the right clock with a 900 s lease. Run B, on a clock
    a day ahead, judges A's lease expired, takes it with the next number and syncs the newer
    catalog, which writes every item A's catalog changes (and some others). A's next write on
    an item B wrote fails its condition; A stops there (lease lost) and records why."""
    env = racing_env
    seed_annotated(env, EQUITIES)
    foreign_before = foreign_view(env.snapshot())
    targets = [str(a["symbol"]) for a in EQUITIES[10:50]]
    others = [str(a["symbol"]) for a in EQUITIES[60:66]]
    gone = {str(a["symbol"]) for a in EQUITIES[70:73]}
    old_catalog = renamed(EQUITIES, targets, "(old run)")
    new_catalog = [
        a for a in renamed(EQUITIES, [*targets, *others], "(new run)") if a["symbol"] not in gone
    ]
    slow = {"MAX_WRITES_PER_SECOND": "2", "WRITE_CONCURRENCY": "1"}
    env.serve(old_catalog)

    first = clock.start("sync", "--json", env={**env.cli_env(), **slow}, offset=0)
    try:

        def old_names_written() -> int:
            return sum(str(i.get("name", "")).endswith("(old run)") for i in current(env))

        assert wait_until(lambda: old_names_written() >= 3, timeout=60, interval=0.05)
        env.serve(new_catalog)
        newer = sync(env, +1 * DAY)
    finally:
        stale = finish(first)

    assert newer.code == 0, newer.stderr
    new_report = newer.json()
    assert new_report["outcome"] == "succeeded"
    assert new_report["updated"] == len(targets) + len(others)
    assert new_report["delisted"] == len(gone)
    old_report = stale.json()
    assert stale.code == 1, stale.stderr
    assert new_report["run_seq"] > old_report["run_seq"]
    # A stopped at its first fenced write: it wrote a few of its 40 items, not the rest
    written_by_old = [s for s, c in old_report["changes"].items() if c["action"] == "update"]
    assert 3 <= len(written_by_old) < len(targets)
    assert old_report["superseded"] + old_report["failed"] + len(written_by_old) == len(targets)
    reason = f"newer run (number {new_report['run_seq']})"
    assert reason in old_report["message"], old_report["message"]
    assert "lease" in old_report["message"]
    not_attempted = [s for s, m in old_report["failures"].items() if m.startswith("not attempted")]
    assert len(not_attempted) >= len(targets) - len(written_by_old) - 1
    # the table is exactly the newer run's catalog, every foreign attribute intact
    after = env.snapshot()
    assert content_view(after) == reference_content(moto_url, EQUITIES, new_catalog)
    assert foreign_view(after) == foreign_before
    assert all(hash_matches_content(item) for item in after.values())
    assert {int(after[s]["sync_run_seq"]["N"]) for s in targets} == {new_report["run_seq"]}
    # the state: B is the last run; A's own record says why it stopped
    state = status(env)
    assert state["last_run"]["run_seq"] == new_report["run_seq"]
    assert state["lock_owner"] is None
    record = next(r for r in env.state.history(10) if r["run_seq"] == old_report["run_seq"])
    assert record["outcome"] != "succeeded"
    assert reason in record["message"] and "lease" in record["message"]


def test_a_run_that_reads_items_a_newer_run_wrote_stops_before_writing(
    racing_env: Env, moto_url: str
) -> None:
    """Run A stalls between taking its lease and reading the table; run B, on a clock a day
    ahead, takes the lease over and delists an asset A's catalog still lists. A reads that item
    (with B's number) among others: it writes nothing, neither there nor on the items B left as
    they were, and says why."""
    env = racing_env
    seed_annotated(env, EQUITIES)
    symbols = [str(a["symbol"]) for a in EQUITIES]
    kept, gone = symbols[5:8], symbols[9]
    old_catalog = renamed(EQUITIES, kept, "(old run)")
    new_catalog = [a for a in EQUITIES if a["symbol"] != gone]
    newer: list[CliResult] = []

    def newer_run_takes_over(message: str) -> None:
        if message.startswith("reading the table") and not newer:
            env.serve(new_catalog)
            newer.append(sync(env, +1 * DAY))

    env.serve(old_catalog)
    with pytest.raises(SyncError) as stopped:
        build_run(env.settings, Progress(stage=newer_run_takes_over)).run()

    assert newer and newer[0].code == 0, newer[0].stderr if newer else "B never ran"
    new_report = newer[0].json()
    assert new_report["delisted"] == 1
    report = stopped.value.report
    assert report.superseded == 1
    assert report.updated == 0 and not report.changes
    assert "a newer run wrote 1 of the items this run read" in report.message
    assert content_view(env.snapshot()) == reference_content(moto_url, EQUITIES, new_catalog)
    record = next(r for r in env.state.history(10) if r["run_seq"] == report.run_seq)
    assert record["outcome"] == "failed" and "lease was taken over" in record["message"]


def current(env: Env) -> list[dict[str, Any]]:
    return [deserialize_item(raw) for raw in env.snapshot().values()]


def test_a_stale_run_never_writes_an_item_the_newer_run_left_unchanged(
    racing_env: Env, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic: run A (in process) is held after its first write while run B (a child on a
    clock a day ahead) takes the lease over and completes; A's next write is on an item whose
    newer-catalog value is the one B read, so B wrote nothing there."""
    env = racing_env
    seed_annotated(env, EQUITIES)
    symbols = [str(a["symbol"]) for a in EQUITIES]
    kept, fenced = symbols[20:22], symbols[30:33]  # A's plan order: kept[0], kept[1], fenced...
    old_catalog = renamed(EQUITIES, [*kept, *fenced], "(old run)")
    new_catalog = renamed(EQUITIES, fenced, "(new run)")  # `kept` as they are in the table
    gate = ApplyGate(monkeypatch)
    newer: list[CliResult] = []

    def newer_run_takes_over() -> None:
        env.serve(new_catalog)
        newer.append(sync(env, +1 * DAY))

    env.serve(old_catalog)
    settings = replace(env.settings, write_concurrency=1)
    with pytest.raises(SyncError):
        build_run(
            settings, Progress(advance=gate.once_after_first_write(newer_run_takes_over))
        ).run()

    assert newer and newer[0].code == 0, newer[0].stderr if newer else "B never ran"
    assert content_view(env.snapshot()) == reference_content(moto_url, EQUITIES, new_catalog)


# -- a lease held past its holder's clock ---------------------------------------------------------


def test_a_lease_taken_on_a_clock_behind_is_taken_over_and_its_run_fenced(env: Env) -> None:
    """A run on a clock three days behind writes a lease that has "expired" for every right
    clock: the next run takes it at once (number + 1), and the stale holder's first write on an
    item the newer run wrote fails."""
    env.serve(DAY1)
    assert sync(env, 0).code == 0
    behind = time.time() - 3 * DAY  # the holder's clock
    behind_lease = env.state.acquire(
        "run-behind", env.settings.assets_table, int(behind + 900), now=behind
    )
    env.serve(DAY2)

    right = sync(env, 0)

    assert right.code == 0, right.stderr
    report = right.json()
    assert report["run_seq"] == behind_lease.run_seq + 1
    check_applied_every_change(report, CHANGES2)
    symbol = sorted(CHANGES2.changed)[0]
    item = env.item(symbol)
    assert item is not None and item["sync_run_seq"] == report["run_seq"]
    expected = {k: item.get(k) for k in ("name", "sync_version", "sync_run_seq")}
    with pytest.raises(ConditionFailedError):  # the stale holder's write, as the applier sends it
        env.assets.update_owned(
            symbol,
            {"name": "stale", "sync_run_seq": Decimal(behind_lease.run_seq)},
            (),
            expected,
            behind_lease.run_seq,
        )

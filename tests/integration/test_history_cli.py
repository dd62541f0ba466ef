"""The history commands as a user runs them (child processes, moto's server): `create-table`,
`history backfill` (twice: the second writes nothing), `universe` in its three formats and its
refusals, `show SYMBOL --history`, and `history` still listing the runs."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.support import CliResult, Env, asset_record, run_cli
from tests.support.cli_output import one_error_line, one_json_object

from asset_sync.dal.client import dynamodb_client
from asset_sync.dal.history import HistoryTable
from asset_sync.events.clock import Deadline, SystemClock
from asset_sync.history.writer import Writer, process
from asset_sync.local.stream import TableStream
from asset_sync.wiring import build_run

BTC = asset_record("BTC/USD", **{"class": "crypto", "exchange": "CRYPTO"})


def cli(env: Env, *args: str) -> CliResult:
    return run_cli(*args, env=env.cli_env())


def history_of(env: Env) -> HistoryTable:
    client = dynamodb_client("us-east-1", env.settings.dynamodb_endpoint_url)
    return HistoryTable(client, f"{env.settings.assets_table}_history")


def write_versions(env: Env, stream: TableStream) -> None:
    """What the history Lambda would do with the stream's new records."""
    writer = Writer(history_of(env), SystemClock())
    outcome = process(stream.read_new(), writer, Deadline.after(writer.clock, 60))
    assert outcome.retry_from is None and outcome.quarantined == 0


@pytest.fixture
def synced(env: Env) -> Env:
    """Three days' worth: B renamed to BB, C delisted, BTC/USD listed, versions written."""
    assert cli(env, "create-table").code == 0
    stream = TableStream(env.settings.assets_table, env.settings.dynamodb_endpoint_url)
    assert cli(env, "history", "backfill").code == 0
    env.serve([asset_record("A"), asset_record("B"), asset_record("C"), BTC])
    build_run(env.settings).run()
    renamed = asset_record("BB", id=asset_record("B")["id"], name="B Inc.")
    env.serve([asset_record("A", tradable=False), renamed, BTC])
    build_run(env.settings.with_overrides(force=True)).run()
    write_versions(env, stream)
    return env


def test_create_table_creates_the_history_table_and_refuses_one_of_another_key(
    env: Env,
) -> None:
    history = f"{env.settings.assets_table}_history"
    first = cli(env, "create-table")
    again = cli(env, "create-table", "--json")
    other = f"{env.settings.assets_table}_odd"
    env.assets.client.create_table(
        TableName=other,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "asset_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "asset_id", "AttributeType": "S"}],
    )
    odd = run_cli("create-table", "--json", env={**env.cli_env(), "HISTORY_TABLE": other})

    assert first.code == 0 and f"{history}: created" in first.stdout
    assert one_json_object(again)["tables"][history] == "already exists"
    assert odd.code == 2
    assert f"table {other!r} is not an asset-sync history table" in one_error_line(odd)
    assert one_json_object(odd)["tables"][other] == "unusable"


def test_backfill_run_twice_writes_nothing_the_second_time(env: Env) -> None:
    env.serve([asset_record(s) for s in ("A", "B", "C")])
    build_run(env.settings).run()
    assert cli(env, "create-table").code == 0

    first = cli(env, "history", "backfill", "--json")
    second = cli(env, "history", "backfill", "--json")
    text = cli(env, "history", "backfill")

    assert first.code == second.code == text.code == 0, first.stderr
    done, again = one_json_object(first), one_json_object(second)
    assert (done["assets"], done["written"], done["present"], done["began_now"]) == (3, 3, 0, True)
    assert done["write_requests"] == 2  # one BatchWriteItem, then where history begins
    assert (again["written"], again["present"], again["began_now"]) == (0, 3, False)
    assert again["write_requests"] == 0
    assert again["begins_at"] == done["begins_at"]
    assert "versions written 0, already there 3 (0 write requests)" in text.stdout
    assert len(history_of(env).versions()) == 3


def universe(env: Env, *args: str) -> dict[str, Any]:
    result = cli(env, "universe", "--json", *args)
    assert result.code == 0, result.stderr
    found: dict[str, Any] = one_json_object(result)
    return found


def test_universe_in_json_csv_and_a_table(synced: Env) -> None:
    active = universe(synced)
    every = universe(synced, "--all-statuses")
    crypto = universe(synced, "--asset-class", "crypto", "--format", "json")
    table = cli(synced, "universe")
    as_csv = cli(synced, "universe", "--format", "csv", "--all-statuses")

    assert [(a["symbol"], a["tradable"]) for a in active["assets"]] == [
        ("A", False),
        ("BB", True),
        ("BTC/USD", True),
    ]
    assert active["count"] == 3  # as of now, when --as-of is left out:
    assert active["as_of"].startswith(datetime.now(UTC).date().isoformat())
    assert [(a["symbol"], a["status"]) for a in every["assets"]][-1] == ("C", "inactive")
    assert [a["symbol"] for a in crypto["assets"]] == ["BTC/USD"]
    assert active["assets"][0]["margin_requirement_long"] == "30"
    assert table.code == 0 and table.stdout.splitlines()[0].startswith("3 assets in ")
    assert any(line.startswith("BB ") and "active" in line for line in table.stdout.splitlines())
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [row["symbol"] for row in rows] == ["A", "BB", "BTC/USD", "C"]
    assert rows[0]["attributes"] == "has_options" and rows[0]["tradable"] == "false"


def test_universe_before_history_began_fails_and_says_when_it_begins(synced: Env) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    begins_at = universe(synced)["history_begins_at"]

    before = cli(synced, "universe", "--as-of", yesterday, "--json")
    text = cli(synced, "universe", "--as-of", yesterday)
    bad = cli(synced, "universe", "--as-of", "last tuesday")

    assert before.code == text.code == 2
    assert f"history begins at {begins_at}" in one_error_line(before)
    assert one_json_object(before)["history_begins_at"] == begins_at
    assert text.stdout == "" and f"{yesterday} is before it" in one_error_line(text)
    assert bad.code == 2 and "is not a date" in one_error_line(bad)


def test_universe_of_a_history_not_begun_says_to_backfill(env: Env) -> None:
    assert cli(env, "create-table").code == 0

    result = cli(env, "universe")

    assert result.code == 2
    assert "history has not begun" in one_error_line(result)
    assert "asset-sync history backfill" in one_error_line(result)


def test_show_history_follows_the_ticker_across_the_rename(synced: Env) -> None:
    old = cli(synced, "show", "B", "--history")
    new = cli(synced, "show", "BB", "--history", "--json")
    missing = cli(synced, "show", "NOPE", "--history", "--json")

    assert old.code == 0, old.stderr
    lines = old.stdout.splitlines()
    assert lines[0].startswith("B in ") and "2 versions of 1 asset" in lines[0]
    assert "first version: " in lines[2] and 'symbol "B" -> "BB"' in lines[4]
    found = one_json_object(new)
    assert [v["symbol"] for v in found["versions"]] == ["B", "BB"]
    assert found["versions"][1]["changes"] == {"symbol": {"old": "B", "new": "BB"}}
    assert missing.code == 1 and "no version of 'NOPE'" in one_error_line(missing)


def test_history_still_lists_the_runs(synced: Env) -> None:
    runs = cli(synced, "history", "--limit", "1", "--json")

    assert runs.code == 0, runs.stderr
    assert [run["run_seq"] for run in one_json_object(runs)["runs"]] == [2]

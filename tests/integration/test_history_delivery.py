"""The history writer's failure handling, through a double of Lambda's event source mapping on
a simulated clock: no version is lost while its record can still be written or kept.

An hour of throttling (through a fault proxy) and a history table missing for 40 minutes
delay versions and lose none; a record that cannot be read, and a version DynamoDB refuses,
are quarantined (the rest of the batch goes on); `asset-sync history replay` writes what can be
written afterwards and names what remains. No invocation outlives its timeout.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.support import Env, asset_record, run_cli
from tests.support.history_days import Days, start

from asset_sync.dal.history import HistoryTable
from asset_sync.local.dynamo_proxy import THROTTLING, DynamoProxy, FaultPlan

HOUR = 3600.0
CATALOG = [asset_record(symbol) for symbol in ("A", "B", "C")]


def settle(days: Days) -> None:
    """Let the mapping finish every record; nothing may be discarded or time out."""
    days.mapping.run()
    assert days.mapping.on_failure == [] and days.mapping.trimmed_unread == []
    assert all(not i.timed_out for i in days.mapping.invocations)
    assert all(i.duration <= 60 for i in days.mapping.invocations)


def test_an_hour_of_throttling_delays_the_versions_and_loses_none(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert env.settings.dynamodb_endpoint_url
    with DynamoProxy(env.settings.dynamodb_endpoint_url) as proxy:
        days = start(env, monkeypatch, writer_endpoint=proxy.url)
        days.backfill()
        days.sync(CATALOG)
        # the proxy reads its plan at each request: from now on, every write is throttled
        proxy.faults = FaultPlan(1.0, (THROTTLING,), frozenset({"BatchWriteItem"}))
        days.mapping.put(days.stream.read_new())
        days.mapping.run(until=days.clock.monotonic() + HOUR)

        assert days.version_count() == 0
        assert days.mapping.metric("HistoryRecordsFailed") > 0
        assert proxy.stats.faults[THROTTLING] > 60  # retried within each invocation
        proxy.faults = FaultPlan()
        settle(days)

    assert days.version_count() == 3
    assert days.universe(days.day) == days.end_of_day()
    assert days.mapping.metric("HistoryVersionsWritten") == 3


def test_a_missing_history_table_delays_the_versions_until_it_exists(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    days = start(env, monkeypatch, create=False)
    days.sync(CATALOG)
    days.mapping.put(days.stream.read_new())
    days.mapping.run(until=days.clock.monotonic() + 40 * 60)
    assert days.mapping.metric("HistoryRecordsFailed") > 0

    days.history.create()
    settle(days)

    assert days.version_count() == 3


def unreadable(symbol: str) -> dict[str, Any]:
    """A record of the table's stream that no code reads: its images are gone."""
    return {
        "eventID": f"0badc0de{symbol}",
        "eventName": "MODIFY",
        "dynamodb": {"Keys": {"symbol": {"S": symbol}}, "SequenceNumber": "1", "SizeBytes": 1},
    }


def test_an_unreadable_record_is_quarantined_and_the_batch_goes_on(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    days = start(env, monkeypatch)
    days.backfill()
    days.sync(CATALOG)
    records = days.stream.read_new()
    days.mapping.put([records[0], unreadable("A"), *records[1:]])
    settle(days)

    [kept] = days.history.quarantined()
    assert (kept.key, kept.reason) == ("0badc0deA", "unreadable")
    assert "lacks its images" in kept.error and kept.record["eventID"] == "0badc0deA"
    assert days.version_count() == 3
    assert days.mapping.metric("HistoryRecordsQuarantined") == 1

    still = run_cli("history", "replay", "--json", env=env.cli_env())
    assert still.code == 1, still.stderr
    assert "1 quarantined records remain (0badc0deA)" in still.stderr
    assert json.loads(still.stdout)["remaining"] == 1


def test_a_version_dynamodb_refuses_is_quarantined_and_replayed_once_it_can_be(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    days = start(env, monkeypatch)
    days.backfill()
    days.sync(CATALOG)
    days.deliver()
    days.hand_edit("B", asset_id="x" * 1100)  # a sort key over DynamoDB's 1,024 bytes
    days.hand_edit("C", name="C by hand")
    days.deliver()

    [kept] = days.history.quarantined()
    assert kept.reason == "refused" and "ValidationException" in kept.error
    assert days.version_count() == 4  # A, B, C listed; C's hand edit

    fixed = json.dumps(kept.record).replace("x" * 1100, "id-B-fixed")
    days.history.quarantine(kept.key, json.loads(fixed), kept.reason, kept.error, "now")
    dry = run_cli("history", "replay", "--dry-run", "--json", env=env.cli_env())
    replayed = run_cli("history", "replay", "--json", env=env.cli_env())
    again = run_cli("history", "replay", "--json", env=env.cli_env())

    assert dry.code == 0 and json.loads(dry.stdout)["written"] == 1
    assert replayed.code == 0, replayed.stderr
    assert json.loads(replayed.stdout) | {"items": None} == {
        "outcome": "succeeded",
        "history_table": days.history.table_name,
        "dry_run": False,
        "quarantined": 1,
        "written": 1,
        "no_version": 0,
        "remaining": 0,
        "items": None,
    }
    assert [v.symbol for v in HistoryTable.versions_of(days.history, "id-B-fixed")] == ["B"]
    assert json.loads(again.stdout)["quarantined"] == 0

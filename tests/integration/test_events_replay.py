"""`asset-sync events replay` as an operator runs it: moto's S3 and EventBridge, a child process."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
import pytest
from tests.support import CliResult, run_cli
from tests.support.event_bus import Bus, quarantine_bucket
from tests.support.stream_records import record, sync_write, synced, values

from asset_sync.events import to_events
from asset_sync.events.quarantine import EXPIRING, REFUSED, UNREADABLE, Quarantine
from asset_sync.local.moto_server import LOCAL_CREDENTIALS


@pytest.fixture
def bus(moto_url: str) -> Bus:
    return Bus.create(moto_url)


@pytest.fixture
def quarantine(moto_url: str) -> Quarantine:
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    return Quarantine(s3, quarantine_bucket(moto_url))  # type: ignore[arg-type]


def replay(moto_url: str, *args: str, **environ: str) -> CliResult:
    env = {
        **os.environ,
        **LOCAL_CREDENTIALS,
        "AWS_ENDPOINT_URL_EVENTBRIDGE": moto_url,
        "AWS_ENDPOINT_URL_S3": moto_url,
        **environ,
    }
    return run_cli("events", "replay", *args, env=env, timeout=120)


def keep(quarantine: Quarantine, rec: dict[str, Any], reason: str, with_entry: bool) -> str:
    entry = to_events([rec])[0] if with_entry else None
    return quarantine.put(rec, reason, "injected", entry, now=1_796_011_200.0)


def event_id(rec: dict[str, Any]) -> str:
    return str(json.loads(to_events([rec])[0]["Detail"])["event_id"])


def test_replay_publishes_with_the_same_event_ids_and_empties_the_quarantine(
    moto_url: str, bus: Bus, quarantine: Quarantine
) -> None:
    item = synced("IBM")
    listed = record(None, synced("AAPL"), ApproximateCreationDateTime=1_796_000_000)
    updated = record(
        item, sync_write(item, name="IBM Corp."), ApproximateCreationDateTime=1_796_000_100
    )
    keep(quarantine, updated, REFUSED, with_entry=True)
    keep(quarantine, listed, EXPIRING, with_entry=True)
    where = {"EVENTS_QUARANTINE_BUCKET": quarantine.bucket, "EVENT_BUS_NAME": bus.name}

    result = replay(moto_url, "--json", **where)

    assert result.code == 0, result.stderr
    summary = result.json()
    assert (summary["outcome"], summary["published"], summary["remaining"]) == ("succeeded", 2, 0)
    assert [item["symbol"] for item in summary["items"]] == ["AAPL", "IBM"]  # by change time
    delivered = bus.delivered()
    assert {e["detail"]["event_id"] for e in delivered} == {event_id(listed), event_id(updated)}
    assert list(quarantine.object_keys()) == []
    assert result.stderr == ""


def test_a_dry_run_shows_what_would_happen_and_changes_nothing(
    moto_url: str, bus: Bus, quarantine: Quarantine
) -> None:
    foreign = values(symbol="ZZZ", sector="x")
    unreadable = record(None, synced("BAD"))
    del unreadable["dynamodb"]["NewImage"]
    keys = [
        keep(quarantine, record(None, synced("AAPL")), REFUSED, with_entry=True),
        keep(quarantine, record(foreign, {**foreign, **values(sector="y")}), UNREADABLE, False),
        keep(quarantine, unreadable, UNREADABLE, with_entry=False),
    ]

    result = replay(moto_url, "--dry-run", "--bucket", quarantine.bucket, "--bus", bus.name)

    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"dry run: quarantine s3://{quarantine.bucket} -> bus {bus.name}"
    assert sorted(line.split()[0:2] for line in lines[1:4]) == [
        ["no", "event"],
        ["remains", "no"],
        ["would", "publish"],
    ]
    assert lines[-1] == (
        "3 quarantined: 1 would be published, 1 announce nothing today, 1 cannot be published"
    )
    assert sorted(quarantine.object_keys()) == sorted(keys)
    assert bus.delivered() == []


def test_what_cannot_be_published_remains_and_fails_with_one_line(
    moto_url: str, bus: Bus, quarantine: Quarantine
) -> None:
    unreadable = record(None, synced("BAD"))
    del unreadable["dynamodb"]["NewImage"]
    foreign = values(symbol="ZZZ", sector="x")
    kept = keep(quarantine, unreadable, UNREADABLE, with_entry=False)
    keep(quarantine, record(foreign, {**foreign, **values(sector="y")}), UNREADABLE, False)

    result = replay(moto_url, "--bucket", quarantine.bucket, "--bus", bus.name)

    assert result.code == 1
    assert result.stdout.splitlines()[-1] == "0 published, 1 announce nothing (deleted), 1 remain"
    [line] = result.stderr.splitlines()
    assert line.startswith("asset-sync: 1 of 2 quarantined records not replayed (")
    assert kept in line
    assert list(quarantine.object_keys()) == [kept]


def test_a_bus_that_keeps_failing_leaves_everything_quarantined(
    moto_url: str, quarantine: Quarantine
) -> None:
    keep(quarantine, record(None, synced("AAPL")), REFUSED, with_entry=True)

    result = replay(
        moto_url, "--json", "--deadline-seconds", "10", "--bucket", quarantine.bucket,
        "--bus", "no-such-bus",
    )  # fmt: skip

    assert result.code == 1
    summary = result.json()
    assert (summary["published"], summary["remaining"]) == (0, 1)
    assert summary["items"][0]["error"] == "ResourceNotFoundException"
    assert len(list(quarantine.object_keys())) == 1


@pytest.mark.parametrize(
    ("args", "environ", "message"),
    [
        ((), {"EVENT_BUS_NAME": "b"}, "no quarantine bucket"),
        (("--bucket", "q"), {}, "no event bus"),
        (("--bucket", "no-such-bucket-here", "--bus", "b"), {}, "NoSuchBucket"),
    ],
)
def test_configuration_errors_exit_2_with_one_line_and_one_json_object(
    moto_url: str, args: tuple[str, ...], environ: dict[str, str], message: str
) -> None:
    clean = {"EVENTS_QUARANTINE_BUCKET": "", "EVENT_BUS_NAME": "", **environ}

    result = replay(moto_url, "--json", *args, **clean)

    assert result.code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("asset-sync: ") and message in line
    answer = result.json()
    assert (answer["outcome"], answer["exit_code"]) == ("failed", 2)
    assert message in answer["message"]

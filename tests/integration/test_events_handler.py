"""The consumer Lambda in-process: moto's stream records in, PutEvents over HTTP to moto's bus.

The bus routes `signal9.asset-sync` to an SQS queue, so what a subscriber would receive is
read back from the queue. Failed entries are injected on the wire by `PutEventsProxy`.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.metrics.provider import cold_start
from botocore.exceptions import ClientError
from tests.support import Env
from tests.support import asset_record as asset
from tests.support.event_bus import Bus, quarantine_bucket
from tests.support.events_proxy import FailurePlan, Fault, PutEventsProxy
from tests.support.sim_clock import SimClock, SimLambdaContext
from tests.support.stream_records import (
    hand_edit,
    record,
    schema_errors,
    sync_write,
    synced,
)

from asset_sync.events import SOURCE, handler, to_events
from asset_sync.events.entries import make_entry
from asset_sync.events.handler import build_consumer
from asset_sync.events.publisher import events_client
from asset_sync.local.stream import TableStream
from asset_sync.wiring import build_run

LOG_STREAM = io.StringIO()
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bus(moto_url: str) -> Bus:
    return Bus.create(moto_url)


@pytest.fixture
def clock() -> SimClock:
    """The consumer's clock: its backoff sleeps pass at once."""
    return SimClock()


@pytest.fixture
def proxy(
    moto_url: str, bus: Bus, clock: SimClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PutEventsProxy]:
    """The consumer's environment as the stack sets it, with EventBridge behind the proxy."""
    with PutEventsProxy(moto_url) as running:
        environ = {
            "EVENT_BUS_NAME": bus.name,
            "EVENTS_QUARANTINE_BUCKET": quarantine_bucket(moto_url),
        }
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", running.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_url)
        handler.consumer.cache_clear()
        monkeypatch.setattr(handler, "consumer", lambda: build_consumer(os.environ, clock))
        cold_start.is_cold_start = True
        log_handler = handler.logger.registered_handler
        original = log_handler.setStream(LOG_STREAM)  # type: ignore[attr-defined]
        LOG_STREAM.seek(0)
        LOG_STREAM.truncate()
        yield running
        log_handler.setStream(original)  # type: ignore[attr-defined]


def stream_records(env: Env, symbols: int = 12) -> list[dict[str, Any]]:
    """Real records: a day-1 load, another service's annotation, a day-2 change."""
    stream = TableStream(env.settings.assets_table, env.settings.dynamodb_endpoint_url)
    catalog = [asset(f"S{i:02d}") for i in range(symbols)]
    env.stand_in.set_assets(catalog)
    build_run(env.settings).run()
    env.assets.client.update_item(
        TableName=env.settings.assets_table,
        Key={"symbol": {"S": "S00"}},
        UpdateExpression="SET sector = :s",
        ExpressionAttributeValues={":s": {"S": "Tech"}},
    )
    catalog[-1] = asset(catalog[-1]["symbol"], name="Holdings with a new name")
    env.stand_in.set_assets(catalog)
    build_run(env.settings).run()
    return stream.read_new()


def invoke(
    records: list[dict[str, Any]], capsys: pytest.CaptureFixture[str], clock: SimClock
) -> tuple[dict[str, Any], dict[str, float], list[dict[str, Any]]]:
    """Run the handler (60 s on `clock`); return its response, EMF metrics and log lines."""
    context = SimLambdaContext(clock, timeout_seconds=60)
    response = handler.lambda_handler({"Records": records}, context)  # type: ignore[arg-type]
    assert context.elapsed() <= 60
    lines = [
        json.loads(line)
        for line in (capsys.readouterr().out + LOG_STREAM.getvalue()).splitlines()
        if line.startswith("{")
    ]
    LOG_STREAM.seek(0)
    LOG_STREAM.truncate()
    metrics: dict[str, float] = {}
    for line in lines:
        for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
            assert directive["Namespace"] == "Signal9/AssetSync"
            for metric in directive["Metrics"]:
                value = line[metric["Name"]]
                metrics[metric["Name"]] = sum(value) if isinstance(value, list) else value
    return response, metrics, [line for line in lines if "message" in line]


def keys(events: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """(detail type, symbol) of delivered events, counted."""
    return Counter((e["detail-type"], e["detail"]["symbol"]) for e in events)


def expected(records: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    return Counter(
        (entry["DetailType"], json.loads(entry["Detail"])["symbol"]) for entry in to_events(records)
    )


def position_of(records: list[dict[str, Any]], symbol: str, event_name: str) -> int:
    return next(
        i
        for i, r in enumerate(records)
        if r["dynamodb"]["Keys"]["symbol"]["S"] == symbol and r["eventName"] == event_name
    )


def test_every_event_reaches_the_bus_once_with_logs_and_metrics(
    env: Env, bus: Bus, proxy: PutEventsProxy, capsys: pytest.CaptureFixture[str], clock: SimClock
) -> None:
    records = stream_records(env)

    response, metrics, logs = invoke(records, capsys, clock)
    delivered = bus.delivered()

    assert response == {"batchItemFailures": []}
    assert keys(delivered) == expected(records)
    assert sum(keys(delivered).values()) == 13  # 12 listed + 1 updated; annotation: nothing
    assert [len(request) for request in proxy.requests] == [10, 3]
    assert all(schema_errors(event) == [] for event in delivered)
    assert all(event["source"] == SOURCE for event in delivered)
    assert len({event["detail"]["event_id"] for event in delivered}) == 13
    assert metrics["EventsPublished"] == 13
    assert metrics["EventsFailed"] == 0
    assert metrics["StreamRecordsIgnored"] == len(records) - 13
    assert metrics["ColdStart"] == 1
    assert all(line["service"] == "asset-events" for line in logs)
    assert any(line["message"] == "stream batch done" for line in logs)


def test_entries_failed_once_are_retried_alone_and_delivered_once(
    env: Env, bus: Bus, proxy: PutEventsProxy, capsys: pytest.CaptureFixture[str], clock: SimClock
) -> None:
    records = stream_records(env)
    proxy.plan = FailurePlan(once={"S01", "S07", "S11"})

    response, metrics, _ = invoke(records, capsys, clock)
    delivered = bus.delivered()

    assert response == {"batchItemFailures": []}
    assert keys(delivered) == expected(records)  # each exactly once
    retried = proxy.requests[2:]
    assert [sorted(json.loads(e["Detail"])["symbol"] for e in r) for r in retried] == [
        ["S01", "S07", "S11"]
    ]
    assert metrics["EventsPublished"] == 13 and metrics["EventsFailed"] == 0


def test_an_entry_that_keeps_failing_reports_its_record_in_time_and_lambda_retries_from_it(
    env: Env, bus: Bus, proxy: PutEventsProxy, capsys: pytest.CaptureFixture[str], clock: SimClock
) -> None:
    records = stream_records(env)
    stuck = position_of(records, "S05", "INSERT")
    proxy.plan = FailurePlan(always={"S05"}, code="ThrottlingException")

    response, metrics, logs = invoke(records, capsys, clock)
    first_delivery = bus.delivered()

    failing_sequence = records[stuck]["dynamodb"]["SequenceNumber"]
    assert response == {"batchItemFailures": [{"itemIdentifier": failing_sequence}]}
    assert proxy.plan.failed["S05"] > 5  # retried with backoff until the invocation's deadline
    assert clock.slept < 60
    assert keys(first_delivery) == expected(records) - Counter({("Asset Listed", "S05"): 1})
    assert metrics["EventsFailed"] == 1
    assert metrics["EventsPublished"] == 12
    assert metrics["EventsQuarantined"] == 0  # throttling is retried, never quarantined
    assert any(
        line["message"].startswith("event not published yet")
        and line["error"] == "ThrottlingException"
        for line in logs
    )
    retries = [line for line in logs if line["message"] == "PutEvents failed some entries"]
    assert len(retries) == proxy.plan.failed["S05"]  # the publisher's own log, as JSON lines
    assert all(line["service"] == "asset-events" for line in retries)

    proxy.plan = FailurePlan()  # EventBridge recovers; Lambda retries from the reported record
    retry, _, _ = invoke(records[stuck:], capsys, clock)
    second_delivery = bus.delivered()

    assert retry == {"batchItemFailures": []}
    everything = first_delivery + second_delivery
    assert set(keys(everything)) == set(expected(records))
    by_id: dict[str, set[tuple[str, str]]] = {}
    for event in everything:  # duplicates (records after S05) carry the same event_id
        by_id.setdefault(event["detail"]["event_id"], set()).add(
            (event["detail-type"], event["detail"]["symbol"])
        )
    assert len(by_id) == 13
    assert all(len(kinds) == 1 for kinds in by_id.values())


def test_an_unreadable_record_is_quarantined_and_the_batch_goes_on(
    env: Env, bus: Bus, proxy: PutEventsProxy, capsys: pytest.CaptureFixture[str], clock: SimClock
) -> None:
    records = stream_records(env)
    bad = position_of(records, "S04", "INSERT")
    del records[bad]["dynamodb"]["NewImage"]  # as a KEYS_ONLY stream would deliver it

    response, metrics, logs = invoke(records, capsys, clock)

    assert response == {"batchItemFailures": []}
    assert keys(bus.delivered()) == expected(records[:bad] + records[bad + 1 :])
    assert (metrics["EventsQuarantined"], metrics["EventsFailed"]) == (1, 0)
    [kept] = [line for line in logs if line["message"] == "stream record quarantined"]
    assert kept["reason"] == "unreadable" and "NEW_AND_OLD_IMAGES" in kept["error"]
    s3 = boto3.client("s3", region_name="us-east-1")
    stored = s3.get_object(Bucket=os.environ["EVENTS_QUARANTINE_BUCKET"], Key=kept["key"])
    assert json.loads(stored["Body"].read())["record"] == records[bad]


def test_without_a_quarantine_an_unreadable_record_stops_the_batch_there(
    env: Env,
    bus: Bus,
    proxy: PutEventsProxy,
    capsys: pytest.CaptureFixture[str],
    clock: SimClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EVENTS_QUARANTINE_BUCKET")
    records = stream_records(env)
    bad = position_of(records, "S04", "INSERT")
    del records[bad]["dynamodb"]["NewImage"]

    response, metrics, logs = invoke(records, capsys, clock)

    assert response == {
        "batchItemFailures": [{"itemIdentifier": records[bad]["dynamodb"]["SequenceNumber"]}]
    }
    assert keys(bus.delivered()) == expected(records[:bad])  # nothing after it is published
    assert metrics["EventsFailed"] == 1
    assert any("no quarantine configured" in line["message"] for line in logs)


def test_a_missing_bus_is_retried_until_the_deadline_and_reports_the_first_record(
    env: Env,
    bus: Bus,
    proxy: PutEventsProxy,
    capsys: pytest.CaptureFixture[str],
    clock: SimClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = stream_records(env, symbols=3)
    monkeypatch.setenv("EVENT_BUS_NAME", "no-such-bus")

    response, metrics, _ = invoke(records, capsys, clock)

    assert response == {
        "batchItemFailures": [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]
    }
    assert len(proxy.requests) > 3  # a missing bus can be created again: it is retried
    assert metrics["EventsFailed"] == sum(expected(records).values())
    assert metrics["EventsQuarantined"] == 0
    assert bus.delivered() == []


def test_a_batch_without_announced_changes_publishes_nothing(
    env: Env, bus: Bus, proxy: PutEventsProxy, capsys: pytest.CaptureFixture[str], clock: SimClock
) -> None:
    records = stream_records(env, symbols=2)
    silent = [r for r in records if not to_events([r])]
    assert silent  # the other service's annotation

    response, metrics, _ = invoke(silent, capsys, clock)

    assert response == {"batchItemFailures": []}
    assert proxy.requests == []
    assert metrics["StreamRecordsIgnored"] == len(silent)
    assert metrics["EventsPublished"] == 0


def documented_patterns() -> list[dict[str, Any]]:
    """The rule patterns of docs/events.md's "Subscribing" section, in order."""
    text = (REPO_ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    section = text.split("## Subscribing", 1)[1].split("\n## ", 1)[0]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.S)]


def test_the_documented_rule_patterns_select_what_the_docs_say(
    bus: Bus, proxy: PutEventsProxy, capsys: pytest.CaptureFixture[str], clock: SimClock
) -> None:
    queues = [bus.subscribe(pattern) for pattern in documented_patterns()]
    assert len(queues) == 3
    aapl, msft, ge, f = synced("AAPL"), synced("MSFT"), synced("GE"), synced("F")
    records = [
        record(None, synced("NEW1")),
        record(None, synced("META", previous_symbol="FB")),
        record(aapl, sync_write(aapl, name="Apple Inc.")),
        record(msft, sync_write(msft, status="inactive")),
        record(ge, sync_write(ge, run=9, tradable=False)),
        record(f, hand_edit(f, tradable=False)),
    ]

    response, _, _ = invoke(records, capsys, clock)

    assert response == {"batchItemFailures": []}
    selected = [sorted(keys(bus.delivered(queue))) for queue in queues]
    assert selected == [
        [("Asset Listed", "NEW1"), ("Asset Renamed", "META")],
        [("Asset Delisted", "MSFT"), ("Asset Updated", "AAPL")],
        [("Asset Updated", "GE")],  # not F: a hand edit has no run_seq
    ]


def test_the_events_client_makes_one_attempt_per_call(proxy: PutEventsProxy) -> None:
    proxy.faults = [Fault(request_error="ThrottlingException")]
    client = events_client("us-east-1")

    with pytest.raises(ClientError, match="ThrottlingException"):
        client.put_events(Entries=[make_entry("Asset Listed", {"symbol": "A"})])

    assert len(proxy.requests) == 1  # the publisher's budget is the only retry budget

"""The consumer Lambda in-process: moto's stream records in, PutEvents over HTTP to moto's bus.

The bus routes `signal9.asset-sync` to an SQS queue, so what a subscriber would receive is
read back from the queue. Failed entries are injected on the wire by `PutEventsProxy`.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.metrics.provider import cold_start
from tests.support import Env
from tests.support import asset_record as asset
from tests.support.events_proxy import FailurePlan, PutEventsProxy
from tests.support.lambda_invocation import LambdaContext
from tests.support.stream_records import (
    hand_edit,
    record,
    schema_errors,
    sync_write,
    synced,
)

from asset_sync.events import SOURCE, handler, to_events
from asset_sync.events.publisher import DEFAULT_MAX_ATTEMPTS
from asset_sync.local.stream import TableStream
from asset_sync.wiring import build_run

LOG_STREAM = io.StringIO()
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Bus:
    """A bus on moto whose rules send events to SQS queues, read back as delivered."""

    name: str
    endpoint: str
    queue_url: str = ""  # the queue of the rule that takes every event of this project

    def subscribe(self, pattern: dict[str, Any]) -> str:
        """A rule with `pattern` targeting a new queue; the queue's URL."""
        events = boto3.client("events", endpoint_url=self.endpoint, region_name="us-east-1")
        sqs = boto3.client("sqs", endpoint_url=self.endpoint, region_name="us-east-1")
        rule = f"rule-{uuid.uuid4().hex[:8]}"
        queue_url = sqs.create_queue(QueueName=f"{self.name}-{rule}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        events.put_rule(Name=rule, EventBusName=self.name, EventPattern=json.dumps(pattern))
        events.put_targets(
            Rule=rule,
            EventBusName=self.name,
            Targets=[{"Id": "queue", "Arn": queue_arn["Attributes"]["QueueArn"]}],
        )
        return queue_url

    def delivered(self, queue_url: str | None = None) -> list[dict[str, Any]]:
        """Every event a queue (default: the catch-all one) received since the last call."""
        sqs = boto3.client("sqs", endpoint_url=self.endpoint, region_name="us-east-1")
        events: list[dict[str, Any]] = []
        for _ in range(1000):  # bounded: a queue that never empties is a failure, not a hang
            page = sqs.receive_message(QueueUrl=queue_url or self.queue_url, MaxNumberOfMessages=10)
            messages = page.get("Messages", [])
            if not messages:
                return events
            for message in messages:
                events.append(json.loads(message["Body"]))
                sqs.delete_message(
                    QueueUrl=queue_url or self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        raise AssertionError("the queue did not empty")


@pytest.fixture
def bus(moto_url: str) -> Bus:
    events = boto3.client("events", endpoint_url=moto_url, region_name="us-east-1")
    created = Bus(f"signal9-assets-{uuid.uuid4().hex[:8]}", moto_url)
    events.create_event_bus(Name=created.name)
    created.queue_url = created.subscribe({"source": [SOURCE]})
    return created


@pytest.fixture
def proxy(moto_url: str, bus: Bus, monkeypatch: pytest.MonkeyPatch) -> Iterator[PutEventsProxy]:
    """The consumer's environment as the stack sets it, with EventBridge behind the proxy."""
    with PutEventsProxy(moto_url) as running:
        monkeypatch.setenv("EVENT_BUS_NAME", bus.name)
        monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", running.url)
        handler.publisher.cache_clear()
        handler.publisher().base_delay = 0.001
        cold_start.is_cold_start = True
        log_handler = handler.logger.registered_handler
        original = log_handler.setStream(LOG_STREAM)  # type: ignore[attr-defined]
        LOG_STREAM.seek(0)
        LOG_STREAM.truncate()
        yield running
        log_handler.setStream(original)  # type: ignore[attr-defined]
    handler.publisher.cache_clear()


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
    records: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, Any], dict[str, float], list[dict[str, Any]]]:
    """Run the handler; return its response, its EMF metrics and its log lines."""
    response = handler.lambda_handler({"Records": records}, LambdaContext())  # type: ignore[arg-type]
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
    env: Env, bus: Bus, proxy: PutEventsProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    records = stream_records(env)

    response, metrics, logs = invoke(records, capsys)
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
    env: Env, bus: Bus, proxy: PutEventsProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    records = stream_records(env)
    proxy.plan = FailurePlan(once={"S01", "S07", "S11"})

    response, metrics, _ = invoke(records, capsys)
    delivered = bus.delivered()

    assert response == {"batchItemFailures": []}
    assert keys(delivered) == expected(records)  # each exactly once
    retried = proxy.requests[2:]
    assert [sorted(json.loads(e["Detail"])["symbol"] for e in r) for r in retried] == [
        ["S01", "S07", "S11"]
    ]
    assert metrics["EventsPublished"] == 13 and metrics["EventsFailed"] == 0


def test_an_entry_that_keeps_failing_reports_its_record_and_lambda_retries_from_it(
    env: Env, bus: Bus, proxy: PutEventsProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    records = stream_records(env)
    stuck = position_of(records, "S05", "INSERT")
    proxy.plan = FailurePlan(always={"S05"}, code="ThrottlingException")

    response, metrics, logs = invoke(records, capsys)
    first_delivery = bus.delivered()

    failing_sequence = records[stuck]["dynamodb"]["SequenceNumber"]
    assert response == {"batchItemFailures": [{"itemIdentifier": failing_sequence}]}
    assert proxy.plan.failed["S05"] == DEFAULT_MAX_ATTEMPTS  # bounded
    assert keys(first_delivery) == expected(records) - Counter({("Asset Listed", "S05"): 1})
    assert metrics["EventsFailed"] == 1
    assert metrics["EventsPublished"] == 12
    assert any(
        line["message"] == "event not published" and line["error"] == "ThrottlingException"
        for line in logs
    )
    retries = [line for line in logs if line["message"] == "PutEvents failed some entries"]
    assert len(retries) == DEFAULT_MAX_ATTEMPTS  # the publisher's own log, as JSON lines
    assert all(line["service"] == "asset-events" for line in retries)

    proxy.plan = FailurePlan()  # EventBridge recovers; Lambda retries from the reported record
    retry, _, _ = invoke(records[stuck:], capsys)
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


def test_an_unreadable_record_stops_the_batch_there(
    env: Env, bus: Bus, proxy: PutEventsProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    records = stream_records(env)
    bad = position_of(records, "S04", "INSERT")
    del records[bad]["dynamodb"]["NewImage"]  # as a KEYS_ONLY stream would deliver it

    response, metrics, logs = invoke(records, capsys)

    assert response == {
        "batchItemFailures": [{"itemIdentifier": records[bad]["dynamodb"]["SequenceNumber"]}]
    }
    assert keys(bus.delivered()) == expected(records[:bad])  # nothing after it is published
    assert metrics["EventsFailed"] == 1
    assert any("could not be read" in line["message"] for line in logs)


def test_a_missing_bus_fails_every_entry_and_reports_the_first_record_with_events(
    env: Env,
    bus: Bus,
    proxy: PutEventsProxy,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = stream_records(env, symbols=3)
    monkeypatch.setenv("EVENT_BUS_NAME", "no-such-bus")
    handler.publisher.cache_clear()
    handler.publisher().base_delay = 0.001

    response, metrics, _ = invoke(records, capsys)

    assert response == {
        "batchItemFailures": [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]
    }
    assert metrics["EventsFailed"] == sum(expected(records).values())
    assert bus.delivered() == []


def test_a_batch_without_announced_changes_publishes_nothing(
    env: Env, bus: Bus, proxy: PutEventsProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    records = stream_records(env, symbols=2)
    silent = [r for r in records if not to_events([r])]
    assert silent  # the other service's annotation

    response, metrics, _ = invoke(silent, capsys)

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
    bus: Bus, proxy: PutEventsProxy, capsys: pytest.CaptureFixture[str]
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

    response, _, _ = invoke(records, capsys)

    assert response == {"batchItemFailures": []}
    selected = [sorted(keys(bus.delivered(queue))) for queue in queues]
    assert selected == [
        [("Asset Listed", "NEW1"), ("Asset Renamed", "META")],
        [("Asset Delisted", "MSFT"), ("Asset Updated", "AAPL")],
        [("Asset Updated", "GE")],  # not F: a hand edit has no run_seq
    ]

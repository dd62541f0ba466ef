"""Change events through ordinary incidents, as the pipeline runs on AWS.

Real syncs write the table on moto; their stream records are fed to the real consumer handler
by a double of Lambda's event source mapping (tests/support/stream_mapping.py) on a simulated
clock; PutEvents goes over HTTP through a proxy that injects the incident. Each scenario shows
that every change was published at least once (same `event_id`) or quarantined with a metric
an alarm watches, that no invocation outlived its timeout, that nothing was discarded by the
mapping or lost to the stream's retention, and what `asset-sync events replay` does afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support import Env
from tests.support import asset_record as asset
from tests.support.events_pipeline import Pipeline, expected_ids, running_pipeline
from tests.support.events_proxy import Fault
from tests.support.stream_records import schema_errors
from tests.support.subscriber import Subscriber

from asset_sync.events import batch
from asset_sync.local.stream import TableStream
from asset_sync.wiring import build_run

HOUR = 3600.0
TIMEOUT = 60


@pytest.fixture
def pipeline(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    with running_pipeline(moto_url, monkeypatch) as running:
        yield running


@pytest.fixture
def stream(env: Env) -> TableStream:
    return TableStream(env.settings.assets_table, env.settings.dynamodb_endpoint_url)


def sync(env: Env, stream: TableStream, catalog: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One real sync of `catalog`; the stream records it wrote."""
    env.stand_in.set_assets(catalog)
    build_run(env.settings).run()
    return stream.read_new()


def catalog(count: int, renamed: frozenset[int] = frozenset()) -> list[dict[str, Any]]:
    """`count` assets; those in `renamed` under a new name."""
    return [
        asset(f"S{i:02d}", name=f"S{i:02d} New Name Inc.") if i in renamed else asset(f"S{i:02d}")
        for i in range(count)
    ]


def assert_nothing_lost(pipeline: Pipeline) -> None:
    """Nothing discarded by the mapping, nothing trimmed unread, no invocation timed out."""
    mapping = pipeline.mapping
    assert mapping.on_failure == []
    assert mapping.trimmed_unread == []
    assert mapping.pending() == []
    assert not any(invocation.timed_out for invocation in mapping.invocations)
    assert pipeline.longest_invocation() <= TIMEOUT


def test_an_hour_of_throttling_delays_every_change_and_loses_none(
    env: Env, stream: TableStream, pipeline: Pipeline
) -> None:
    clock, mapping = pipeline.clock, pipeline.mapping
    start = clock.monotonic()
    pipeline.proxy.faults = [Fault(start, start + HOUR, request_error="ThrottlingException")]
    written: list[dict[str, Any]] = []
    for minute, renamed in ((0, set()), (20, {3}), (40, {3, 7})):  # changes during the hour
        mapping.run(until=start + minute * 60)
        records = sync(env, stream, catalog(10, frozenset(renamed)))
        mapping.put(records)
        written += mapping.records[-len(records) :]
    mapping.run(until=start + HOUR - 60)
    assert pipeline.receive() == []  # throttled all along
    assert mapping.metric("EventsFailed") > 0  # what the events-failed alarm sees

    mapping.run()  # EventBridge recovers

    assert pipeline.delivered_ids() >= expected_ids(written)
    assert len(expected_ids(written)) == 10 + 2  # listed, then two new names
    assert_nothing_lost(pipeline)
    assert pipeline.quarantined() == {}
    assert mapping.metric("EventsQuarantined") == 0
    assert len(mapping.invocations) > 50  # retried for the whole hour, from where it stopped
    first_ok = pipeline.proxy.log.answers.index("ok")
    assert set(pipeline.proxy.log.answers[:first_ok]) == {"ThrottlingException"}
    by_id = {event["detail"]["event_id"]: event for event in pipeline.receive()}
    for record in written:  # Time is when the change happened, not when it was published
        for event_id in expected_ids([record]):
            changed_at = record["dynamodb"]["ApproximateCreationDateTime"]
            assert by_id[event_id]["detail"]["changed_at"] == by_id[event_id]["time"]
            assert by_id[event_id]["time"] == iso(changed_at)
    assert all(schema_errors(event) == [] for event in pipeline.receive())
    replayed = pipeline.replay()
    assert (replayed.code, replayed.json()["published"], replayed.json()["remaining"]) == (0, 0, 0)


def iso(epoch: float) -> str:
    from datetime import UTC, datetime  # noqa: PLC0415

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_permission_removed_and_restored_loses_nothing(
    env: Env, stream: TableStream, pipeline: Pipeline
) -> None:
    clock, mapping = pipeline.clock, pipeline.mapping
    start = clock.monotonic()
    lost = Fault(start, start + 40 * 60, request_error="AccessDeniedException")
    pipeline.proxy.faults = [lost]
    mapping.put(sync(env, stream, catalog(5)))
    mapping.run(until=start + 20 * 60)
    mapping.put(sync(env, stream, catalog(5, frozenset({2}))))
    mapping.run(until=start + 39 * 60)
    assert pipeline.receive() == []
    assert mapping.metric("EventsFailed") > 0

    mapping.run()  # the role's PutEvents permission is back

    assert pipeline.delivered_ids() >= expected_ids(mapping.records)
    assert len(expected_ids(mapping.records)) == 6
    assert_nothing_lost(pipeline)
    assert pipeline.quarantined() == {}


def position(records: list[dict[str, Any]], symbol: str) -> int:
    return next(i for i, r in enumerate(records) if r["dynamodb"]["Keys"]["symbol"]["S"] == symbol)


def test_a_poison_record_mid_batch_is_quarantined_and_replayed_once_fixed(
    env: Env, stream: TableStream, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = sync(env, stream, catalog(10))
    del records[position(records, "S04")]["dynamodb"]["NewImage"]  # unreadable for good
    transform = batch.events_of

    def bug(record: dict[str, Any]) -> list[dict[str, Any]]:  # a transform bug for one item
        if record["dynamodb"]["Keys"]["symbol"]["S"] == "S06":
            raise KeyError("a bug fixed by the next deploy")
        return transform(record)

    monkeypatch.setattr(batch, "events_of", bug)
    start = pipeline.clock.monotonic()
    refused = Fault(start, start + 600, entry_error="MalformedDetail", symbols=frozenset({"S08"}))
    pipeline.proxy.faults = [refused]
    pipeline.mapping.put(records)
    arrived = pipeline.mapping.records
    poison = {symbol: arrived[position(arrived, symbol)] for symbol in ("S04", "S06", "S08")}

    pipeline.mapping.run()

    stored = pipeline.quarantined()
    reasons = {body["record"]["eventID"]: body["reason"] for body in stored.values()}
    assert reasons == {
        poison["S04"]["eventID"]: "unreadable",
        poison["S06"]["eventID"]: "unreadable",
        poison["S08"]["eventID"]: "refused",
    }
    others = [r for r in arrived if r not in poison.values()]
    assert pipeline.delivered_ids() >= expected_ids(others)
    assert pipeline.delivered_ids().isdisjoint(expected_ids([poison["S06"], poison["S08"]]))
    assert pipeline.mapping.metric("EventsQuarantined") >= 3  # the events-failed alarm's metric
    assert_nothing_lost(pipeline)
    assert len(pipeline.mapping.invocations) == 1  # the batch went on past the poison

    monkeypatch.setattr(batch, "events_of", transform)  # the fix is deployed
    dry = pipeline.replay("--dry-run")
    assert (dry.code, dry.json()["would_publish"], dry.json()["remaining"]) == (0, 2, 3)
    assert pipeline.quarantined().keys() == stored.keys()  # a dry run changes nothing

    replayed = pipeline.replay()

    summary = replayed.json()
    assert (replayed.code, summary["published"], summary["remaining"]) == (1, 2, 1)
    assert replayed.stderr.count("asset-sync: ") == 1
    assert "1 of 3 quarantined records not replayed" in replayed.stderr
    assert pipeline.delivered_ids() >= expected_ids(arrived)
    [left] = pipeline.quarantined().values()
    assert left["reason"] == "unreadable" and "NEW_AND_OLD_IMAGES" in left["error"]


def test_an_entry_too_large_even_truncated_is_quarantined_and_its_fix_announced(
    env: Env, stream: TableStream, pipeline: Pipeline
) -> None:
    pipeline.mapping.put(sync(env, stream, catalog(3)))
    edit = {  # a hand edit no event can carry: a giant asset id (the envelope keeps it)
        "TableName": env.settings.assets_table,
        "Key": {"symbol": {"S": "S01"}},
        "UpdateExpression": "SET asset_id = :id, sync_version = sync_version + :one",
        "ExpressionAttributeValues": {":id": {"S": "x" * 300_000}, ":one": {"N": "1"}},
    }
    env.assets.client.update_item(**edit)
    pipeline.mapping.put(stream.read_new())
    original = json.loads(json.dumps(pipeline.mapping.records[1]["dynamodb"]["NewImage"]))
    fix = {**edit, "ExpressionAttributeValues": {":id": original["asset_id"], ":one": {"N": "1"}}}
    env.assets.client.update_item(**fix)
    pipeline.mapping.put(stream.read_new())

    pipeline.mapping.run()

    [kept] = pipeline.quarantined().values()
    assert kept["reason"] == "unreadable" and "cannot fit in 256 KiB" in kept["error"]
    assert kept["record"]["eventID"] == pipeline.mapping.records[3]["eventID"]
    assert pipeline.delivered_ids() >= expected_ids(pipeline.mapping.records)
    fixed = [e for e in pipeline.receive() if e["detail"]["reason"] == "manual"]
    assert [(e["detail-type"], e["detail"]["symbol"]) for e in fixed] == [("Asset Updated", "S01")]
    assert_nothing_lost(pipeline)

    replayed = pipeline.replay()
    assert (replayed.code, replayed.json()["remaining"]) == (1, 1)  # it can never be published


def test_an_endpoint_that_never_answers_costs_time_not_events(
    env: Env, stream: TableStream, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_pipeline(moto_url, monkeypatch, read_timeout=0.25) as pipeline:
        start = pipeline.clock.monotonic()
        pipeline.proxy.faults = [Fault(start, start + 4 * 60, hang=True)]
        pipeline.mapping.put(sync(env, stream, catalog(4)))

        pipeline.mapping.run()

        assert "hang" in pipeline.proxy.log.answers
        assert pipeline.delivered_ids() >= expected_ids(pipeline.mapping.records)
        assert_nothing_lost(pipeline)
        assert pipeline.quarantined() == {}
        assert len(pipeline.mapping.invocations) >= 4


def test_a_hand_delete_and_the_syncs_recreation_apply_in_order_for_a_subscriber(
    env: Env, stream: TableStream, pipeline: Pipeline
) -> None:
    pipeline.mapping.put(sync(env, stream, catalog(3)))
    pipeline.mapping.put(sync(env, stream, catalog(3, frozenset({1}))))
    env.assets.client.delete_item(TableName=env.settings.assets_table, Key={"symbol": {"S": "S01"}})
    pipeline.mapping.put(stream.read_new())
    reborn = [asset("S00"), asset("S01", name="S01 Reborn Inc."), asset("S02")]
    pipeline.mapping.put(sync(env, stream, reborn))  # the next run creates it again

    pipeline.mapping.run()

    events = [e for e in pipeline.receive() if e["detail"]["symbol"] == "S01"]
    by_order = sorted(events, key=lambda e: e["detail"]["order"])
    assert [e["detail-type"] for e in by_order] == [
        "Asset Listed",
        "Asset Updated",
        "Asset Removed",
        "Asset Listed",
    ]
    assert by_order[2]["detail"]["reason"] == "manual"
    stored = env.raw_item("S01")
    assert stored is not None
    expected = by_order[-1]["detail"]["asset"]
    assert expected["name"] == stored["name"]["S"] == "S01 Reborn Inc."
    for arrival in (events, events[::-1], [events[3], events[0], events[2], events[1]]):
        subscriber = Subscriber()
        for event in [*arrival, *arrival]:  # every event delivered twice, in this order
            subscriber.apply(event)
        assert subscriber.assets["S01"] == expected  # the recreated item, whatever the order
        assert subscriber.ignored >= 4
    assert_nothing_lost(pipeline)


def test_records_about_to_leave_the_stream_are_quarantined_not_discarded(
    env: Env, stream: TableStream, pipeline: Pipeline
) -> None:
    pipeline.mapping.put(sync(env, stream, catalog(4)))
    pipeline.clock.advance(21.5 * HOUR)  # the mapping was disabled, say, and is enabled again
    start = pipeline.clock.monotonic()
    pipeline.proxy.faults = [Fault(start, start + 2 * HOUR, request_error="ThrottlingException")]

    pipeline.mapping.run(until=start + HOUR)

    stored = pipeline.quarantined()
    assert {body["reason"] for body in stored.values()} == {"expiring"}
    assert {body["record"]["eventID"] for body in stored.values()} == {
        record["eventID"] for record in pipeline.mapping.records
    }
    assert all(body["entry"]["DetailType"] == "Asset Listed" for body in stored.values())
    assert pipeline.mapping.metric("EventsQuarantined") >= 4
    assert_nothing_lost(pipeline)  # kept whole, before Lambda's 23 h limit would discard them
    assert pipeline.receive() == []

    replayed = pipeline.replay()  # EventBridge is fine again for the operator's replay

    assert (replayed.code, replayed.json()["published"]) == (0, 4)
    assert pipeline.delivered_ids() == expected_ids(pipeline.mapping.records)

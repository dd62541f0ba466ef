"""The whole change-event pipeline on loopback, on a simulated clock, for the fault scenarios.

moto's server holds the table (written by real syncs), the bus (with a rule delivering every
event to an SQS queue) and the quarantine bucket; the real consumer handler publishes through
`PutEventsProxy` (faults on the wire) and is driven by `StreamMapping` (Lambda's rules for
DynamoDB streams). `replay` runs the real `asset-sync events replay` as a child process.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.metrics.provider import cold_start
from tests.support import CliResult, run_cli
from tests.support.event_bus import Bus, quarantine_bucket
from tests.support.events_proxy import PutEventsProxy
from tests.support.sim_clock import SimClock
from tests.support.stream_mapping import MappingSettings, StreamMapping

from asset_sync.events import handler
from asset_sync.events.batch import Consumer
from asset_sync.events.publisher import REQUEST_SECONDS, Publisher, events_client
from asset_sync.events.quarantine import Quarantine, s3_client
from asset_sync.events.transform import events_of
from asset_sync.local.moto_server import LOCAL_CREDENTIALS


@dataclass
class Pipeline:
    """Stream -> mapping double -> real handler -> proxy -> bus, plus the quarantine."""

    moto_url: str
    clock: SimClock
    bus: Bus
    bucket: str
    proxy: PutEventsProxy
    mapping: StreamMapping
    delivered: list[dict[str, Any]] = field(default_factory=list)

    def receive(self) -> list[dict[str, Any]]:
        """Everything the subscriber's queue received so far (kept across calls)."""
        self.delivered += self.bus.delivered()
        return self.delivered

    def delivered_ids(self) -> set[str]:
        return {event["detail"]["event_id"] for event in self.receive()}

    def quarantined(self) -> dict[str, dict[str, Any]]:
        """The quarantine's objects, by key."""
        s3 = boto3.client("s3", endpoint_url=self.moto_url, region_name="us-east-1")
        listed = s3.list_objects_v2(Bucket=self.bucket, Prefix="pending/").get("Contents", [])
        return {
            item["Key"]: json.loads(
                s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
            )
            for item in listed
        }

    def replay(self, *args: str) -> CliResult:
        """`asset-sync events replay --json ARGS` against the bus directly (the fault is over)."""
        env = {
            **os.environ,
            **LOCAL_CREDENTIALS,
            "AWS_ENDPOINT_URL_EVENTBRIDGE": self.moto_url,
            "AWS_ENDPOINT_URL_S3": self.moto_url,
            "EVENTS_QUARANTINE_BUCKET": self.bucket,
            "EVENT_BUS_NAME": self.bus.name,
        }
        return run_cli("events", "replay", "--json", *args, env=env)

    def longest_invocation(self) -> float:
        return max(invocation.duration for invocation in self.mapping.invocations)


def expected_ids(records: list[dict[str, Any]]) -> set[str]:
    """The event ids today's code makes of `records` (records it cannot read make none)."""
    ids: set[str] = set()
    for record in records:
        try:
            entries = events_of(record)
        except Exception:  # no event: the pipeline quarantines it
            continue
        ids |= {json.loads(entry["Detail"])["event_id"] for entry in entries}
    return ids


@contextmanager
def running_pipeline(
    moto_url: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    read_timeout: float | None = None,
    settings: MappingSettings | None = None,
) -> Iterator[Pipeline]:
    """The pipeline, torn down on exit; `read_timeout` shortens the consumer's HTTP timeouts
    (the endpoint that never answers: real waits count on the clock)."""
    clock = SimClock()
    bus = Bus.create(moto_url)
    bucket = quarantine_bucket(moto_url)
    with PutEventsProxy(moto_url, clock=clock) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", proxy.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_url)
        timeouts: Mapping[str, float] = {}
        request_seconds = REQUEST_SECONDS
        if read_timeout is not None:
            timeouts = {"connect_timeout": read_timeout, "read_timeout": read_timeout}
            request_seconds = 2 * read_timeout + 0.5
        consumer = Consumer(
            publisher=Publisher(
                events_client("us-east-1", **timeouts),
                bus.name,
                sleep=clock.sleep,
                request_seconds=request_seconds,
                jitter=random.Random(20),
            ),
            quarantine=Quarantine(s3_client("us-east-1"), bucket),
            clock=clock,
        )
        handler.consumer.cache_clear()
        monkeypatch.setattr(handler, "consumer", lambda: consumer)
        cold_start.is_cold_start = True
        mapping = StreamMapping(handler.lambda_handler, clock, settings or MappingSettings())
        yield Pipeline(moto_url, clock, bus, bucket, proxy, mapping)

"""One batch: every record ends published, ignored, quarantined or to be retried, in time."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from tests.support.fake_eventbridge import (
    FakeEventBridge,
    accept,
    entry_errors,
    request_error,
)
from tests.support.sim_clock import SimClock
from tests.support.stream_records import record, sync_write, synced, values

from asset_sync.events.batch import EXPIRING_AGE, Consumer, process
from asset_sync.events.clock import Deadline
from asset_sync.events.publisher import REQUEST_SECONDS, Publisher


@dataclass
class MemoryQuarantine:
    """Keeps quarantined records in memory; `broken` makes every write fail."""

    broken: bool = False
    kept: dict[str, dict[str, Any]] = field(default_factory=dict)

    def put(self, record: dict[str, Any], reason: str, error: str, entry: Any, now: float) -> str:
        if self.broken:
            raise ClientError({"Error": {"Code": "SlowDown"}}, "PutObject")
        key = f"pending/{record['eventID']}.json"
        self.kept[key] = {"reason": reason, "error": error, "record": record, "entry": entry}
        return key

    def reasons(self) -> dict[str, str]:
        return {body["record"]["eventID"]: body["reason"] for body in self.kept.values()}


def consumer(clock: SimClock, client: FakeEventBridge, quarantine: Any) -> Consumer:
    publisher = Publisher(client, "bus", sleep=clock.sleep, jitter=random.Random(3))  # type: ignore[arg-type]
    return Consumer(publisher=publisher, quarantine=quarantine, clock=clock)


def listed(symbol: str, clock: SimClock, age: float = 0.0) -> dict[str, Any]:
    return record(
        None,
        synced(symbol),
        event_id=f"ev-{symbol}",
        ApproximateCreationDateTime=int(clock.time() - age),
    )


def unreadable(symbol: str) -> dict[str, Any]:
    broken = listed(symbol, SimClock(real_time=False))
    del broken["dynamodb"]["NewImage"]
    return broken


def sequence(rec: dict[str, Any]) -> str:
    return str(rec["dynamodb"]["SequenceNumber"])


def test_a_poison_record_mid_batch_is_quarantined_and_the_rest_published() -> None:
    clock = SimClock(real_time=False)
    client = FakeEventBridge(clock, accept)
    quarantine = MemoryQuarantine()
    records = [listed("A", clock), unreadable("B"), listed("C", clock)]

    outcome = process(records, consumer(clock, client, quarantine), Deadline.after(clock, 58))

    assert outcome.response(records) == {"batchItemFailures": []}
    assert client.requests == [["A", "C"]]
    assert quarantine.reasons() == {"ev-B": "unreadable"}
    assert (outcome.published, outcome.quarantined, outcome.failed) == (2, 1, 0)


def test_a_poison_record_that_cannot_be_quarantined_is_retried_and_nothing_after_it_passes() -> (
    None
):
    clock = SimClock(real_time=False)
    client = FakeEventBridge(clock, accept)
    records = [listed("A", clock), unreadable("B"), listed("C", clock)]

    outcome = process(
        records, consumer(clock, client, MemoryQuarantine(broken=True)), Deadline.after(clock, 58)
    )

    assert outcome.response(records) == {
        "batchItemFailures": [{"itemIdentifier": sequence(records[1])}]
    }
    assert client.requests == [["A"]]
    assert (outcome.quarantined, outcome.failed) == (0, 1)


def test_an_entry_refused_for_good_is_quarantined_with_its_entry() -> None:
    clock = SimClock(real_time=False)
    client = FakeEventBridge(clock, entry_errors({"B": "MalformedDetail"}))
    quarantine = MemoryQuarantine()
    records = [listed("A", clock), listed("B", clock)]

    outcome = process(records, consumer(clock, client, quarantine), Deadline.after(clock, 58))

    assert outcome.response(records) == {"batchItemFailures": []}
    [kept] = quarantine.kept.values()
    assert (kept["reason"], kept["error"]) == ("refused", "MalformedDetail")
    assert json.loads(kept["entry"]["Detail"])["symbol"] == "B"


def test_entries_failing_at_the_deadline_report_the_first_record_to_retry_in_time() -> None:
    clock = SimClock(real_time=False)
    client = FakeEventBridge(clock, request_error("ThrottlingException"), REQUEST_SECONDS)
    annotated = synced("X")
    records = [
        record(annotated, {**annotated, **values(sector="x")}),  # nothing to announce
        listed("A", clock),
        listed("B", clock),
    ]
    deadline = Deadline.after(clock, 58)

    outcome = process(records, consumer(clock, client, MemoryQuarantine()), deadline)

    assert outcome.response(records) == {
        "batchItemFailures": [{"itemIdentifier": sequence(records[1])}]
    }
    assert (outcome.ignored, outcome.failed, outcome.quarantined) == (1, 2, 0)
    assert clock.monotonic() <= deadline.at


def test_records_about_to_leave_the_stream_are_quarantined_instead_of_retried() -> None:
    clock = SimClock(real_time=False)
    client = FakeEventBridge(clock, request_error("AccessDeniedException"))
    quarantine = MemoryQuarantine()
    records = [listed("OLD", clock, age=EXPIRING_AGE + 60), listed("NEW", clock, age=3600)]

    outcome = process(records, consumer(clock, client, quarantine), Deadline.after(clock, 58))

    assert quarantine.reasons() == {"ev-OLD": "expiring"}
    assert outcome.response(records) == {
        "batchItemFailures": [{"itemIdentifier": sequence(records[1])}]
    }


def test_without_a_quarantine_a_poison_record_is_retried_never_dropped() -> None:
    clock = SimClock(real_time=False)
    client = FakeEventBridge(clock, accept)
    records = [listed("A", clock), unreadable("B")]

    outcome = process(records, consumer(clock, client, None), Deadline.after(clock, 58))

    assert outcome.response(records) == {
        "batchItemFailures": [{"itemIdentifier": sequence(records[1])}]
    }


def test_an_update_after_an_unquarantined_poison_record_waits_for_it() -> None:
    clock = SimClock(real_time=False)
    client = FakeEventBridge(clock, accept)
    item = synced("A")
    records = [unreadable("P"), record(item, sync_write(item, name="A2"))]

    outcome = process(records, consumer(clock, client, None), Deadline.after(clock, 58))

    assert client.requests == []  # nothing after the poison record is published before it
    assert outcome.retry_from == 0

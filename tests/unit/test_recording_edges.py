"""Recording a run (logic/recording.py): its duration, the messages it keeps when the record
cannot be stored, and a skipped run's record and error."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from tests.support.memory_catalog import MemoryCatalog
from tests.support.memory_run import TABLE
from tests.support.memory_state import MemoryRunState
from tests.support.memory_store import MemoryStore

from asset_sync.contract import Outcome
from asset_sync.logic import recording
from asset_sync.logic.lease import Lease, LeaseHeldError, StateWriteError
from asset_sync.logic.lifecycle import StopSignal
from asset_sync.logic.outcome import RunSkippedError, SyncError
from asset_sync.logic.recording import RunRecorder
from asset_sync.logic.report import RunReport


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(100.0)
    monkeypatch.setattr(recording, "time", SimpleNamespace(monotonic=fake))
    return fake


class FailingRecord(MemoryRunState):
    """A state whose record write keeps failing."""

    def release(self, lease: Lease, record: Any, *, succeeded: bool, full: bool) -> None:
        raise StateWriteError("the run record could not be stored")


def recorder(state: MemoryRunState) -> RunRecorder:
    return RunRecorder(state, MemoryStore(), MemoryCatalog(), StopSignal(), TABLE)


def report(message: str = "") -> RunReport:
    ended = RunReport(run_id="run-1", last_sync_timestamp="2026-12-06T04:00:00.000000Z")
    ended.outcome, ended.message = Outcome.PARTIAL, message
    return ended


def taken(state: MemoryRunState) -> Lease:
    return state.acquire("run-1", TABLE, 2_000_000_000, 1_900_000_000.0)


def test_the_duration_runs_from_the_recorders_start(clock: Clock) -> None:
    measuring = recorder(MemoryRunState())
    clock.now += 2.5
    ended = report()
    measuring.measure(ended)
    assert ended.duration_seconds == 2.5


@pytest.mark.parametrize("message", ["", "XOM: 1 of 2 writes failed"])
def test_a_record_that_cannot_be_stored_keeps_the_runs_message_whole(
    clock: Clock, message: str
) -> None:
    state = FailingRecord()
    ended = report(message)
    with pytest.raises(SyncError) as failed:
        recorder(state).record(ended, taken(state))
    expected = f"{message}; the run record could not be stored".lstrip("; ")
    assert ended.message == str(failed.value) == expected
    assert failed.value.report is ended


def test_a_lease_lost_before_the_record_is_added_to_the_runs_message(clock: Clock) -> None:
    state = MemoryRunState()
    lease = taken(state)
    state.view = replace(state.view, lock_owner="another-run")
    ended = report("XOM: 1 of 2 writes failed")
    with pytest.raises(SyncError) as failed:
        recorder(state).record(ended, lease)
    assert ended.message.startswith("XOM: 1 of 2 writes failed; ")
    assert str(failed.value) == ended.message
    assert state.history[lease.run_seq]["message"] == ended.message


def test_a_skipped_run_is_recorded_under_its_own_id_and_raised_with_its_message(
    clock: Clock,
) -> None:
    state = MemoryRunState()
    ended = report()
    skipped = recorder(state).skipped(ended, LeaseHeldError("another sync holds the run lease"))
    assert isinstance(skipped, RunSkippedError) and skipped.report is ended
    assert str(skipped) == ended.message == "another sync holds the run lease"
    assert ended.outcome == Outcome.SKIPPED
    assert state.history[ended.run_seq]["run_id"] == "run-1"

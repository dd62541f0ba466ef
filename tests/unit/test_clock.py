"""A run's wall-clock readings (logic/clock.py): information only, never ordering."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from asset_sync.logic import clock
from asset_sync.logic.clock import (
    behind_warning,
    deadline_after,
    full_due,
    iso_time,
    parse_time,
    parse_timestamp,
    utc_timestamp,
)


def test_timestamps_round_trip_with_microseconds() -> None:
    moment = datetime(2026, 12, 3, 4, 5, 6, 789012, tzinfo=UTC)
    assert utc_timestamp(moment) == "2026-12-03T04:05:06.789012Z"
    assert parse_timestamp("2026-12-03T04:05:06.789012Z") == moment
    assert parse_timestamp("2026-12-03T04:05:06Z") is None
    assert parse_timestamp(None) is None  # type: ignore[arg-type]
    now = parse_timestamp(utc_timestamp())
    assert now is not None and abs(now.timestamp() - time.time()) < 60


@pytest.fixture
def zone_behind_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's local zone 5 h behind UTC (POSIX rule: no zone database needed)."""
    monkeypatch.setenv("TZ", "XST+05")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("zone_behind_utc")
def test_a_timestamp_is_utc_whatever_the_machines_local_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    moment = datetime(2026, 12, 3, 4, 5, 6, 789012, tzinfo=UTC)
    assert time.localtime(moment.timestamp()).tm_hour == 23  # the zone is in effect
    assert utc_timestamp(moment) == "2026-12-03T04:05:06.789012Z"
    assert utc_timestamp(moment.astimezone(timezone(timedelta(hours=-5)))) == (
        "2026-12-03T04:05:06.789012Z"
    )
    monkeypatch.setattr(clock.time, "time", moment.timestamp)
    assert utc_timestamp() == "2026-12-03T04:05:06.789012Z"


def test_unix_times_as_iso_and_back() -> None:
    assert iso_time(1_800_000_060.9) == "2027-01-15T08:01:00Z"
    assert parse_time("2027-01-15T08:01:00Z") == 1_800_000_060
    assert parse_time("2027-01-15T08:01:00") is None  # no zone: not judged
    assert parse_time("tomorrow") is None
    assert parse_time(1_800_000_060) is None


def test_a_deadline_is_monotonic_seconds_from_now() -> None:
    assert deadline_after(None) is None
    before = time.monotonic()
    deadline = deadline_after(30.0)
    assert deadline is not None and before + 30 <= deadline <= time.monotonic() + 30


def test_a_clock_behind_the_last_run_is_named_with_how_far_behind() -> None:
    last = {"last_sync_timestamp": "2026-12-03T04:00:00.000000Z", "run_seq": 41}
    assert behind_warning("2026-11-30T04:00:02.000000Z", last) == (
        "this machine's clock is 3 days 0 h behind the last run's (run number 41 started "
        "2026-12-03T04:00:00Z); ordering uses run numbers, not clocks, so the run proceeds"
    )
    assert behind_warning("2026-12-03T04:00:00.000000Z", last) is None  # the same moment
    assert behind_warning("2026-12-04T04:00:00.000000Z", last) is None
    assert behind_warning("2026-11-30T04:00:00.000000Z", None) is None
    assert behind_warning("not a time", last) is None
    assert behind_warning("2026-11-30T04:00:00.000000Z", {"last_sync_timestamp": "x"}) is None


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    moment = datetime(2026, 12, 10, 4, 0, tzinfo=UTC)
    monkeypatch.setattr(clock.time, "time", moment.timestamp)
    return moment


def test_a_full_reconciliation_is_due_by_age_or_when_its_age_cannot_be_judged(
    now: datetime,
) -> None:
    def at(delta: timedelta) -> str:
        return utc_timestamp(now - delta)

    assert full_due(None, 7)  # never reconciled in full
    assert full_due("garbage", 7)
    assert full_due(at(timedelta(days=7)), 7)
    assert not full_due(at(timedelta(days=7) - timedelta(seconds=1)), 7)
    assert full_due(at(-timedelta(seconds=1)), 7)  # recorded by a clock ahead
    assert not full_due(at(timedelta(0)), 7)
    assert not full_due(None, 0)  # 0: never on its own
    assert full_due(at(timedelta(days=1)), 1)

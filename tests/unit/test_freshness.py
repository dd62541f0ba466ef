"""Catch-up requests and the freshness verdict (pure: logic/freshness.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from asset_sync.logic.freshness import (
    CatchUp,
    CatchUpEventError,
    iso,
    judge,
    parse_time,
    scheduled_time,
)

T0500 = parse_time("2026-12-03T05:00:00Z")
HOUR = 3600
assert T0500 is not None


def verdict(last_success_at: str | None, *, window: int = HOUR, now: float = T0500 + 5) -> Any:
    """The verdict of a 05:00 catch-up whose window reaches back `window` seconds."""
    return judge(CatchUp(window), scheduled_at=T0500, now=now, last_success_at=last_success_at)


def test_an_ordinary_event_is_no_catch_up() -> None:
    assert CatchUp.from_event({"id": "e", "source": "aws.events"}) is None
    assert CatchUp.from_event({"catch_up": None}) is None
    assert CatchUp.from_event("not an event") is None


def test_the_catch_up_request_round_trips_through_the_event() -> None:
    event = {"id": "e", **CatchUp(7200).to_event()}
    assert event["catch_up"] == {"window_seconds": 7200}
    assert CatchUp.from_event(event) == CatchUp(7200)


@pytest.mark.parametrize(
    "request_",
    [True, {}, {"window_seconds": "3600"}, {"window_seconds": 0}, {"window_seconds": 86_401}],
)
def test_a_malformed_request_is_refused(request_: object) -> None:
    with pytest.raises(CatchUpEventError, match='"catch_up" must be'):
        CatchUp.from_event({"catch_up": request_})


def test_fresh_when_a_sync_started_after_todays_run() -> None:
    result = verdict("2026-12-03T04:00:02Z")
    assert result.fresh is True
    assert result.window_start == "2026-12-03T04:00:00Z"
    assert result.last_success_at == "2026-12-03T04:00:02Z"
    assert "the table is fresh" in result.message


def test_a_success_at_the_window_start_counts() -> None:
    assert verdict("2026-12-03T04:00:00Z").fresh


@pytest.mark.parametrize(
    ("last", "reason"),
    [
        (None, "no sync has succeeded yet"),
        ("2026-12-03T03:59:59Z", "before today's scheduled run (2026-12-03T04:00:00Z)"),
        ("2026-12-02T04:00:05Z", "before today's scheduled run"),
        ("yesterday", "cannot be read"),
        ("2026-12-03T04:00:00", "cannot be read"),  # no zone: cannot be placed in time
        ("2026-12-05T04:00:00Z", "a clock ahead recorded it"),
    ],
)
def test_stale_or_unjudgeable_means_sync(last: str | None, reason: str) -> None:
    result = verdict(last)
    assert result.fresh is False
    assert reason in result.message
    assert result.last_success_at == last
    assert result.window_start == "2026-12-03T04:00:00Z"


def test_without_any_success_the_reason_says_exactly_that() -> None:
    assert verdict(None).message == "no sync has succeeded yet"


def test_times_are_utc_whatever_the_machines_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert iso(T0500) == "2026-12-03T05:00:00Z"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_start_slightly_ahead_is_another_hosts_clock_not_a_clock_days_ahead() -> None:
    assert verdict(iso(T0500 + 30)).fresh


def test_the_window_is_measured_from_the_scheduled_time_not_a_late_retry() -> None:
    event = {"time": "2026-12-03T05:00:00Z"}
    assert scheduled_time(event, now=T0500 + 3 * 60) == T0500  # Lambda's retry 3 minutes later
    assert scheduled_time({}, now=T0500 + 7) == T0500 + 7  # invoked by hand: now
    assert scheduled_time({"time": "2026-12-09T05:00:00Z"}, now=T0500) == T0500  # from the future


def test_the_bounds_of_a_request() -> None:
    assert CatchUp.from_event({"catch_up": {"window_seconds": 1}}) == CatchUp(1)
    assert CatchUp.from_event({"catch_up": {"window_seconds": 86_400}}) == CatchUp(86_400)
    with pytest.raises(CatchUpEventError):
        CatchUp.from_event({"catch_up": {"window_seconds": True}})  # a bool is no number here


def test_the_clock_tolerance_is_one_minute_exactly() -> None:
    assert verdict(iso(T0500 + 5 + 60)).fresh
    assert not verdict(iso(T0500 + 5 + 61)).fresh
    assert scheduled_time({"time": iso(T0500 + 60)}, now=T0500) == T0500 + 60
    assert scheduled_time({"time": iso(T0500 + 61)}, now=T0500) == T0500

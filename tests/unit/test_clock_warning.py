"""The clock warning's duration text: rounded to the last unit it shows, never truncated."""

from __future__ import annotations

from datetime import timedelta

import pytest

from asset_sync.logic.clock import human_duration


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(days=3) - timedelta(seconds=4), "3 days 0 h"),  # 3 days behind, 4 s later
        (timedelta(days=3, minutes=29), "3 days 0 h"),
        (timedelta(days=3, minutes=31), "3 days 1 h"),
        (timedelta(days=1) - timedelta(minutes=20), "1 day 0 h"),
        (timedelta(hours=5, seconds=40), "5 h 1 min"),
        (timedelta(hours=1) - timedelta(seconds=10), "1 h 0 min"),
        (timedelta(minutes=5, seconds=3.6), "5 min 4 s"),
        (timedelta(seconds=59.7), "1 min 0 s"),
        (timedelta(seconds=12.2), "12 s"),
        (timedelta(seconds=-12.2), "12 s"),
    ],
)
def test_a_duration_is_rounded_to_the_last_unit_shown(delta: timedelta, text: str) -> None:
    assert human_duration(delta) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (86_400 - 1_800, "1 day 0 h"),  # from here hours are the last unit
        (86_400 - 1_801, "23 h 30 min"),
        (2 * 86_400, "2 days 0 h"),
        (3_600 - 30, "1 h 0 min"),  # from here minutes are the last unit
        (3_600 - 31, "59 min 29 s"),
        (60, "1 min 0 s"),
        (0, "0 s"),
    ],
)
def test_the_units_change_exactly_at_their_thresholds(seconds: int, text: str) -> None:
    assert human_duration(timedelta(seconds=seconds)) == text

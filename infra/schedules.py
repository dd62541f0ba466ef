"""Schedule expressions of a stage: their shape, the time zone, and the catch-ups (pure).

A catch-up asks the sync function to run only if no sync succeeded since the latest daily run
due before it (src/asset_sync/logic/freshness.py). That window is computed here, at synth, from
daily ``cron(M H * * ? *)`` expressions, so both the stage's schedule and its catch-ups must
have that shape (in UTC, or in ``schedule_timezone``'s local time).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass

SCHEDULE_SEPARATOR = ";"
SCHEDULE_EXPRESSION = re.compile(r"^(cron|rate)\(.+\)$")
IANA_ZONE_SHAPE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$")
DAY_SECONDS = 86_400
DAILY_CRON = re.compile(r"^cron\((\d{1,2}) (\d{1,2}) \* \* \? \*\)$")
# 05:00 and 06:00 UTC (one and two hours after the default 04:00 run), and 13:35 UTC: after
# Alpaca's last morning refresh of its asset master (08:20 New York, 12:20 or 13:20 UTC).
DEFAULT_CATCH_UP_SCHEDULE = "cron(0 5 * * ? *);cron(0 6 * * ? *);cron(35 13 * * ? *)"


def split_schedule(schedule: str) -> tuple[str, ...]:
    """The expressions of a ';'-separated schedule."""
    return tuple(part.strip() for part in schedule.split(SCHEDULE_SEPARATOR) if part.strip())


def schedule_problems(schedule: str, timezone: str | None) -> Iterator[str]:
    """A message for every invalid expression of schedule, and for an unknown time zone."""
    expressions = split_schedule(schedule)
    if not expressions:
        yield "schedule needs at least one cron(...) or rate(...) expression"
    for expression in expressions:
        if not SCHEDULE_EXPRESSION.match(expression):
            yield f"schedule expression {expression!r} must be cron(...) or rate(...)"
    if len(set(expressions)) != len(expressions):
        yield f"schedule lists an expression twice: {schedule!r}"
    if timezone is not None and not is_iana_zone(timezone):
        yield f"schedule_timezone {timezone!r} is not an IANA time zone (e.g. America/New_York)"


def is_iana_zone(name: str) -> bool:
    """Whether name is an IANA zone (checked against the tz database, or by shape without one)."""
    if not IANA_ZONE_SHAPE.match(name):
        return False
    if not zoneinfo.available_timezones():  # no tz database on this machine: shape only
        return True
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


class CatchUpError(ValueError):
    """The catch-up schedule does not fit the stage's schedule (the message says why)."""


def daily_time(expression: str) -> int | None:
    """Seconds after midnight of a daily ``cron(M H * * ? *)``, else None."""
    match = DAILY_CRON.match(expression)
    if match is None:
        return None
    minute, hour = int(match[1]), int(match[2])
    return hour * 3600 + minute * 60 if minute < 60 and hour < 24 else None


@dataclass(frozen=True)
class CatchUpSchedule:
    """One catch-up: its expression and how long after the latest daily run it is due."""

    expression: str
    window_seconds: int


def catch_ups(
    schedules: tuple[str, ...], catch_up_expressions: tuple[str, ...], min_gap_seconds: int
) -> tuple[CatchUpSchedule, ...]:
    """Each catch-up with its window: the time since the latest daily run due before it.

    Raises CatchUpError when an expression is not a daily cron, or a catch-up comes less than
    min_gap_seconds (the function's timeout) after a daily run, which may still be running.
    """
    if not catch_up_expressions or not schedules:
        return ()  # no schedule is reported by schedule_problems
    runs = {expression: daily_time(expression) for expression in schedules}
    odd = [e for e, t in runs.items() if t is None]
    odd += [e for e in catch_up_expressions if daily_time(e) is None]
    if odd:
        raise CatchUpError(
            f"catch-ups need daily cron(M H * * ? *) expressions for schedule and "
            f'catch_up_schedule, not {", ".join(odd)} (set catch_up_schedule to "" for none)'
        )
    daily = sorted(t for t in runs.values() if t is not None)
    result = []
    for expression in catch_up_expressions:
        at = daily_time(expression)
        assert at is not None
        window = min((at - run) % DAY_SECONDS for run in daily)
        if window < min_gap_seconds:
            raise CatchUpError(
                f"catch-up {expression} comes {window} s after a scheduled run, which may still "
                f"be running (at least timeout_seconds, {min_gap_seconds} s, apart)"
            )
        result.append(CatchUpSchedule(expression, window))
    return tuple(result)

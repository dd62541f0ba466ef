"""Catch-up runs: later attempts of the day that sync only when today's sync has not succeeded.

A catch-up is a scheduled invocation whose event carries ``{"catch_up": {"window_seconds": N}}``
(infra/components/schedule.py puts it there): N is how long before the catch-up's scheduled
time the stage's daily run was due. The table is *fresh* when the last successful sync started
within that window, i.e. at or after today's daily run: the catch-up then writes nothing. Pure:
the handler reads the state item and hands the values in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from asset_sync.logic.clock import iso_time as iso
from asset_sync.logic.clock import parse_time

CATCH_UP_KEY = "catch_up"
WINDOW_KEY = "window_seconds"
MAX_WINDOW_SECONDS = 86_400
# A success recorded up to this far "in the future" is another host's clock being a little
# ahead, not a clock days ahead whose timestamps cannot be judged.
CLOCK_TOLERANCE_SECONDS = 60


class CatchUpEventError(ValueError):
    """The event's catch_up member is malformed."""


@dataclass(frozen=True)
class CatchUp:
    """A catch-up request: fresh means a success started within window_seconds before it."""

    window_seconds: int

    @classmethod
    def from_event(cls, event: object) -> CatchUp | None:
        """The event's catch-up request; None for an ordinary run."""
        if not isinstance(event, Mapping) or event.get(CATCH_UP_KEY) is None:
            return None
        request = event[CATCH_UP_KEY]
        window = request.get(WINDOW_KEY) if isinstance(request, Mapping) else None
        if type(window) is not int or not 0 < window <= MAX_WINDOW_SECONDS:
            raise CatchUpEventError(
                f'the event\'s "{CATCH_UP_KEY}" must be {{"{WINDOW_KEY}": N}} with N whole '
                f"seconds within 1..{MAX_WINDOW_SECONDS}, got {request!r:.200}"
            )
        return cls(window)

    def to_event(self) -> dict[str, Any]:
        """The event member that asks for this catch-up."""
        return {CATCH_UP_KEY: {WINDOW_KEY: self.window_seconds}}


@dataclass(frozen=True)
class Verdict:
    """Whether the table is fresh for a catch-up, and why (for the log line and the result)."""

    fresh: bool
    window_start: str
    last_success_at: str | None
    message: str


def scheduled_time(event: Mapping[str, Any], now: float) -> float:
    """When the invocation was scheduled: the event's ``time`` (EventBridge and Scheduler set
    it to the scheduled time), else now. A retry delivered later judges the same window."""
    scheduled = parse_time(event.get("time"))
    return now if scheduled is None or scheduled > now + CLOCK_TOLERANCE_SECONDS else scheduled


def judge(
    catch_up: CatchUp, *, scheduled_at: float, now: float, last_success_at: str | None
) -> Verdict:
    """Fresh when the last success started within the catch-up's window (and not later than
    now: a start recorded by a clock ahead cannot be judged, so the catch-up syncs)."""
    window_start = scheduled_at - catch_up.window_seconds
    started = parse_time(last_success_at)
    if started is None:
        reason = (
            "no sync has succeeded yet"
            if last_success_at is None
            else f"the last success's start {last_success_at!r:.60} cannot be read"
        )
        return Verdict(False, iso(window_start), last_success_at, reason)
    if started > now + CLOCK_TOLERANCE_SECONDS:
        return Verdict(
            False,
            iso(window_start),
            last_success_at,
            f"the last success started at {last_success_at}, later than this machine's "
            f"{iso(now)}: a clock ahead recorded it, so it cannot be judged",
        )
    if started >= window_start:
        return Verdict(
            True,
            iso(window_start),
            last_success_at,
            f"a sync started at {last_success_at} succeeded, after today's scheduled run "
            f"({iso(window_start)}): the table is fresh, nothing to do",
        )
    return Verdict(
        False,
        iso(window_start),
        last_success_at,
        f"the last success started at {last_success_at}, before today's scheduled run "
        f"({iso(window_start)})",
    )

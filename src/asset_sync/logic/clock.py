"""Wall-clock readings of a run and how they are written (information only: run numbers, never
clocks, decide which run is newer).

Every wall-clock reading of a run comes from `time.time()` (a run's start, the lease expiry, the
full-reconciliation cadence), so the machine's clock is one thing, skew included; deadlines are
monotonic.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

_MICROSECONDS = "%Y-%m-%dT%H:%M:%S.%fZ"
_SECONDS = "%Y-%m-%dT%H:%M:%SZ"


def utc_timestamp(now: datetime | None = None) -> str:
    """ISO 8601 UTC with microseconds and a `Z` (information on items and in reports)."""
    moment = now or datetime.fromtimestamp(time.time(), UTC)
    return moment.astimezone(UTC).strftime(_MICROSECONDS)


def parse_timestamp(text: str) -> datetime | None:
    """The inverse of `utc_timestamp` (None for anything else)."""
    try:
        return datetime.strptime(text, _MICROSECONDS).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def iso_time(unix_seconds: float) -> str:
    """A unix time as ISO 8601 UTC, whole seconds (`2026-12-02T04:00:00Z`)."""
    return datetime.fromtimestamp(unix_seconds, UTC).strftime(_SECONDS)


def parse_time(value: object) -> float | None:
    """An ISO 8601 time with a zone (`2026-12-03T05:00:00Z`) as unix seconds, else None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def human_duration(delta: timedelta) -> str:
    """`3 days 2 h`, `5 min 3 s`, `12 s`: rounded to the last unit shown, so a clock three days
    behind (less the seconds since the last run) reads `3 days 0 h`, not `2 days 23 h`."""
    total = abs(delta.total_seconds())
    step = 3_600 if total >= 86_400 - 1_800 else 60 if total >= 3_600 - 30 else 1
    seconds = round(total / step) * step
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds} s"
    return f"{seconds} s"


def deadline_after(seconds: float | None) -> float | None:
    """A monotonic deadline `seconds` from now (None: none)."""
    return None if seconds is None else time.monotonic() + seconds


def behind_warning(started: str, last_run: Mapping[str, Any] | None) -> str | None:
    """A warning when a run started at `started` (`utc_timestamp`) on a clock behind the last
    recorded run's start; None otherwise (ordering uses run numbers: the run proceeds)."""
    last = last_run or {}
    previous = parse_timestamp(str(last.get("last_sync_timestamp", "")))
    mine = parse_timestamp(started)
    if previous is None or mine is None or mine >= previous:
        return None
    return (
        f"this machine's clock is {human_duration(previous - mine)} behind the last run's "
        f"(run number {last.get('run_seq')} started {previous:%Y-%m-%dT%H:%M:%SZ}); "
        "ordering uses run numbers, not clocks, so the run proceeds"
    )


def full_due(last_full_at: str | None, days: int) -> bool:
    """Whether a full reconciliation is due: the last one is `days` old (0: never due), or of an
    age this clock cannot judge (none recorded, or recorded later than now by a clock ahead)."""
    if days <= 0:
        return False
    last = parse_timestamp(last_full_at or "")
    now = datetime.fromtimestamp(time.time(), UTC)
    return last is None or last > now or now - last >= timedelta(days=days)

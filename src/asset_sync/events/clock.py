"""The consumer's clock and its time budget: every sleep and "now" it uses comes from here.

Lambda gives an invocation a fixed time; the consumer must stop publishing early enough to
report where the next invocation starts. `Deadline` measures that on a `Clock`, which tests
replace by a simulated one (an hour of throttling then runs in seconds).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    """What the consumer reads time from and sleeps on."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (budgets)."""

    def time(self) -> float:
        """Epoch seconds (the age of stream records)."""

    def sleep(self, seconds: float) -> None:
        """Wait this long."""


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """`time.monotonic()`."""
        return time.monotonic()

    def time(self) -> float:
        """`time.time()`."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """`time.sleep()`."""
        time.sleep(seconds)


@dataclass(frozen=True)
class Deadline:
    """A point on a clock's monotonic time after which no new work may start."""

    clock: Clock
    at: float

    @classmethod
    def after(cls, clock: Clock, seconds: float) -> Deadline:
        """The deadline `seconds` from now."""
        return cls(clock, clock.monotonic() + seconds)

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.at - self.clock.monotonic()

    def allows(self, seconds: float) -> bool:
        """Whether work that may take `seconds` still ends before the deadline."""
        return self.remaining() >= seconds

    def earlier(self, seconds: float) -> Deadline:
        """The deadline `seconds` before this one (time kept back for later work)."""
        return Deadline(self.clock, self.at - seconds)

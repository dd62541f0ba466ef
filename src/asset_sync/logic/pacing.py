"""Pacing and backoff: how fast a run sends requests, and how long it waits after a failure.

`Pacer` spaces request starts (item writes: the status index's single `active` partition takes
about 1,000 write units a second; delisting lookups: Alpaca's rate limit is per account and
shared with trading). `full_jitter` is the one backoff of the package (AWS's "full jitter").
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable


def full_jitter(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """A delay drawn uniformly from 0 to `min(cap, base * 2 ** attempt)`."""
    uniform = rng.uniform if rng is not None else random.uniform
    return uniform(0, min(cap, base * 2**attempt))


class Pacer:
    """Spaces request starts at most `rate` per second across threads.

    `sleep` may return early (a stop): its answer is `wait`'s, True when the caller should stop.
    """

    def __init__(self, rate: float, sleep: Callable[[float], object] = time.sleep) -> None:
        self.interval = 1.0 / rate
        self._next = time.monotonic()
        self._lock = threading.Lock()
        self._sleep = sleep

    def wait(self) -> bool:
        """Block until this caller's slot; True when the sleep said to stop."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = slot - time.monotonic()
        return bool(self._sleep(delay)) if delay > 0 else False

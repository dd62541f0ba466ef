"""A simulated clock for the events consumer: sleeps advance it at once, real waits still count.

`SimClock` implements `asset_sync.events.clock.Clock`. `sleep` and `advance` move it forward
without waiting; with `real_time=True` (the default) the real time that passes (a socket
timeout, an HTTP round trip) is added too, so an invocation that waits on the network for real
is measured as long as it really was. A Lambda context on this clock counts its remaining time
down on it, so "an hour of throttling" runs in seconds while every budget is still enforced.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

START = 1_796_011_200.0  # 2026-12-01T04:00:00Z


class SimClock:
    """Epoch and monotonic time that sleeping advances without waiting."""

    def __init__(self, start: float = START, real_time: bool = True) -> None:
        self._start = start
        self._real_start = time.monotonic()
        self._real_time = real_time
        self._skipped = 0.0
        self._lock = threading.Lock()
        self.slept = 0.0

    def monotonic(self) -> float:
        """Seconds since the clock started: skipped time plus, by default, real time."""
        real = time.monotonic() - self._real_start if self._real_time else 0.0
        with self._lock:
            return self._skipped + real

    def time(self) -> float:
        """Epoch seconds on this clock."""
        return self._start + self.monotonic()

    def sleep(self, seconds: float) -> None:
        """Skip ahead instead of waiting."""
        self.advance(seconds)
        with self._lock:
            self.slept += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        with self._lock:
            self._skipped += max(0.0, seconds)


@dataclass
class SimLambdaContext:
    """A Lambda context whose remaining time counts down on a `SimClock`."""

    clock: SimClock
    timeout_seconds: float
    function_name: str = "signal9-asset-events-test"
    aws_request_id: str = "0f3d2c1b-aaaa-bbbb-cccc-000000000000"
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    log_stream_name: str = "local"
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock.monotonic()

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def elapsed(self) -> float:
        """Seconds this invocation has taken on the clock."""
        return self.clock.monotonic() - self.started

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - self.elapsed()) * 1000))

    def __getattr__(self, name: str) -> Any:  # client_context, identity: absent
        if name in ("client_context", "identity"):
            return None
        raise AttributeError(name)

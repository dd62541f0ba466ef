"""A run's lifecycle: one stop signal, and the lease kept in memory between renewals.

The stop signal is set by SIGINT/SIGTERM (the CLI) or by reaching the deadline (the Lambda's
remaining time, or `--deadline-seconds`). After it is set no new write starts; writes in flight
finish, then the run records what it really wrote and gives the lease back.

The lease keeper answers "may this run still write?" before every write and every attempt of
one that the store makes (its retries: `AssetStore.guard_writes`), from memory: the lease is
valid until its last renewal plus its length (measured on the monotonic clock), renewed when a
third is left, and never extended past the deadline plus a small margin, so a run that dies at
its deadline blocks the next attempt for seconds, not for a whole lease.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from asset_sync.logic.apply import StopRequested
from asset_sync.logic.lease import (
    FORCED_UNLOCK,
    Lease,
    LeaseLostError,
    StateView,
    lease_cleared,
    lease_lost_message,
)
from asset_sync.logic.ports import RunStateStore, StoreError

DEADLINE_WRITE_MARGIN_SECONDS = 30.0  # stop writing this long before the deadline
DEADLINE_LEASE_MARGIN_SECONDS = 10.0  # the lease outlives the deadline by at most this
# While writing, a run re-reads who holds the lease this often (a read, before its next write);
# a run that takes over a lease another run still held waits TAKEOVER_GRACE_SECONDS before it
# reads the table, so the displaced run has noticed and its writes in flight have landed.
VERIFY_EVERY_SECONDS = 5.0
TAKEOVER_GRACE_SECONDS = 2 * VERIFY_EVERY_SECONDS + 2.0
LEASE_SAFETY_SECONDS = 2.0  # stop writing this long before the lease could have expired
_RAN_OUT = "the run lease ran out before it could be renewed; this run stopped writing"


class RunAborted(BaseException):
    """Raised in the main thread by a signal handler while the run has not started writing:
    fetching and reading are abandoned at once instead of after their timeouts."""


class StopSignal:
    """Set once (by a signal or the deadline); every writer asks it before starting a write.

    `abortable` is True while the run only reads (fetch, read, plan): a signal handler may then
    raise RunAborted instead of waiting for the next checkpoint.
    """

    def __init__(
        self, deadline: float | None = None, margin: float = DEADLINE_WRITE_MARGIN_SECONDS
    ):
        """`deadline`: monotonic time at which the run is killed (None: no deadline)."""
        self.deadline = deadline
        self.stop_writes_at = None if deadline is None else deadline - margin
        self._event = threading.Event()
        self._reason = ""
        self.abortable = False

    def request(self, reason: str) -> None:
        """Ask the run to stop (the first reason is kept)."""
        if not self._event.is_set():
            self._reason = reason
            self._event.set()

    @property
    def requested(self) -> bool:
        """True once a stop was asked for or the deadline's margin was reached."""
        if self._event.is_set():
            return True
        if self.stop_writes_at is not None and time.monotonic() >= self.stop_writes_at:
            self.request("the deadline was near")
            return True
        return False

    @property
    def reason(self) -> str:
        """Why the run stopped ("" if it did not)."""
        return self._reason

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early on a stop; True if the run should stop."""
        if seconds > 0:
            limit = seconds
            if self.stop_writes_at is not None:
                limit = min(limit, max(0.0, self.stop_writes_at - time.monotonic()))
            self._event.wait(limit)
        return self.requested

    def seconds_to_deadline(self) -> float | None:
        """Seconds left until the deadline (None: no deadline)."""
        return None if self.deadline is None else self.deadline - time.monotonic()


class LeaseKeeper:
    """The run lease in memory: taken once, renewed in time, checked before every write."""

    def __init__(
        self,
        state: RunStateStore,
        lease_seconds: int,
        stop: StopSignal,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.lease_seconds = lease_seconds
        self.stop = stop
        self.wall_clock = wall_clock
        self.lease: Lease | None = None
        self._valid_until = 0.0  # monotonic
        self._renew_after = 0.0  # monotonic
        self._verify_after = -math.inf  # monotonic: the first write verifies
        self._cleared = False  # an operator cleared the lease: the run stops
        self._lock = threading.Lock()

    def _length(self) -> float:
        """How long the next lease (or renewal) may last: capped by the deadline."""
        left = self.stop.seconds_to_deadline()
        if left is None:
            return float(self.lease_seconds)
        return max(1.0, min(float(self.lease_seconds), left + DEADLINE_LEASE_MARGIN_SECONDS))

    def acquire(self, run_id: str, assets_table: str) -> Lease:
        """Take the lease (LeaseHeldError if held, StoreSetupError if not ours)."""
        sent = time.monotonic()
        length = self._length()
        self.lease = self.state.acquire(
            run_id, assets_table, int(self.wall_clock() + length), now=self.wall_clock()
        )
        self._held_from(sent, length)
        return self.lease

    def _held_from(self, sent: float, length: float) -> None:
        self._valid_until = sent + length - min(LEASE_SAFETY_SECONDS, length / 5)
        self._renew_after = sent + length * 2 / 3

    def check(self) -> None:
        """Before a write: LeaseLostError unless this run still holds its lease.

        Renews it when a third is left; a renewal that fails for a transient reason is tried
        again before the next write, as long as the lease is still valid in memory.
        """
        with self._lock:
            now = time.monotonic()
            if self._cleared:  # every write after the one that found it out stops alike
                raise StopRequested(FORCED_UNLOCK)
            if self.lease is None or now >= self._valid_until:
                raise LeaseLostError(_RAN_OUT)
            if now >= self._verify_after:
                self._verify(now)
            if now < self._renew_after:
                return
            length = self._length()
            try:
                self.state.renew(self.lease, int(self.wall_clock() + length))
            except LeaseLostError as lost:
                self._valid_until = -math.inf
                if lost.view is None:
                    raise
                raise self._lost(lost.view) from None
            except StoreError:
                self._renew_after = now + 1.0  # try again soon, while still valid in memory
                if time.monotonic() >= self._valid_until:  # the failed attempt outlasted it
                    raise LeaseLostError(_RAN_OUT) from None
                return
            self._held_from(now, length)

    def _verify(self, now: float) -> None:
        """Read who holds the lease: a run whose expiry judgement (a clock ahead) let it take
        the lease over must not be written against for longer than VERIFY_EVERY_SECONDS. A
        read that fails is tried again at the next write."""
        assert self.lease is not None
        self._verify_after = now + VERIFY_EVERY_SECONDS
        try:
            view = self.state.read()
        except StoreError:
            return
        if view.lock_owner != self.lease.run_id:
            self._valid_until = -math.inf
            raise self._lost(view)

    def _lost(self, view: StateView) -> Exception:
        """What to raise once `view` shows the lease is no longer this run's. An operator
        cleared it (`unlock --force`): the run stops as on a signal (StopRequested: no new
        write, the rest counted not written), with that reason. A newer run took it over:
        LeaseLostError, saying which."""
        assert self.lease is not None
        if lease_cleared(view, self.lease.run_seq):
            self._cleared = True
            self.stop.request(FORCED_UNLOCK)
            return StopRequested(FORCED_UNLOCK)
        return LeaseLostError(
            f"{lease_lost_message(view, self.lease.run_seq)}; this run stopped writing", view
        )

    def let_the_displaced_run_stop(self) -> str:
        """This run took over a lease whose holder may still be writing (its expiry judged on
        this machine's clock): wait until that run has re-read the lease, stopped, and its
        writes in flight have landed, so this run's read of the table sees them. The warning
        the report carries."""
        assert self.lease is not None and self.lease.taken_from is not None
        self.stop.wait(TAKEOVER_GRACE_SECONDS)
        return (
            f"took over the run lease of run {self.lease.taken_from} (number "
            f"{self.lease.state.run_seq}), expired by this machine's clock; waited "
            f"{TAKEOVER_GRACE_SECONDS:.0f} s for it to stop writing before reading the table"
        )

    def before_write(self) -> None:
        """Before a write: StopRequested once the run was asked to stop, else `check`."""
        if self.stop.requested:
            raise StopRequested(self.stop.reason)
        self.check()

    def newer_run_seen(self, what: str, run_seq: int | None) -> None:
        """A run with a higher number wrote `what`: it took the lease after this run. Unless the
        lease is still this run's (the number came from elsewhere), stop: LeaseLostError."""
        view = self.state.read()
        if self.lease is not None and view.lock_owner == self.lease.run_id:
            return
        newer = f"a newer run (number {run_seq})" if run_seq is not None else "a newer run"
        raise LeaseLostError(
            f"{newer} wrote {what}: this run's lease was taken over ({view.describe_lock()}); "
            "this run stopped writing"
        )

    def seconds_valid(self) -> float:
        """Seconds this run may still write before its lease could expire (for tests/logs)."""
        return self._valid_until - time.monotonic()

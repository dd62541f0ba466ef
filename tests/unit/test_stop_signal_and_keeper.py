"""The stop signal and the lease keeper (logic/lifecycle.py) on a fake monotonic clock."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError

from asset_sync.dal.errors import as_store_error
from asset_sync.dal.run_state import FORCED_UNLOCK, Lease, LeaseLostError, StateView
from asset_sync.logic import lifecycle
from asset_sync.logic.apply import StopRequested
from asset_sync.logic.lifecycle import (
    DEADLINE_LEASE_MARGIN_SECONDS,
    DEADLINE_WRITE_MARGIN_SECONDS,
    LEASE_SAFETY_SECONDS,
    TAKEOVER_GRACE_SECONDS,
    VERIFY_EVERY_SECONDS,
    LeaseKeeper,
    StopSignal,
)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(lifecycle, "time", SimpleNamespace(monotonic=fake))
    return fake


def test_margins() -> None:
    assert (DEADLINE_WRITE_MARGIN_SECONDS, DEADLINE_LEASE_MARGIN_SECONDS) == (30.0, 10.0)
    assert LEASE_SAFETY_SECONDS == 2.0


def test_a_stop_keeps_its_first_reason(clock: Clock) -> None:
    stop = StopSignal()
    assert not stop.requested and stop.reason == "" and stop.seconds_to_deadline() is None
    stop.request("SIGINT")
    stop.request("SIGTERM")
    assert stop.requested and stop.reason == "SIGINT"
    assert stop.abortable is False


def test_the_deadline_stops_writes_its_margin_before(clock: Clock) -> None:
    stop = StopSignal(deadline=clock.now + 100)
    assert stop.stop_writes_at == clock.now + 100 - DEADLINE_WRITE_MARGIN_SECONDS
    assert stop.seconds_to_deadline() == 100
    clock.now += 69.9
    assert not stop.requested
    clock.now += 0.1  # exactly at the margin
    assert stop.requested and stop.reason == "the deadline was near"
    assert StopSignal(deadline=2000.0, margin=5.0).stop_writes_at == 1995.0


def test_wait_is_cut_short_by_the_deadline_and_reports_a_stop(clock: Clock) -> None:
    waited: list[float] = []
    stop = StopSignal(deadline=clock.now + 40)  # writes stop in 10 s
    stop._event = SimpleNamespace(  # type: ignore[assignment]
        wait=waited.append, is_set=lambda: False, set=lambda: None
    )
    assert stop.wait(60) is False and waited == [10.0]
    assert stop.wait(3) is False and waited[-1] == 3
    assert stop.wait(0.5) is False and waited[-1] == 0.5
    assert stop.wait(0) is False and len(waited) == 3  # no wait for nothing
    clock.now += 11
    assert stop.wait(5) is True and waited[-1] == 0.0


def test_wait_without_a_deadline_waits_the_whole_time(clock: Clock) -> None:
    waited: list[float] = []
    stop = StopSignal()
    stop._event = SimpleNamespace(wait=waited.append, is_set=lambda: False)  # type: ignore[assignment]
    assert stop.wait(7.5) is False and waited == [7.5]


class FakeState:
    """The run-state table's lease calls, recorded."""

    def __init__(self) -> None:
        self.acquired: list[tuple[str, str, int, float]] = []
        self.renewed: list[int] = []
        self.renewed_leases: list[Lease] = []
        self.renew_error: Exception | None = None
        self.holder: str | None = None  # who holds the lease, as a read of the state says
        self.reads = 0
        self.read_error: Exception | None = None

    def acquire(self, run_id: str, table: str, expires_at: int, now: float) -> Lease:
        self.acquired.append((run_id, table, expires_at, now))
        self.holder = run_id
        return Lease(run_id, 7, expires_at, StateView(run_seq=7))

    def read(self) -> StateView:
        self.reads += 1
        if self.read_error is not None:
            raise as_store_error(self.read_error)  # as the data layer would
        taken = self.holder not in (None, "run-1")
        # a skipped run took number 10 since the holder's 9: the message names the holder's
        return StateView(run_seq=10, lock_owner=self.holder, lock_run_seq=9 if taken else 7)

    def renew(self, lease: Lease, expires_at: int) -> None:
        if self.renew_error is not None:
            raise as_store_error(self.renew_error)
        self.renewed.append(expires_at)
        self.renewed_leases.append(lease)


def keeper(clock: Clock, lease_seconds: int = 900, deadline: float | None = None) -> Any:
    state = FakeState()
    stop = StopSignal(deadline=deadline)
    wall = Clock(1_700_000_000.0)
    return LeaseKeeper(state, lease_seconds, stop, wall_clock=wall), state, wall  # type: ignore[arg-type]


def test_acquire_takes_a_lease_of_the_configured_length(clock: Clock) -> None:
    k, state, _wall = keeper(clock)
    lease = k.acquire("run-1", "assets")
    assert lease.run_seq == 7
    assert state.acquired == [("run-1", "assets", 1_700_000_900, 1_700_000_000.0)]
    assert k.seconds_valid() == 900 - LEASE_SAFETY_SECONDS


def test_a_short_lease_keeps_a_fifth_as_safety(clock: Clock) -> None:
    k, _state, _wall = keeper(clock, lease_seconds=5)
    k.acquire("run-1", "assets")
    assert k.seconds_valid() == pytest.approx(4.0)


def test_the_lease_is_capped_by_the_deadline(clock: Clock) -> None:
    k, state, _ = keeper(clock, lease_seconds=900, deadline=clock.now + 60)
    k.acquire("run-1", "assets")
    assert state.acquired[0][2] == 1_700_000_000 + 60 + int(DEADLINE_LEASE_MARGIN_SECONDS)
    k2, state2, _ = keeper(clock, lease_seconds=900, deadline=clock.now - 100)
    k2.acquire("run-1", "assets")
    assert state2.acquired[0][2] == 1_700_000_001  # at least one second


def test_check_renews_once_two_thirds_have_passed(clock: Clock) -> None:
    k, state, wall = keeper(clock, lease_seconds=900)
    k.acquire("run-1", "assets")
    clock.now += 599.9
    k.check()
    assert state.renewed == []
    clock.now += 0.1
    wall.now += 600
    k.check()
    assert state.renewed == [1_700_000_600 + 900]
    assert state.renewed_leases == [k.lease] and k.lease is not None
    assert k.seconds_valid() == pytest.approx(900 - LEASE_SAFETY_SECONDS)


def test_check_refuses_once_the_lease_may_have_expired(clock: Clock) -> None:
    k, state, _ = keeper(clock, lease_seconds=900)
    with pytest.raises(LeaseLostError) as lost:
        k.check()  # never acquired
    assert str(lost.value) == (
        "the run lease ran out before it could be renewed; this run stopped writing"
    )
    k.acquire("run-1", "assets")
    state.renew_error = ConnectionClosedError(endpoint_url="http://x")
    clock.now += 600
    k.check()  # renewal failed, still valid in memory: allowed, retried in a second
    assert state.renewed == []
    clock.now += 0.5
    state.renew_error = None
    k.check()
    assert state.renewed == []  # not yet: one second after the failure
    clock.now += 0.5
    k.check()
    assert len(state.renewed) == 1
    clock.now += 900 - LEASE_SAFETY_SECONDS - 0.01
    state.renew_error = ConnectionClosedError(endpoint_url="http://x")
    k.check()
    clock.now += 0.01
    with pytest.raises(LeaseLostError):
        k.check()


def test_a_renewal_refused_because_another_run_took_the_lease_stops_writes(clock: Clock) -> None:
    k, state, _ = keeper(clock)
    k.acquire("run-1", "assets")
    state.renew_error = LeaseLostError("taken")
    clock.now += 700
    with pytest.raises(LeaseLostError, match="taken"):
        k.check()
    with pytest.raises(LeaseLostError, match=r"^the run lease ran out before it could be renewed"):
        k.check()  # the lease is gone from memory: no second renewal is tried


def test_the_holder_is_read_before_the_first_write_then_every_few_seconds(clock: Clock) -> None:
    k, state, _ = keeper(clock)
    k.acquire("run-1", "assets")
    k.check()
    assert state.reads == 1  # the first write verifies
    clock.now += VERIFY_EVERY_SECONDS - 0.01
    k.check()
    assert state.reads == 1
    clock.now += 0.01
    k.check()
    assert state.reads == 2


def test_a_lease_another_run_now_holds_stops_writes_at_the_next_verification(
    clock: Clock,
) -> None:
    k, state, _ = keeper(clock)
    k.acquire("run-1", "assets")
    k.check()
    state.holder = "run-2"  # its clock judged this run's lease expired and took it over
    clock.now += VERIFY_EVERY_SECONDS
    with pytest.raises(
        LeaseLostError, match=r"a newer run \(number 9\) took the run lease over"
    ) as lost:
        k.check()
    assert lost.value.view == StateView(run_seq=10, lock_owner="run-2", lock_run_seq=9)
    state.holder = "run-1"
    with pytest.raises(LeaseLostError):  # no way back: the lease is gone from memory too
        k.check()


def test_a_released_lease_is_not_this_runs_either(clock: Clock) -> None:
    k, state, _ = keeper(clock)
    k.acquire("run-1", "assets")
    state.holder = None  # the newer run finished and gave it back
    with pytest.raises(LeaseLostError, match=r"number 10"):  # no holder: the last number
        k.check()


def test_a_failed_verification_read_is_tried_again_at_the_next_interval(clock: Clock) -> None:
    k, state, _ = keeper(clock)
    k.acquire("run-1", "assets")
    state.read_error = ConnectionClosedError(endpoint_url="http://x")
    k.check()  # still valid in memory: the write may go
    state.read_error = None
    state.holder = "run-2"
    k.check()  # not before the interval
    clock.now += VERIFY_EVERY_SECONDS
    with pytest.raises(LeaseLostError):
        k.check()


def test_a_takeover_waits_longer_than_two_verification_intervals() -> None:
    assert TAKEOVER_GRACE_SECONDS > 2 * VERIFY_EVERY_SECONDS


def test_a_renewal_that_fails_exactly_when_the_lease_runs_out_stops_writes(clock: Clock) -> None:
    k, state, _ = keeper(clock, lease_seconds=900)
    k.acquire("run-1", "assets")
    k.check()  # verified
    valid = k.seconds_valid()
    clock.now += 600  # renewal due

    class SlowFailure:
        def __call__(self, lease: Lease, expires_at: int) -> None:
            clock.now += valid - 600  # the failed attempt ends exactly at the lease's end
            raise as_store_error(ConnectionClosedError(endpoint_url="http://x"))

    state.renew = SlowFailure()  # type: ignore[method-assign]
    with pytest.raises(LeaseLostError, match=r"^the run lease ran out before it could be renewed"):
        k.check()


def test_a_lease_an_operator_cleared_stops_the_run_as_a_signal_does(clock: Clock) -> None:
    k, state, _ = keeper(clock)
    k.acquire("run-1", "assets")
    k.check()
    state.read = lambda: StateView(run_seq=7)  # type: ignore[method-assign] # unlock --force
    clock.now += VERIFY_EVERY_SECONDS
    with pytest.raises(StopRequested, match="cleared by an operator"):
        k.check()
    assert k.stop.requested and k.stop.reason == FORCED_UNLOCK
    with pytest.raises(StopRequested) as again:  # every later write (and boto3 retry) alike
        k.check()
    assert str(again.value) == FORCED_UNLOCK


def test_a_renewal_refused_because_the_lease_was_cleared_stops_the_run(clock: Clock) -> None:
    k, state, _ = keeper(clock)
    k.acquire("run-1", "assets")
    k.check()
    state.renew_error = LeaseLostError("not ours", StateView(run_seq=7))
    clock.now += 700
    state.read = lambda: StateView(run_seq=7, lock_owner="run-1", lock_run_seq=7)  # type: ignore[method-assign]
    with pytest.raises(StopRequested):
        k.check()
    assert k.stop.reason == FORCED_UNLOCK


def test_before_a_write_a_stop_comes_first_then_the_lease(clock: Clock) -> None:
    k, state, _ = keeper(clock)
    k.acquire("run-1", "assets")
    k.before_write()  # verifies the holder: this run
    assert state.reads == 1
    k.stop.request("SIGINT")
    with pytest.raises(StopRequested, match=r"^SIGINT$"):
        k.before_write()
    assert state.reads == 1  # the stop answered before the lease was looked at


def test_an_item_a_newer_run_wrote_stops_the_run_unless_the_lease_is_still_its_own(
    clock: Clock,
) -> None:
    k, state, _ = keeper(clock)
    k.acquire("run-1", "assets")
    k.newer_run_seen("AAA", 12)  # still this run's: the number came from elsewhere
    state.holder = "run-2"
    with pytest.raises(LeaseLostError) as lost:
        k.newer_run_seen("AAA", 12)
    assert str(lost.value) == (  # the fake state's view has no expiry to show
        "a newer run (number 12) wrote AAA: this run's lease was taken over (no sync holds the "
        "run lease); this run stopped writing"
    )
    with pytest.raises(LeaseLostError, match=r"^a newer run wrote 3 of the items this run read: "):
        k.newer_run_seen("3 of the items this run read", None)


def test_before_acquiring_no_lease_is_this_runs(clock: Clock) -> None:
    k, state, _ = keeper(clock)
    state.holder = "someone"
    with pytest.raises(LeaseLostError, match=r"^a newer run \(number 5\) wrote AAA: "):
        k.newer_run_seen("AAA", 5)


def test_a_takeover_waits_for_the_displaced_run_and_says_how_long(clock: Clock) -> None:
    waits: list[float] = []
    k, state, _ = keeper(clock)

    def acquire(run_id: str, table: str, expires_at: int, now: float) -> Lease:
        return Lease(run_id, 8, expires_at, StateView(run_seq=7), taken_from="run-0")

    state.acquire = acquire  # type: ignore[method-assign]
    k.stop.wait = lambda seconds: waits.append(seconds) or False  # type: ignore[method-assign]
    k.acquire("run-1", "assets")

    assert k.let_the_displaced_run_stop() == (
        "took over the run lease of run run-0 (number 7), expired by this machine's clock; "
        f"waited {TAKEOVER_GRACE_SECONDS:.0f} s for it to stop writing before reading the table"
    )
    assert waits == [TAKEOVER_GRACE_SECONDS]


def test_only_a_lease_taken_over_has_a_displaced_run_to_wait_for(clock: Clock) -> None:
    waits: list[float] = []
    k, _state, _ = keeper(clock)
    k.stop.wait = lambda seconds: waits.append(seconds) or False  # type: ignore[method-assign]
    k.acquire("run-1", "assets")  # a free lease: nobody was displaced

    with pytest.raises(AssertionError):
        k.let_the_displaced_run_stop()
    assert waits == []  # no grace waited, no warning about a "run None"

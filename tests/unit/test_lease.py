"""The lease as a run sees it (logic/lease.py): the state's words for the lease and its loss."""

from __future__ import annotations

import pytest

from asset_sync.logic.lease import (
    FORCED_UNLOCK,
    LeaseHeldError,
    StateView,
    lease_cleared,
    lease_lost_message,
)

HELD = StateView(
    run_seq=9,
    assets_table="t",
    lock_owner="run-a",
    lock_run_seq=9,
    lock_expires_at=1_800_000_060,
    lock_acquired_at="2027-01-15T08:00:00Z",
    extra={"note": "kept"},
)


def test_a_held_lease_is_described_with_its_holder_expiry_and_time_left() -> None:
    assert HELD.lock_seconds_left(now=1_800_000_000) == 60
    assert HELD.describe_lock(now=1_800_000_000) == (
        "run run-a (number 9), lease until 2027-01-15T08:01:00Z (60 s left)"
    )
    assert HELD.describe_lock(now=1_800_000_100.9) == (
        "run run-a (number 9), lease until 2027-01-15T08:01:00Z (expired 40 s ago)"
    )
    assert HELD.describe_lock(now=1_800_000_060) == (
        "run run-a (number 9), lease until 2027-01-15T08:01:00Z (0 s left)"
    )


@pytest.mark.parametrize(
    "view",
    [StateView(), StateView(lock_owner="run-a"), StateView(lock_expires_at=1_800_000_060)],
)
def test_no_lease_without_both_a_holder_and_an_expiry(view: StateView) -> None:
    assert view.lock_seconds_left(now=0) is None
    assert view.describe_lock(now=0) == "no sync holds the run lease"


def test_the_json_form_has_every_field_and_the_expiry_as_iso_time() -> None:
    shown = HELD.to_json()
    assert shown == {
        "run_seq": 9,
        "assets_table": "t",
        "lock_owner": "run-a",
        "lock_run_seq": 9,
        "lock_expires_at": 1_800_000_060,
        "lock_acquired_at": "2027-01-15T08:00:00Z",
        "last_run": None,
        "last_run_seq": None,
        "last_run_outcome": None,
        "last_run_started_at": None,
        "last_success": None,
        "last_sync_timestamp": None,
        "last_full_at": None,
        "last_full_run_seq": None,
        "lock_expires_at_iso": "2027-01-15T08:01:00Z",
        "lock_seconds_left": shown["lock_seconds_left"],
    }
    assert isinstance(shown["lock_seconds_left"], int)
    free = StateView().to_json()
    assert free["lock_expires_at_iso"] is None and free["lock_seconds_left"] is None


def test_a_held_lease_error_names_the_holder() -> None:
    held = LeaseHeldError.of(HELD, 1_800_000_000)
    assert held.holder is HELD
    assert str(held) == (
        "another sync holds the run lease: run run-a (number 9), lease until "
        "2027-01-15T08:01:00Z (60 s left); not starting a second one (if its holder is dead, "
        "`asset-sync unlock` clears an expired lease)"
    )
    assert LeaseHeldError("held").holder is None


@pytest.mark.parametrize(
    ("view", "run_seq", "cleared", "message"),
    [
        (StateView(run_seq=7), 7, True, FORCED_UNLOCK),
        (StateView(run_seq=6), 7, True, FORCED_UNLOCK),
        (
            StateView(run_seq=8),
            7,
            False,
            "the run lease was cleared and a newer run (number 8) has run since",
        ),
        (
            StateView(run_seq=8, lock_owner="run-b", lock_run_seq=8, lock_expires_at=1),
            7,
            False,
            "a newer run (number 8) took the run lease over (run run-b (number 8), lease until "
            "1970-01-01T00:00:01Z (expired ",
        ),
    ],
)
def test_why_a_lease_was_lost(view: StateView, run_seq: int, cleared: bool, message: str) -> None:
    assert lease_cleared(view, run_seq) is cleared
    assert lease_lost_message(view, run_seq).startswith(message)

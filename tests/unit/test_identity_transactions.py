"""Applying one identity change as one transaction (logic/apply_groups), outcome by outcome.

Each store below is the strict memory store with one scripted misbehaviour around the group's
transaction (another writer's move before it, a tampered or lost reply after it, failing
re-reads); the applier's answer is checked member by member: what it reports done, the report's
change of each write, how many conflicts it counts as resolved, and the exact failure message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.support import minimal_record as rec
from tests.support.memory_store import MemoryStore

from asset_sync.dal.assets import state_from_item
from asset_sync.dal.errors import ConditionFailedError, as_store_error
from asset_sync.dal.run_state import LeaseLostError
from asset_sync.logic.apply import PlanApplier, RunIdentity, StopRequested
from asset_sync.logic.models import ACTIVE, INACTIVE, CatalogAsset, FieldChange, ItemChange
from asset_sync.logic.planning import Action, IdentityGroup, Member, Role
from asset_sync.logic.validation import validate_catalog

RUN = 2
Script = Callable[["Scripted", int], Exception | None]


def asset(symbol: str, asset_id: str) -> CatalogAsset:
    return validate_catalog(json.dumps([rec(symbol, id=asset_id)]).encode()).assets[symbol]


def item(symbol: str, asset_id: str, status: str = ACTIVE, **extra: Any) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "asset_id": asset_id,
        "status": status,
        "sync_hash": f"h-{asset_id}",
        "sync_version": Decimal(3),
        "sync_run_seq": Decimal(1),
        "created_at": "2026-11-01T04:00:00.000000Z",
        **extra,
    }


def rename_group() -> IdentityGroup:
    return IdentityGroup(
        (
            Member("NEW", Role.ARRIVE, asset("NEW", "a"), source="OLD"),
            Member("OLD", Role.DEPART, source="NEW"),
        )
    )


def client_error(operation: str) -> BaseException:
    """What a store raises where botocore failed (dal/errors.py converts it)."""
    error = ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, operation)
    return as_store_error(error)


class Scripted(MemoryStore):
    """`before(store, n)` runs before the n-th transaction (it may change items, or return an
    error to raise instead of writing); `after(store, n)` runs once it applied (an error it
    returns is a lost reply). The first `failing_reads` re-reads after a transaction fail."""

    def __init__(
        self,
        items: dict[str, Any],
        before: Script | None = None,
        after: Script | None = None,
        failing_reads: int = 0,
    ) -> None:
        super().__init__(items)
        self.before = before or (lambda _s, _n: None)
        self.after = after or (lambda _s, _n: None)
        self.failing_reads = failing_reads
        self.transactions = 0

    def transact(self, writes: Any, run_seq: int) -> None:
        self.transactions += 1
        error = self.before(self, self.transactions)
        if error is not None:
            self.writes += 1
            raise error
        super().transact(writes, run_seq)
        error = self.after(self, self.transactions)
        if error is not None:
            raise error

    def get_items(self, symbols: Iterable[str]) -> dict[str, dict[str, Any]]:
        if self.transactions and self.failing_reads:
            self.failing_reads -= 1
            raise client_error("BatchGetItem")
        return super().get_items(symbols)


def applied(store: MemoryStore, group: IdentityGroup, run: int = RUN, **options: Any) -> Any:
    options.setdefault("pause", lambda _seconds: None)
    applier = PlanApplier(
        store, state_from_item, RunIdentity(run, f"2026-11-0{run}T04:00:00.000000Z"), **options
    )
    applier.apply([], store.get_items(list(group.reads)), [group])
    return applier.outcome


RENAMED = {"NEW": Action.RENAME, "OLD": Action.DEPART}
CHANGES = {
    "NEW": ItemChange("rename", {"previous_symbol": FieldChange(None, "OLD")}),
    "OLD": ItemChange(
        "depart", {"renamed_to": FieldChange(None, "NEW"), "status": FieldChange(ACTIVE, INACTIVE)}
    ),
}
MOVED = (
    "identity change of NEW, OLD not applied: another writer changed the identity of its items "
    "during the run; the next run plans it again"
)


def test_a_group_that_lands_at_once_reports_each_write_and_resolves_nothing() -> None:
    store = Scripted({"OLD": item("OLD", "a")})
    outcome = applied(store, rename_group())
    assert (outcome.done, outcome.changes, outcome.failures) == (RENAMED, CHANGES, {})
    assert outcome.conflicts_resolved == 0 and store.transactions == store.writes == 1


def test_a_lost_reply_of_a_group_that_landed_is_confirmed_by_the_re_read() -> None:
    def lost(_s: Scripted, n: int) -> Exception | None:
        return ConditionFailedError("the retry failed its conditions") if n == 1 else None

    store = Scripted({"OLD": item("OLD", "a")}, after=lost)
    outcome = applied(store, rename_group())
    assert (outcome.done, outcome.changes, outcome.failures) == (RENAMED, CHANGES, {})
    assert outcome.conflicts_resolved == 2 and store.transactions == 1


@pytest.mark.parametrize(
    ("run", "symbol", "name", "value"),
    [
        (RUN, "OLD", "sync_action", "update"),
        (RUN, "OLD", "status", ACTIVE),
        (RUN, "OLD", "renamed_to", "ELSE"),
        (RUN, "NEW", "sync_hash", "another-hash"),
        (1, "NEW", "sync_run_seq", None),  # a run number gone: nobody's write, not run 1's
    ],
)
def test_a_re_read_that_differs_from_this_runs_writes_is_not_taken_for_them(
    run: int, symbol: str, name: str, value: Any
) -> None:
    """The group landed, then another writer changed one attribute that says whose write it
    is before the lost reply's re-read: the items no longer hold exactly this run's writes,
    and their identity changed since the plan, so the group is left to the next run."""

    def tampered(s: Scripted, _n: int) -> Exception:
        if value is None:
            s.items[symbol].pop(name)
            s.items["OLD"].pop(name)
        else:
            s.items[symbol][name] = value
        return ConditionFailedError("the reply was lost")

    store = Scripted({"OLD": item("OLD", "a", sync_run_seq=Decimal(1))}, after=tampered)
    outcome = applied(store, rename_group(), run=run)
    assert outcome.done == {} and outcome.failures == {"NEW": MOVED, "OLD": MOVED}
    assert store.transactions == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [("status", INACTIVE), ("renamed_to", "ELSE"), ("previous_symbol", "ELSE")],
)
def test_another_writer_moving_a_link_leaves_the_group_to_the_next_run(
    name: str, value: str
) -> None:
    def moved(s: Scripted, n: int) -> None:
        if n == 1:
            s.items["OLD"][name] = value
            s.items["OLD"]["sync_version"] = Decimal(4)

    store = Scripted({"OLD": item("OLD", "a")}, before=moved)
    outcome = applied(store, rename_group())
    assert outcome.done == {} and outcome.failures == {"NEW": MOVED, "OLD": MOVED}
    assert store.transactions == 1 and "NEW" not in store.items


def test_a_group_superseded_at_once_resolves_nothing() -> None:
    store = Scripted({"OLD": item("OLD", "a", sync_run_seq=Decimal(7))})
    seen: list[tuple[str, int]] = []
    outcome = applied(store, rename_group(), newer_run_seen=lambda s, n: seen.append((s, n)))
    assert outcome.done == {"NEW": Action.SUPERSEDED, "OLD": Action.SUPERSEDED}
    assert (seen, outcome.conflicts_resolved, store.transactions) == ([("OLD", 7)], 0, 0)


def test_a_group_a_newer_run_overtook_during_its_transaction_is_superseded_and_resolved() -> None:
    def overtaken(s: Scripted, n: int) -> None:
        if n == 1:
            s.items["OLD"]["sync_run_seq"] = Decimal(7)

    store = Scripted({"OLD": item("OLD", "a")}, before=overtaken)
    seen: list[tuple[str, int]] = []
    outcome = applied(store, rename_group(), newer_run_seen=lambda s, n: seen.append((s, n)))
    assert outcome.done == {"NEW": Action.SUPERSEDED, "OLD": Action.SUPERSEDED}
    assert (seen, outcome.conflicts_resolved, store.transactions) == ([("OLD", 7)], 2, 1)


def test_an_item_this_run_already_wrote_is_not_a_newer_runs() -> None:
    store = Scripted({"OLD": item("OLD", "a", sync_run_seq=Decimal(RUN))})
    seen: list[tuple[str, int]] = []
    outcome = applied(store, rename_group(), newer_run_seen=lambda s, n: seen.append((s, n)))
    assert (outcome.done, seen) == (RENAMED, [])
    assert store.items["NEW"]["previous_symbol"] == "OLD"


def test_an_arrival_on_an_item_without_a_run_number_is_applied() -> None:
    """An item another service made has no `sync_run_seq`: no run wrote it, none is newer."""
    store = Scripted({"OLD": item("OLD", "a"), "NEW": {"symbol": "NEW", "made_by": "them"}})
    outcome = applied(store, rename_group())
    assert (outcome.done, outcome.failures) == (RENAMED, {})
    assert store.items["NEW"]["made_by"] == "them" and store.items["NEW"]["asset_id"] == "a"


def test_a_transaction_that_keeps_losing_its_conditions_fails_with_the_last_reason() -> None:
    store = Scripted(
        {"OLD": item("OLD", "a")}, before=lambda _s, _n: ConditionFailedError("NEW, OLD")
    )
    outcome = applied(store, rename_group())
    reason = (
        "identity change of NEW, OLD not applied: the items kept changing under the "
        "transaction (NEW, OLD)"
    )
    assert outcome.failures == {"NEW": reason, "OLD": reason} and outcome.done == {}
    assert store.transactions == 8


def test_a_transaction_that_keeps_erring_fails_with_the_error() -> None:
    store = Scripted(
        {"OLD": item("OLD", "a")}, before=lambda _s, _n: client_error("TransactWriteItems")
    )
    outcome = applied(store, rename_group())
    reason = (
        "identity change of NEW, OLD not applied: ClientError: An error occurred "
        "(InternalServerError) when calling the TransactWriteItems operation: boom"
    )
    assert outcome.failures == {"NEW": reason, "OLD": reason}
    assert store.transactions == 8


def test_re_reads_that_keep_failing_are_retried_and_reported() -> None:
    store = Scripted(
        {"OLD": item("OLD", "a")},
        before=lambda _s, _n: ConditionFailedError("NEW, OLD"),
        failing_reads=8,
    )
    outcome = applied(store, rename_group())
    reason = (
        "identity change of NEW, OLD not applied: ClientError: An error occurred "
        "(InternalServerError) when calling the BatchGetItem operation: boom"
    )
    assert outcome.failures == {"NEW": reason, "OLD": reason}
    assert store.transactions == 8  # a failed re-read is followed by the next attempt


def test_a_failed_re_read_is_followed_by_another_attempt_that_lands() -> None:
    def once(_s: Scripted, n: int) -> Exception | None:
        return ConditionFailedError("TransactionConflict") if n == 1 else None

    store = Scripted({"OLD": item("OLD", "a")}, before=once, failing_reads=1)
    outcome = applied(store, rename_group())
    assert (outcome.done, outcome.changes, outcome.failures) == (RENAMED, CHANGES, {})
    assert outcome.conflicts_resolved == 2 and store.transactions == 2


def test_a_group_left_by_a_stop_is_counted_not_written_member_by_member() -> None:
    def stop() -> None:
        raise StopRequested("SIGTERM")

    store = Scripted({"OLD": item("OLD", "a")})
    outcome = applied(store, rename_group(), before_write=stop)
    assert outcome.stopped and outcome.not_attempted == ["NEW", "OLD"]
    assert (outcome.done, outcome.failures, store.transactions) == ({}, {}, 0)


def test_a_group_left_by_a_lost_lease_fails_member_by_member() -> None:
    def taken(_symbol: str, _seq: int) -> None:
        raise LeaseLostError("run 7 took the lease")

    store = Scripted({"OLD": item("OLD", "a", sync_run_seq=Decimal(7))})
    outcome = applied(store, rename_group(), newer_run_seen=taken)
    assert outcome.aborted and outcome.abort_reason == "run 7 took the lease"
    reason = "not attempted: run 7 took the lease"
    assert outcome.failures == {"NEW": reason, "OLD": reason} and store.transactions == 0

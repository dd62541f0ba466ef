"""The applier against an in-memory store as strict as DynamoDB: outcomes of uncertain writes.

Each store below misbehaves in one scripted way (a condition that keeps failing, an item that
keeps changing, a reply that is lost); the applier's answer is checked item by item.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError
from tests.support import minimal_record as rec
from tests.support.memory_store import MemoryStore

from asset_sync.dal.assets import state_from_item
from asset_sync.dal.errors import ConditionFailedError, as_store_error
from asset_sync.dal.run_state import LeaseLostError
from asset_sync.logic import pacing
from asset_sync.logic.apply import (
    MAX_ATTEMPTS_PER_ITEM,
    MAX_FAILURES_BEFORE_ABORT,
    PlanApplier,
    RunIdentity,
    StopRequested,
    WritePacer,
)
from asset_sync.logic.models import INACTIVE, OwnedValue, StoredValue, ValidatedCatalog
from asset_sync.logic.planning import Action, ItemPlan, build_plan
from asset_sync.logic.validation import validate_catalog

T1, T2 = 1, 2


def ts(seq: int) -> str:
    return f"2026-11-{seq:02d}T04:00:00.000000Z"


def catalog_of(*records: dict[str, Any]) -> ValidatedCatalog:
    return validate_catalog(json.dumps(list(records)).encode())


class Pauses:
    """Records the applier's pauses instead of sleeping."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def applier(store: Any, seq: int = T2, **options: Any) -> PlanApplier:
    options.setdefault("pause", Pauses())
    return PlanApplier(
        store, state_from_item, RunIdentity(seq, ts(seq)), writes_per_second=1e6, **options
    )


def synced(*records: dict[str, Any], store: MemoryStore | None = None) -> MemoryStore:
    store = store or MemoryStore()
    plan = build_plan(catalog_of(*records), store.states(), T1)
    outcome = applier(store, T1).apply(plan.writes)
    assert not outcome.failures
    return store


def plan_of(store: MemoryStore, *records: dict[str, Any]) -> list[ItemPlan]:
    return build_plan(catalog_of(*records), store.states(), T2).writes


class Scripted(MemoryStore):
    """A MemoryStore whose conditional UpdateItem calls run `before` first (by call number);
    `before` may change the stored item and return an exception to raise instead of writing."""

    def __init__(self, base: MemoryStore, before: Any) -> None:
        super().__init__()
        self.items = base.items
        self.before = before
        self.calls = 0

    def update_owned(
        self,
        symbol: str,
        set_values: Mapping[str, OwnedValue],
        remove: list[str] | tuple[str, ...],
        expected: Mapping[str, StoredValue | None],
        run_seq: int,
    ) -> None:
        self.calls += 1
        error = self.before(self, symbol, self.calls)
        if error is not None:
            self.writes += 1
            raise as_store_error(error)  # what the data layer raises for a botocore error
        super().update_owned(symbol, set_values, remove, expected, run_seq)


def bump(store: MemoryStore, symbol: str) -> None:
    """Another writer's manual fix: its own attribute and sync_version + 1."""
    item = store.items[symbol]
    item["sync_version"] = Decimal(int(item["sync_version"])) + 1  # type: ignore[arg-type]
    item["edits"] = Decimal(int(item.get("edits", Decimal(0))) + 1)  # type: ignore[arg-type]


# -- conflicts ---------------------------------------------------------------------------------


def test_an_item_that_keeps_changing_fails_after_the_bounded_attempts_with_backoff() -> None:
    store = synced(rec("A"))
    writes = plan_of(store, rec("A", name="new"))

    def keep_changing(s: MemoryStore, symbol: str, _call: int) -> Exception:
        bump(s, symbol)
        return ConditionFailedError(symbol)

    scripted = Scripted(store, keep_changing)
    pauses = Pauses()
    outcome = applier(scripted, pause=pauses, backoff_base=0.05).apply(writes)

    assert scripted.calls == MAX_ATTEMPTS_PER_ITEM == 8
    assert outcome.failures == {
        "A": "gave up after 8 attempts: the item kept changing under conditional writes"
    }
    assert outcome.done == {}
    # one pause before each re-read (exact bounds: test_the_backoff_is_full_jitter_...)
    assert len(pauses.seconds) == MAX_ATTEMPTS_PER_ITEM


def test_a_condition_that_fails_on_an_unchanged_item_fails_at_once() -> None:
    store = synced(rec("A"))
    scripted = Scripted(store, lambda _s, symbol, _c: ConditionFailedError(symbol))

    outcome = applier(scripted).apply(plan_of(store, rec("A", name="new")))

    assert scripted.calls == 1
    assert outcome.failures["A"] == (
        "the conditional write failed although the item did not change; its stored values "
        "cannot be matched (please report this item)"
    )


def test_a_transient_error_on_an_unchanged_item_is_retried_not_failed_at_once() -> None:
    store = synced(rec("A"))

    def flaky(_s: MemoryStore, _symbol: str, call: int) -> Exception | None:
        return ConnectionClosedError(endpoint_url="http://x") if call < 3 else None

    scripted = Scripted(store, flaky)
    outcome = applier(scripted).apply(plan_of(store, rec("A", name="new")))

    assert scripted.calls == 3
    assert outcome.done == {"A": Action.UPDATE} and not outcome.failures
    assert outcome.conflicts_resolved == 1
    assert store.items["A"]["name"] == "new"


@pytest.mark.parametrize(
    ("last", "expected"),
    [("unchanged", Action.UNCHANGED), ("superseded", Action.SUPERSEDED)],
)
def test_after_the_last_attempt_the_re_plan_decides(last: str, expected: Action) -> None:
    """Found (#15): after the last attempt the re-plan was ignored and the item reported
    failed, although it ended unchanged (another writer wrote the same) or superseded."""
    store = synced(rec("A"))
    target = synced(rec("A", name="new"), store=MemoryStore()).items["A"]

    def changing_then_settled(s: MemoryStore, symbol: str, call: int) -> Exception:
        bump(s, symbol)
        if call == MAX_ATTEMPTS_PER_ITEM:
            item = s.items[symbol]
            if last == "unchanged":
                item.update(name=target["name"], sync_hash=target["sync_hash"])
            else:
                item["sync_run_seq"] = Decimal(T2 + 1)
        return ConditionFailedError(symbol)

    scripted = Scripted(store, changing_then_settled)
    outcome = applier(scripted).apply(plan_of(store, rec("A", name="new")))

    assert scripted.calls == MAX_ATTEMPTS_PER_ITEM
    assert outcome.failures == {}
    assert outcome.done == {"A": expected}
    assert outcome.conflicts_resolved == 1


def test_a_lost_reply_whose_write_applied_is_confirmed_by_the_re_read() -> None:
    store = synced(rec("A"))

    def applied_then_lost(s: MemoryStore, _symbol: str, call: int) -> Exception | None:
        return None if call > 1 else ConnectionClosedError(endpoint_url="http://x")

    class LostReply(Scripted):
        def update_owned(self, symbol: str, *args: Any, **kwargs: Any) -> None:
            self.calls += 1
            MemoryStore.update_owned(self, symbol, *args, **kwargs)  # applied ...
            if self.calls == 1:
                raise as_store_error(
                    ConnectionClosedError(endpoint_url="http://x")
                )  # ... reply lost

    lost = LostReply(store, applied_then_lost)
    outcome = applier(lost).apply(plan_of(store, rec("A", name="new")))

    assert lost.calls == 1  # confirmed, not written again
    assert outcome.done == {"A": Action.UPDATE} and outcome.conflicts_resolved == 1
    assert "name" in outcome.changes["A"].fields
    assert store.items["A"]["sync_version"] == 2


def test_a_write_of_another_run_with_the_same_content_is_not_taken_for_ours() -> None:
    store = synced(rec("A"))

    def other_run_wrote(s: MemoryStore, symbol: str, call: int) -> Exception | None:
        if call == 1:
            s.items[symbol]["sync_run_seq"] = Decimal(T1)  # same content, an older run's number
            bump(s, symbol)
            return ConnectionClosedError(endpoint_url="http://x")
        return None

    scripted = Scripted(store, other_run_wrote)
    outcome = applier(scripted).apply(plan_of(store, rec("A", name="new")))
    assert scripted.calls == 2 and outcome.done == {"A": Action.UPDATE}


def test_a_delisting_whose_item_vanished_is_gone() -> None:
    store = synced(rec("A"), rec("B"))
    writes = plan_of(store, rec("A"))
    assert [(i.symbol, i.action) for i in writes] == [("B", Action.DELIST)]

    def deleted(s: MemoryStore, symbol: str, _call: int) -> Exception:
        del s.items[symbol]
        return ConditionFailedError(symbol)

    outcome = applier(Scripted(store, deleted)).apply(writes)
    assert outcome.done == {"B": Action.GONE} and not outcome.failures
    assert "B" not in store.items


def test_a_create_whose_item_appeared_meanwhile_is_replanned_against_it() -> None:
    store = MemoryStore()
    writes = plan_of(store, rec("A"))
    store.items["A"] = {"symbol": "A", "sector": "Tech"}  # another service was first

    outcome = applier(store).apply(writes)

    assert outcome.done == {"A": Action.CREATE}
    assert outcome.conflicts_resolved == 1
    item = store.items["A"]
    assert (item["sector"], item["status"], item["created_at"]) == ("Tech", "active", ts(T2))


# -- stops, lost leases, aborts ------------------------------------------------------------------


def test_a_stop_request_leaves_the_rest_not_attempted() -> None:
    store = synced(*(rec(f"S{i}") for i in range(5)))
    writes = plan_of(store, *(rec(f"S{i}", name="new") for i in range(5)))
    started: list[int] = []

    def before_write() -> None:
        started.append(1)
        if len(started) > 2:
            raise StopRequested("SIGTERM")

    progress: list[int] = []
    outcome = applier(store, concurrency=1, before_write=before_write, on_progress=progress.append)
    result = outcome.apply(writes)

    assert result.stopped and not result.aborted
    assert len(result.done) == 2 and sorted(result.not_attempted) == ["S2", "S3", "S4"]
    assert result.failures == {}
    assert progress == [1, 2]  # items not written never count as progress (the bar stays honest)


def test_a_lost_lease_fails_the_rest_with_the_reason() -> None:
    store = synced(*(rec(f"S{i}") for i in range(3)))
    writes = plan_of(store, *(rec(f"S{i}", name="new") for i in range(3)))

    def before_write() -> None:
        raise LeaseLostError("the lease is gone")

    outcome = applier(store, concurrency=1, before_write=before_write).apply(writes)

    assert outcome.aborted and outcome.abort_reason == "the lease is gone"
    assert outcome.failures == {f"S{i}": "not attempted: the lease is gone" for i in range(3)}
    assert all(store.items[f"S{i}"]["name"] == f"S{i} Corp" for i in range(3))


def test_repeated_failures_abort_the_run() -> None:
    count = MAX_FAILURES_BEFORE_ABORT + 5
    store = synced(*(rec(f"S{i:02d}") for i in range(count)))
    writes = plan_of(store, *(rec(f"S{i:02d}", name="new") for i in range(count)))
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "Update")

    def fail(_s: MemoryStore, _symbol: str, _call: int) -> Exception:
        return denied

    outcome = applier(Scripted(store, fail), concurrency=1).apply(writes)

    assert outcome.aborted
    assert outcome.abort_reason == "the run aborted after repeated failures"
    assert len(outcome.failures) == count
    first = outcome.failures["S00"]
    assert first.startswith("gave up after 8 attempts: ClientError: ")
    skipped = [s for s, m in outcome.failures.items() if m.startswith("not attempted")]
    assert len(skipped) == count - MAX_FAILURES_BEFORE_ABORT


def test_an_unexpected_error_is_recorded_as_the_items_failure() -> None:
    store = synced(rec("A"), rec("B"))

    def broken(_s: MemoryStore, symbol: str, _call: int) -> Exception | None:
        if symbol == "A":
            raise RuntimeError("boom")
        return None

    outcome = applier(Scripted(store, broken)).apply(
        plan_of(store, rec("A", name="x"), rec("B", name="y"))
    )
    assert outcome.failures == {"A": "RuntimeError: boom"}
    assert outcome.done == {"B": Action.UPDATE}


def test_no_writer_outlives_apply_and_in_flight_returns_to_zero() -> None:
    store = synced(*(rec(f"S{i}") for i in range(6)))
    runner = applier(store, concurrency=3)
    runner.apply(plan_of(store, *(rec(f"S{i}", name="n") for i in range(6))))
    assert runner.in_flight == 0


def test_the_pacer_spaces_write_starts() -> None:
    slept: list[float] = []
    pacer = WritePacer(10.0, sleep=slept.append)
    for _ in range(4):
        pacer.wait()
    assert pacer.interval == pytest.approx(0.1)
    # the first starts at once; each later one waits one more interval (the fake sleep
    # does not advance the clock)
    assert slept == pytest.approx([0.1, 0.2, 0.3], abs=0.02)


def test_a_delisting_writes_only_the_status_and_bookkeeping() -> None:
    store = synced(rec("A", cusip="1"), rec("B"))
    before = dict(store.items["A"])
    outcome = applier(store).apply(plan_of(store, rec("B")))
    after = store.items["A"]
    assert outcome.done == {"A": Action.DELIST}
    assert after["status"] == INACTIVE
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {
        "status",
        "updated_at",
        "last_sync_timestamp",
        "sync_action",
        "sync_version",
        "sync_run_seq",
    }
    assert after["created_at"] == before["created_at"]
    assert outcome.changes["A"].fields.keys() == {"status"}


# -- re-plans, re-reads and backoff, exactly -------------------------------------------------------


def test_defaults() -> None:
    runner = PlanApplier(MemoryStore(), state_from_item, RunIdentity(T1, ts(T1)))
    assert (runner.concurrency, runner.backoff_base) == (8, 0.05)
    assert runner.pacer.interval == pytest.approx(1 / 500)


def test_the_backoff_is_full_jitter_up_to_an_exponential_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bounds: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        bounds.append((low, high))
        return high

    monkeypatch.setattr(pacing.random, "uniform", uniform)  # the one backoff: logic.pacing
    store = synced(rec("A"))

    def keep_changing(s: MemoryStore, symbol: str, _call: int) -> Exception:
        bump(s, symbol)
        return ConditionFailedError(symbol)

    pauses = Pauses()
    applier(Scripted(store, keep_changing), pause=pauses, backoff_base=0.5).apply(
        plan_of(store, rec("A", name="new"))
    )
    expected = [min(5.0, 0.5 * 2**attempt) for attempt in range(MAX_ATTEMPTS_PER_ITEM)]
    assert bounds == [(0, e) for e in expected]
    assert pauses.seconds == expected  # 0.5, 1, 2, 4, then capped at 5


def test_writes_are_paced_through_the_given_pause() -> None:
    store = synced(rec("A"), rec("B"), rec("C"))
    pauses = Pauses()
    runner = PlanApplier(
        store,
        state_from_item,
        RunIdentity(T2, ts(T2)),
        concurrency=1,
        writes_per_second=10,
        pause=pauses,
    )
    runner.apply(plan_of(store, rec("A", name="a"), rec("B", name="b"), rec("C", name="c")))
    assert len(pauses.seconds) >= 2 and all(0 < p <= 0.31 for p in pauses.seconds)


def test_an_item_already_as_planned_is_unchanged_without_a_write() -> None:
    store = synced(rec("A"))
    writes = plan_of(store, rec("A", name="new"))
    synced(rec("A", name="new"), store=store)  # another run wrote the same meanwhile
    store.items["A"]["sync_run_seq"] = Decimal(T1)
    before = store.writes

    outcome = applier(store).apply(writes)

    assert outcome.done == {"A": Action.UNCHANGED} and store.writes == before
    assert outcome.conflicts_resolved == 0 and outcome.changes == {}


def test_a_plain_write_resolves_no_conflict() -> None:
    store = synced(rec("A"))
    outcome = applier(store).apply(plan_of(store, rec("A", name="new")))
    assert outcome.done == {"A": Action.UPDATE} and outcome.conflicts_resolved == 0


def test_an_item_settled_on_the_second_attempt_counts_one_resolved_conflict() -> None:
    store = synced(rec("A"))
    target = synced(rec("A", name="new"), store=MemoryStore()).items["A"]

    def written_by_another(s: MemoryStore, symbol: str, _call: int) -> Exception:
        s.items[symbol].update(name=target["name"], sync_hash=target["sync_hash"])
        bump(s, symbol)
        return ConditionFailedError(symbol)

    scripted = Scripted(store, written_by_another)
    outcome = applier(scripted).apply(plan_of(store, rec("A", name="new")))
    assert scripted.calls == 1
    assert outcome.done == {"A": Action.UNCHANGED} and outcome.conflicts_resolved == 1


def test_a_failing_re_read_is_retried_and_named_when_it_never_works() -> None:
    store = synced(rec("A"))

    class RereadFails(Scripted):
        reads = 0

        def get_item(self, symbol: str) -> Any:
            self.reads += 1
            if self.reads <= self.failing_reads:
                raise as_store_error(
                    ClientError(
                        {"Error": {"Code": "InternalServerError", "Message": "x"}}, "GetItem"
                    )
                )
            return super().get_item(symbol)

    def throttled_once(_s: MemoryStore, _symbol: str, call: int) -> Exception | None:
        return ConnectionClosedError(endpoint_url="http://x") if call == 1 else None

    flaky = RereadFails(store, throttled_once)
    flaky.failing_reads = 1
    outcome = applier(flaky).apply(plan_of(store, rec("A", name="new")))
    assert outcome.done == {"A": Action.UPDATE} and flaky.calls == 2

    store = synced(rec("A"))
    broken = RereadFails(store, lambda _s, _sym, _c: ConnectionClosedError(endpoint_url="x"))
    broken.failing_reads = 10**6
    outcome = applier(broken).apply(plan_of(store, rec("A", name="new")))
    assert broken.calls == MAX_ATTEMPTS_PER_ITEM
    assert outcome.failures["A"].startswith("gave up after 8 attempts: ClientError: ")
    assert "InternalServerError" in outcome.failures["A"]


def test_a_delisting_whose_reply_was_lost_is_confirmed() -> None:
    store = synced(rec("A"), rec("B"))

    class LostReply(MemoryStore):
        calls = 0

        def update_owned(self, symbol: str, *args: Any, **kwargs: Any) -> None:
            self.calls += 1
            super().update_owned(symbol, *args, **kwargs)
            if self.calls == 1:
                raise as_store_error(ConnectionClosedError(endpoint_url="http://x"))

    lost = LostReply()
    lost.items = store.items
    outcome = applier(lost).apply(plan_of(store, rec("A")))
    assert lost.calls == 1
    assert outcome.done == {"B": Action.DELIST} and outcome.conflicts_resolved == 1


def test_a_delisting_of_an_item_another_writer_made_inactive_is_unchanged_not_gone() -> None:
    store = synced(rec("A"), rec("B"))
    writes = plan_of(store, rec("A"))

    def delisted_by_another(s: MemoryStore, symbol: str, _call: int) -> Exception:
        s.items[symbol]["status"] = INACTIVE
        bump(s, symbol)
        return ConditionFailedError(symbol)

    outcome = applier(Scripted(store, delisted_by_another)).apply(writes)
    assert outcome.done == {"B": Action.UNCHANGED} and not outcome.failures


def test_own_write_detection_needs_this_runs_number_content_status_and_links() -> None:
    store = synced(rec("A"))
    asset = build_plan(
        validate_catalog(json.dumps([rec("A", name="new")]).encode()), store.states(), T2
    ).updates[0]
    mine = {
        **store.items["A"],
        "name": "new",
        "sync_hash": asset.asset.content_hash,  # type: ignore[union-attr]
        "sync_run_seq": Decimal(T2),
        "sync_action": "update",
    }
    runner = applier(store)
    assert runner._is_own_write(asset, mine)
    assert not runner._is_own_write(asset, None)
    assert not runner._is_own_write(asset, {**mine, "sync_run_seq": Decimal(T1)})
    assert not runner._is_own_write(asset, {**mine, "status": INACTIVE})
    assert not runner._is_own_write(asset, {**mine, "sync_hash": "other"})
    assert not runner._is_own_write(asset, {**mine, "sync_action": "repair"})
    reactivation = ItemPlan("A", Action.REACTIVATE, asset.asset)
    assert runner._is_own_write(reactivation, {**mine, "sync_action": "reactivate"})
    stale = {**mine, "sync_action": "reactivate", "renamed_to": "Y"}
    assert not runner._is_own_write(reactivation, stale)  # its link was to go
    delist = ItemPlan("A", Action.DELIST)
    assert runner._is_own_write(delist, {**mine, "status": INACTIVE, "sync_action": "delist"})
    assert not runner._is_own_write(delist, {**mine, "sync_action": "delist"})


def test_each_write_is_conditioned_on_every_owned_value_it_replaces() -> None:
    store = synced(rec("A"))
    sent: list[dict[str, Any]] = []

    class Recording(MemoryStore):
        def update_owned(
            self, symbol: str, set_values: Any, remove: Any, expected: Any, run_seq: int
        ) -> None:
            sent.append(
                {"set": dict(set_values), "remove": tuple(remove), "expected": dict(expected)}
            )
            super().update_owned(symbol, set_values, remove, expected, run_seq)

    recording = Recording()
    recording.items = store.items
    old = dict(store.items["A"])
    applier(recording).apply(plan_of(store, rec("A", name="new", cusip=None, tradable=False)))

    (request,) = sent
    touched = {*request["set"], *request["remove"]}
    assert request["expected"] == {name: old.get(name) for name in touched}
    assert {"name", "tradable", "sync_version", "sync_run_seq", "updated_at"} <= touched


def test_a_full_run_repairs_a_drifted_value_the_hash_cannot_show() -> None:
    store = synced(rec("A"))
    store.items["A"]["name"] = "edited by hand"
    catalog = validate_catalog(json.dumps([rec("A")]).encode())
    whole = {s: state_from_item(s, i) for s, i in store.items.items()}
    plan = build_plan(catalog, whole, T2, full=True)
    assert [i.symbol for i in plan.repairs] == ["A"]
    run = RunIdentity(T2, ts(T2), full=True)
    outcome = PlanApplier(store, state_from_item, run, writes_per_second=1e6).apply(plan.writes)
    assert outcome.done == {"A": Action.REPAIR}
    assert store.items["A"]["name"] == "A Corp"


def test_progress_counts_failures_and_conflicts_add_up() -> None:
    store = synced(rec("A"), rec("B"), rec("C"))

    tries: dict[str, int] = {}

    def script(s: MemoryStore, symbol: str, _call: int) -> Exception | None:
        if symbol == "A":
            raise RuntimeError("boom")
        tries[symbol] = tries.get(symbol, 0) + 1
        if tries[symbol] == 1:  # B and C each lose one race
            bump(s, symbol)
            return ConditionFailedError(symbol)
        return None

    progress: list[int] = []
    outcome = applier(Scripted(store, script), concurrency=1, on_progress=progress.append).apply(
        plan_of(store, rec("A", name="a"), rec("B", name="b"), rec("C", name="c"))
    )
    assert outcome.failures == {"A": "RuntimeError: boom"}
    assert outcome.done == {"B": Action.UPDATE, "C": Action.UPDATE}
    assert outcome.conflicts_resolved == 2
    assert progress == [1, 2, 3]


def test_in_flight_counts_concurrent_requests() -> None:
    store = synced(rec("A"), rec("B"))
    both_sent = threading.Barrier(2, timeout=10)
    seen: list[int] = []

    class Overlapping(MemoryStore):
        runner: PlanApplier

        def update_owned(self, *args: Any, **kwargs: Any) -> None:
            both_sent.wait()
            seen.append(self.runner.in_flight)
            both_sent.wait()
            super().update_owned(*args, **kwargs)

    overlapping = Overlapping()
    overlapping.items = store.items
    runner = applier(overlapping, concurrency=2)
    overlapping.runner = runner
    runner.apply(plan_of(store, rec("A", name="a"), rec("B", name="b")))
    assert seen == [2, 2] and runner.in_flight == 0


def test_failures_resolve_no_conflict() -> None:
    store = synced(rec("A"))
    scripted = Scripted(store, lambda _s, symbol, _c: ConditionFailedError(symbol))
    outcome = applier(scripted).apply(plan_of(store, rec("A", name="new")))
    assert outcome.failures and outcome.conflicts_resolved == 0


def test_a_superseded_item_is_reported_to_the_lease_check_and_an_unchanged_one_is_not() -> None:
    store = synced(rec("A"), rec("B"))
    writes = plan_of(store, rec("A", name="new"), rec("B", name="new"))
    store.items["A"]["sync_run_seq"] = Decimal(5)  # a run numbered 5 wrote A since
    seen: list[tuple[str, int]] = []

    first = applier(store, newer_run_seen=lambda s, n: seen.append((s, n))).apply(writes)
    again = applier(store, newer_run_seen=lambda s, n: seen.append((s, n))).apply(writes)

    assert first.done == {"A": Action.SUPERSEDED, "B": Action.UPDATE}
    assert again.done == {"A": Action.SUPERSEDED, "B": Action.UNCHANGED}  # B: its own write
    assert seen == [("A", 5), ("A", 5)]  # never for an unchanged item


def test_a_plain_create_reports_nothing_more_than_its_action() -> None:
    store = MemoryStore()
    outcome = applier(store).apply(
        [ItemPlan("PLAIN", Action.CREATE, catalog_of(rec("PLAIN")).assets["PLAIN"])]
    )
    assert outcome.changes["PLAIN"].to_json() == {"action": "create"}
    assert "previous_symbol" not in store.items["PLAIN"]
    assert store.items["PLAIN"]["sync_action"] == "list"

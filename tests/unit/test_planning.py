"""Planning (pure) and applying it to an in-memory store with DynamoDB's write conditions."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support import minimal_record as rec
from tests.support.examples import examples
from tests.support.memory_store import MemoryStore

from asset_sync.dal.assets import state_from_item
from asset_sync.logic.apply import PlanApplier, RunIdentity
from asset_sync.logic.models import ACTIVE, INACTIVE, ValidatedCatalog
from asset_sync.logic.planning import Action, build_plan, check_guard, plan_item
from asset_sync.logic.validation import validate_catalog

# Run numbers: a later run has a higher number (its start time is information only).
T1, T2, T3 = 1, 2, 3


def timestamp(run_seq: int) -> str:
    return f"2026-11-{run_seq:02d}T04:00:00.000000Z"


def catalog_of(*records: dict[str, Any]) -> ValidatedCatalog:
    return validate_catalog(json.dumps(list(records)).encode())


def applier(store: MemoryStore, run_seq: int, full: bool = False) -> PlanApplier:
    run = RunIdentity(run_seq, timestamp(run_seq), full)
    return PlanApplier(store, state_from_item, run, concurrency=2, writes_per_second=1e6)


def sync(store: MemoryStore, catalog: ValidatedCatalog, seq: int, classes: tuple[str, ...] = ()):
    plan = build_plan(catalog, store.states(), seq, classes)
    outcome = applier(store, seq).apply(plan.writes)
    assert not outcome.failures
    return plan, outcome


def test_first_run_creates_everything_then_nothing_changes() -> None:
    store = MemoryStore()
    catalog = catalog_of(rec("AAPL"), rec("BRK.B"), rec("BTC/USD", **{"class": "crypto"}))
    plan, _ = sync(store, catalog, T1)
    assert len(plan.creates) == 3
    assert store.items["BRK.B"]["status"] == ACTIVE
    assert store.items["BRK.B"]["created_at"] == timestamp(T1)
    assert store.items["BRK.B"]["sync_run_seq"] == T1
    again = build_plan(catalog, store.states(), T2)
    assert again.is_empty and again.unchanged == 3


def test_change_delist_and_reactivate() -> None:
    store = MemoryStore()
    sync(store, catalog_of(rec("A"), rec("B"), rec("C")), T1)
    plan, outcome = sync(store, catalog_of(rec("A", name="A Inc"), rec("C")), T2)
    assert [i.symbol for i in plan.updates] == ["A"]
    assert [i.symbol for i in plan.delists] == ["B"]
    assert store.items["B"]["status"] == INACTIVE
    assert store.items["B"]["name"] == "B Corp"  # a delisting changes only the status
    assert outcome.changes["A"].fields["name"].new == "A Inc"
    plan, _ = sync(store, catalog_of(rec("A", name="A Inc"), rec("B"), rec("C")), T3)
    assert [i.symbol for i in plan.reactivations] == ["B"]
    assert store.items["B"]["status"] == ACTIVE


def test_a_removed_field_is_removed_not_nulled() -> None:
    store = MemoryStore()
    sync(store, catalog_of(rec("A", cusip="123")), T1)
    sync(store, catalog_of(rec("A")), T2)
    assert "cusip" not in store.items["A"]


def test_equal_decimals_in_another_spelling_are_unchanged() -> None:
    store = MemoryStore()
    sync(store, catalog_of(rec("A", margin_requirement_long="30")), T1)
    plan = build_plan(catalog_of(rec("A", margin_requirement_long="30.00")), store.states(), T2)
    assert plan.is_empty


def test_invalid_and_duplicate_symbols_are_neither_written_nor_delisted() -> None:
    store = MemoryStore()
    sync(store, catalog_of(rec("A"), rec("B"), rec("C")), T1)
    before = {s: dict(i) for s, i in store.items.items()}
    catalog = catalog_of(rec("A", tradable="yes"), rec("B", name="x"), rec("B", name="y"), rec("C"))
    plan, _ = sync(store, catalog, T2)
    assert plan.is_empty
    assert store.items == before


def test_scope_limits_delisting_to_the_fetched_classes() -> None:
    store = MemoryStore()
    sync(store, catalog_of(rec("A"), rec("BTC/USD", **{"class": "crypto"})), T1)
    plan = build_plan(catalog_of(rec("A")), store.states(), T2, ("us_equity",))
    assert plan.is_empty


def test_guard_refuses_empty_catalog_and_large_delisting() -> None:
    store = MemoryStore()
    sync(store, catalog_of(*[rec(f"S{i}") for i in range(20)]), T1)
    empty = catalog_of()
    assert not check_guard(empty, build_plan(empty, store.states(), T2), 0.1, False).allowed
    assert check_guard(empty, build_plan(empty, store.states(), T2), 0.1, True).allowed
    three_gone = catalog_of(*[rec(f"S{i}") for i in range(17)])
    plan = build_plan(three_gone, store.states(), T2)
    verdict = check_guard(three_gone, plan, 0.1, False)
    assert not verdict.allowed and "3 of 20" in verdict.reason
    two_gone = catalog_of(*[rec(f"S{i}") for i in range(18)])
    assert check_guard(two_gone, build_plan(two_gone, store.states(), T2), 0.1, False).allowed


def test_an_item_written_by_a_run_with_a_higher_number_is_left_alone() -> None:
    store = MemoryStore()
    sync(store, catalog_of(rec("A")), T2)
    state = store.whole_states()["A"]
    stale = catalog_of(rec("A", name="older"))
    item = plan_item(stale.assets["A"], state, T1)
    assert item is not None and item.action == Action.SUPERSEDED
    again = plan_item(stale.assets["A"], state, T2)
    assert again is not None and again.action == Action.UPDATE  # its own number: not newer


def test_a_lost_race_is_replanned_against_the_fresh_item() -> None:
    store = MemoryStore()
    sync(store, catalog_of(rec("A")), T1)
    catalog = catalog_of(rec("A", name="new"))
    plan = build_plan(catalog, store.states(), T2)
    # another writer bumps the version and adds its own attribute after the plan was made
    store.items["A"]["sector"] = "Tech"
    store.items["A"]["sync_version"] = Decimal(5)
    outcome = applier(store, T2).apply(plan.writes)
    assert outcome.done == {"A": Action.UPDATE}
    assert store.items["A"]["name"] == "new"
    assert store.items["A"]["sector"] == "Tech"


# -- properties ------------------------------------------------------------------------------

symbols = st.sampled_from([f"S{i}" for i in range(12)] + ["BRK.B", "BTC/USD"])
records = st.builds(
    lambda symbol, name, tradable, margin, cls, status: rec(
        symbol,
        name=name,
        tradable=tradable,
        margin_requirement_long=margin,
        status=status,
        **{"class": cls},
    ),
    symbols,
    st.sampled_from(["Alpha", "Beta", ""]),
    st.one_of(st.booleans(), st.just("bad")),
    st.sampled_from(["30", "30.0", "50", "0.000000001"]),
    st.sampled_from(["us_equity", "crypto", "crypto_perp"]),
    st.sampled_from(["active", "active", "inactive"]),
)
catalogs = st.lists(records, max_size=16).map(lambda rs: catalog_of(*rs))


@settings(max_examples=examples(150), deadline=None)
@given(first=catalogs, second=catalogs, foreign=st.sets(symbols))
def test_apply_then_plan_again_is_empty_and_foreign_attributes_survive(
    first: ValidatedCatalog, second: ValidatedCatalog, foreign: set[str]
) -> None:
    store = MemoryStore()
    sync(store, first, T1)
    annotated = foreign & set(store.items)
    for symbol in annotated:
        store.items[symbol]["last_pollenation_date"] = "2026-11-28"
    protected_before = {
        s: dict(store.items[s]) for s in second.protected_symbols if s in store.items
    }
    sync(store, second, T2)
    assert build_plan(second, store.states(), T2).is_empty
    for symbol in annotated:
        assert store.items[symbol]["last_pollenation_date"] == "2026-11-28"
    for symbol, item in protected_before.items():
        assert store.items[symbol] == item  # invalid or duplicate: untouched
    for symbol, asset in second.assets.items():
        assert store.items[symbol]["sync_hash"] == asset.content_hash
        assert store.items[symbol]["status"] == asset.status


@settings(max_examples=examples(150), deadline=None)
@given(first=catalogs, second=catalogs, fraction=st.sampled_from([0.0, 0.1, 0.5, 1.0]))
def test_guard_refuses_exactly_when_delisting_exceeds_the_fraction(
    first: ValidatedCatalog, second: ValidatedCatalog, fraction: float
) -> None:
    store = MemoryStore()
    sync(store, first, T1)
    plan = build_plan(second, store.states(), T2)
    active = sum(1 for s in store.states().values() if s.status == ACTIVE)
    expected = bool(second.assets) and len(plan.delists) <= fraction * active
    assert check_guard(second, plan, fraction, False).allowed == expected


def test_a_full_run_keeps_the_values_of_drifted_items_only() -> None:
    from asset_sync.logic.planning import drifted  # noqa: PLC0415

    store = MemoryStore()
    catalog = catalog_of(rec("A", margin_requirement_long="30"))
    sync(store, catalog, T1)
    asset, stored = catalog.assets["A"], store.items["A"]

    assert not drifted(asset, stored)
    assert not drifted(None, stored)  # absent from the catalog: a delisting needs no values
    assert not drifted(asset, {**stored, "margin_requirement_long": Decimal("30.000")})
    assert drifted(asset, {**stored, "sync_hash": "wrong"})
    assert drifted(asset, {**stored, "status": INACTIVE})
    assert drifted(asset, {**stored, "name": "edited by hand"})
    assert drifted(asset, {k: v for k, v in stored.items() if k != "tradable"})

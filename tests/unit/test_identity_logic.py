"""Renames and delisting confirmation (logic/identity.py), pure: plans in, plans out."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

import pytest
from tests.support import minimal_record as rec
from tests.support.memory_store import MemoryStore

from asset_sync.dal.assets import state_from_item
from asset_sync.logic.apply import PlanApplier, RunIdentity
from asset_sync.logic.identity import (
    Confirmation,
    LookupFailedError,
    Rename,
    confirm_delistings,
    pair_renames,
    replan_rename,
)
from asset_sync.logic.models import ACTIVE, INACTIVE, ValidatedCatalog
from asset_sync.logic.planning import Action, ItemPlan, Plan, build_plan
from asset_sync.logic.validation import validate_catalog

T1, T2 = 1, 2


def catalog_of(*records: dict[str, Any]) -> ValidatedCatalog:
    return validate_catalog(json.dumps(list(records)).encode())


def synced(*records: dict[str, Any]) -> MemoryStore:
    store = MemoryStore()
    plan = build_plan(catalog_of(*records), store.states(), T1)
    run = RunIdentity(T1, "2026-11-01T04:00:00.000000Z")
    outcome = PlanApplier(store, state_from_item, run, writes_per_second=1e6).apply(plan.writes)
    assert not outcome.failures
    return store


def planned(store: MemoryStore, *records: dict[str, Any]) -> tuple[Plan, list[Rename]]:
    plan = build_plan(catalog_of(*records), store.states(), T2)
    olds = store.get_items([i.symbol for i in plan.delists])
    return pair_renames(plan, olds)


# -- pairing -----------------------------------------------------------------------------------


def test_a_delisting_and_a_creation_of_one_asset_id_are_a_rename() -> None:
    store = synced(rec("OLD", id="asset-1"), rec("KEEP"))
    plan, renames = planned(store, rec("NEW", id="asset-1"), rec("KEEP"))

    assert renames == [Rename("OLD", "NEW", "asset-1")]
    assert renames[0].to_json() == {"from": "OLD", "to": "NEW", "asset_id": "asset-1"}
    assert (plan.creates, plan.delists) == ([], [])
    assert [(i.symbol, i.action, i.partner) for i in plan.renamed_to] == [
        ("NEW", Action.RENAME, "OLD")
    ]
    assert [(i.symbol, i.action, i.partner, i.asset) for i in plan.renamed_from] == [
        ("OLD", Action.RENAME, "NEW", None)
    ]
    assert [i.symbol for i in plan.writes] == ["NEW", "OLD"]  # the new symbol first
    assert plan.unchanged == 1


def test_a_reactivation_can_be_the_new_side_of_a_rename() -> None:
    store = synced(rec("OLD", id="asset-1"), rec("BACK", id="b-1", status="inactive"))
    plan, renames = planned(store, rec("BACK", id="asset-1"))
    assert renames == [Rename("OLD", "BACK", "asset-1")]
    assert plan.reactivations == [] and plan.delists == []


def test_different_ids_pair_by_a_cusip_shared_one_to_one() -> None:
    store = synced(rec("OLD", id="a-1", cusip="C1"), rec("OTHER", id="a-2", cusip="C2"))
    plan, renames = planned(
        store, rec("NEW", id="b-1", cusip="C1"), rec("OTHER", id="a-2", cusip="C2")
    )
    assert renames == [Rename("OLD", "NEW", "b-1")]
    assert plan.unchanged == 1 and [i.partner for i in plan.renamed_from] == ["NEW"]


def test_a_cusip_shared_by_two_candidates_or_two_newcomers_pairs_nothing() -> None:
    store = synced(rec("O1", id="a-1", cusip="C"), rec("O2", id="a-2", cusip="C"))
    plan, renames = planned(store, rec("NEW", id="b-1", cusip="C"))
    assert renames == [] and sorted(i.symbol for i in plan.delists) == ["O1", "O2"]

    store = synced(rec("OLD", id="a-1", cusip="C"))
    plan, renames = planned(store, rec("N1", id="b-1", cusip="C"), rec("N2", id="b-2", cusip="C"))
    assert renames == [] and [i.symbol for i in plan.delists] == ["OLD"]
    assert sorted(i.symbol for i in plan.creates) == ["N1", "N2"]


def test_an_empty_cusip_or_id_pairs_nothing() -> None:
    store = synced(rec("OLD", id="a-1", cusip=""))
    plan, renames = planned(store, rec("NEW", id="b-1", cusip=""))
    assert renames == [] and len(plan.creates) == 1 and len(plan.delists) == 1


def test_one_newcomer_takes_at_most_one_old_symbol() -> None:
    store = synced(rec("O1", id="a-1"), rec("O2", id="x"))
    store.items["O2"]["asset_id"] = "a-1"  # two stored items claim one id
    plan, renames = planned(store, rec("NEW", id="a-1"))
    assert renames == [Rename("O1", "NEW", "a-1")]
    assert [i.symbol for i in plan.delists] == ["O2"]


def test_an_id_match_wins_over_a_cusip_match() -> None:
    store = synced(rec("O1", id="a-1", cusip="C"), rec("O2", id="a-2", cusip="D"))
    _plan, renames = planned(store, rec("N1", id="a-2", cusip="C"), rec("N2", id="z", cusip="C"))
    assert Rename("O2", "N1", "a-2") in renames
    assert Rename("O1", "N2", "z") in renames
    assert len(renames) == 2


def test_renames_are_sorted_by_old_symbol() -> None:
    store = synced(*(rec(f"O{i}", id=f"a-{i}") for i in (3, 1, 2)))
    _plan, renames = planned(store, *(rec(f"N{i}", id=f"a-{i}") for i in (2, 3, 1)))
    assert [r.old for r in renames] == ["O1", "O2", "O3"]
    assert [r.new for r in renames] == ["N1", "N2", "N3"]


def test_applying_a_rename_links_both_items() -> None:
    store = synced(rec("OLD", id="asset-1"))
    store.items["OLD"]["sector"] = "Tech"
    plan, _ = planned(store, rec("NEW", id="asset-1"))
    run = RunIdentity(T2, "2026-11-02T04:00:00.000000Z")
    outcome = PlanApplier(store, state_from_item, run, writes_per_second=1e6).apply(plan.writes)

    assert outcome.done == {"NEW": Action.RENAME, "OLD": Action.RENAME}
    new, old = store.items["NEW"], store.items["OLD"]
    assert (new["previous_symbol"], new["status"], "renamed_to" in new) == ("OLD", ACTIVE, False)
    assert (old["renamed_to"], old["status"], old["sector"]) == ("NEW", INACTIVE, "Tech")
    assert outcome.changes["NEW"].action == "rename"
    assert outcome.changes["OLD"].fields["renamed_to"].new == "NEW"


# -- re-planning one side ----------------------------------------------------------------------


def side(item: dict[str, Any] | None, symbol: str) -> Any:
    return state_from_item(symbol, item) if item is not None else None


def test_replanning_the_old_side() -> None:
    old_side = ItemPlan("OLD", Action.RENAME, None, None, partner="NEW")
    assert replan_rename(old_side, None, T2) == ItemPlan("OLD", Action.GONE)
    active = {"symbol": "OLD", "status": ACTIVE, "sync_run_seq": Decimal(T1)}
    assert replan_rename(old_side, side(active, "OLD"), T2).action == Action.RENAME  # type: ignore[union-attr]
    done = {**active, "status": INACTIVE, "renamed_to": "NEW"}
    assert replan_rename(old_side, side(done, "OLD"), T2).action == Action.UNCHANGED  # type: ignore[union-attr]
    elsewhere = {**done, "renamed_to": "OTHER"}
    assert replan_rename(old_side, side(elsewhere, "OLD"), T2).action == Action.RENAME  # type: ignore[union-attr]
    newer = {**active, "sync_run_seq": Decimal(T2 + 1)}
    assert replan_rename(old_side, side(newer, "OLD"), T2).action == Action.SUPERSEDED  # type: ignore[union-attr]
    same_run = {**active, "sync_run_seq": Decimal(T2)}
    assert replan_rename(old_side, side(same_run, "OLD"), T2).action == Action.RENAME  # type: ignore[union-attr]


def test_replanning_the_new_side() -> None:
    asset = catalog_of(rec("NEW", id="asset-1")).assets["NEW"]
    new_side = ItemPlan("NEW", Action.RENAME, asset, None, partner="OLD")
    assert replan_rename(new_side, None, T2).action == Action.RENAME  # type: ignore[union-attr]
    store = synced(rec("NEW", id="asset-1"))
    item = store.items["NEW"]
    assert replan_rename(new_side, side(item, "NEW"), T2).action == Action.RENAME  # type: ignore[union-attr]
    linked = {**item, "previous_symbol": "OLD"}
    assert replan_rename(new_side, side(linked, "NEW"), T2).action == Action.UNCHANGED  # type: ignore[union-attr]
    stale = {**linked, "renamed_to": "X"}
    assert replan_rename(new_side, side(stale, "NEW"), T2).action == Action.RENAME  # type: ignore[union-attr]
    newer = {**linked, "sync_run_seq": Decimal(T2 + 1)}
    assert replan_rename(new_side, side(newer, "NEW"), T2).action == Action.SUPERSEDED  # type: ignore[union-attr]
    changed = {**linked, "sync_hash": "other"}
    assert replan_rename(new_side, side(changed, "NEW"), T2).action == Action.RENAME  # type: ignore[union-attr]


# -- confirmation ------------------------------------------------------------------------------


def candidates(*symbols: str) -> list[ItemPlan]:
    return [ItemPlan(s, Action.DELIST) for s in symbols]


class Lookups:
    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.keys: list[str] = []

    def __call__(self, key: str) -> Any:
        self.keys.append(key)
        answer = self.answers.get(key)
        if isinstance(answer, Exception):
            raise answer
        return answer


def confirm(
    symbols: list[str], answers: dict[str, Any], sample: int = 50, listed: tuple[str, ...] = ()
) -> tuple[Confirmation, Lookups]:
    olds = {s: {"asset_id": f"id-{s}"} for s in symbols}
    lookup = Lookups(answers)
    result = confirm_delistings(
        candidates(*symbols), olds, lookup, sample_size=sample, listed=listed, rng=random.Random(1)
    )
    return result, lookup


def test_candidates_alpaca_reports_inactive_or_unknown_are_confirmed() -> None:
    result, lookup = confirm(
        ["B", "A"], {"id-A": {"status": "inactive", "symbol": "A"}, "id-B": None}
    )
    assert result.confirmed == ["A", "B"] and result.consistent
    assert (result.kept_active, result.unconfirmed, result.lookups) == ([], [], 2)
    assert lookup.keys == ["id-A", "id-B"]  # looked up by asset id, in symbol order


def test_one_candidate_still_active_leaves_only_those_confirmed_one_by_one() -> None:
    answers = {"id-A": None, "id-B": {"status": ACTIVE, "symbol": "B"}, "id-C": None}
    result, _ = confirm(["A", "B", "C"], answers)
    assert not result.consistent
    assert (result.confirmed, result.kept_active, result.unconfirmed) == (["A", "C"], ["B"], [])


def test_a_failed_lookup_leaves_its_candidate_unconfirmed() -> None:
    answers = {"id-A": LookupFailedError("timeout"), "id-B": None}
    result, _ = confirm(["A", "B"], answers)
    assert (result.confirmed, result.unconfirmed, result.lookups) == (["B"], ["A"], 2)


def test_an_asset_active_under_another_listed_symbol_moved_and_is_confirmed() -> None:
    answers = {"id-A": {"status": ACTIVE, "symbol": "A2"}}
    result, _ = confirm(["A"], answers, listed=("A2",))
    assert result.confirmed == ["A"] and result.consistent
    result, _ = confirm(["A"], answers, listed=())  # active elsewhere but not listed
    assert result.kept_active == ["A"] and result.confirmed == []


def test_a_sample_stands_for_all_when_consistent() -> None:
    symbols = [f"S{i:02d}" for i in range(20)]
    result, lookup = confirm(symbols, {}, sample=5)
    assert result.lookups == 5 and len(lookup.keys) == 5 and len(set(lookup.keys)) == 5
    assert lookup.keys == sorted(lookup.keys)
    assert result.confirmed == symbols and result.consistent


def test_an_inconsistent_sample_leaves_the_unsampled_unconfirmed() -> None:
    symbols = [f"S{i:02d}" for i in range(10)]
    answers = {f"id-{s}": {"status": ACTIVE, "symbol": s} for s in symbols}
    result, lookup = confirm(symbols, answers, sample=3)
    sampled = {k.removeprefix("id-") for k in lookup.keys}
    assert sorted(result.kept_active) == sorted(sampled) and result.confirmed == []
    assert result.unconfirmed == sorted(set(symbols) - sampled)


def test_a_candidate_without_a_stored_id_is_looked_up_by_symbol() -> None:
    lookup = Lookups({"A": None})
    result = confirm_delistings(
        candidates("A"), {}, lookup, sample_size=5, listed=(), rng=random.Random(0)
    )
    assert lookup.keys == ["A"] and result.confirmed == ["A"]


def test_no_candidates_need_no_lookup() -> None:
    result, lookup = confirm([], {})
    assert (result.confirmed, result.lookups, lookup.keys) == ([], 0, [])
    assert result.consistent and Confirmation().consistent


@pytest.mark.parametrize("sample", [1, 2])
def test_the_sample_size_is_exact(sample: int) -> None:
    result, lookup = confirm(["A", "B", "C"], {}, sample=sample)
    assert len(lookup.keys) == result.lookups == sample


def test_a_candidate_missing_from_the_read_items_pairs_by_nothing() -> None:
    store = synced(rec("OLD", id="asset-1", cusip="C"))
    plan = build_plan(catalog_of(rec("NEW", id="asset-1", cusip="C")), store.states(), T2)
    new_plan, renames = pair_renames(plan, {})
    assert renames == [] and [i.symbol for i in new_plan.delists] == ["OLD"]


def test_an_empty_cusip_before_a_matching_one_does_not_stop_the_pairing() -> None:
    store = synced(rec("O1", id="a-1", cusip=""), rec("O2", id="a-2", cusip="C"))
    plan, renames = planned(store, rec("NEW", id="b-1", cusip="C"))
    assert [i.symbol for i in plan.delists] == ["O1"]
    assert renames == [Rename("O2", "NEW", "b-1")]


def test_replanning_keeps_the_state_it_was_planned_against() -> None:
    asset = catalog_of(rec("NEW", id="asset-1")).assets["NEW"]
    store = synced(rec("NEW", id="asset-1"))
    item = {**store.items["NEW"], "previous_symbol": "OLD"}
    new_side = ItemPlan("NEW", Action.RENAME, asset, None, partner="OLD")
    for variant in (item, {**item, "renamed_to": "X"}, {**item, "sync_run_seq": Decimal(9)}):
        current = side(variant, "NEW")
        result = replan_rename(new_side, current, T2)
        assert result is not None and result.current is current and result.asset == asset
        assert result.partner == (None if result.action == Action.UNCHANGED else "OLD")
    old_side = ItemPlan("OLD", Action.RENAME, None, None, partner="NEW")
    for variant in (
        {"symbol": "OLD", "status": ACTIVE},
        {"symbol": "OLD", "status": INACTIVE, "renamed_to": "NEW"},
        {"symbol": "OLD", "status": ACTIVE, "sync_run_seq": Decimal(9)},
    ):
        current = side(variant, "OLD")
        result = replan_rename(old_side, current, T2)
        assert result is not None and result.current is current and result.partner == "NEW"


def test_replanning_the_new_side_in_a_full_reconciliation_compares_stored_values() -> None:
    asset = catalog_of(rec("NEW", id="asset-1")).assets["NEW"]
    store = synced(rec("NEW", id="asset-1"))
    drifted = {**store.items["NEW"], "previous_symbol": "OLD", "name": "edited by hand"}
    new_side = ItemPlan("NEW", Action.RENAME, asset, None, partner="OLD")
    current = state_from_item("NEW", drifted)  # the whole item
    plain = replan_rename(new_side, current, T2)
    full = replan_rename(new_side, current, T2, full=True)
    assert plain is not None and plain.action == Action.UNCHANGED  # the hash still matches
    assert full is not None and full.action == Action.RENAME  # the value does not


def test_a_stored_id_that_is_not_text_is_not_used_as_a_key() -> None:
    lookup = Lookups({"A": None})
    result = confirm_delistings(
        candidates("A"),
        {"A": {"asset_id": Decimal(5)}},
        lookup,
        sample_size=5,
        listed=(),
        rng=random.Random(0),
    )
    assert lookup.keys == ["A"] and result.confirmed == ["A"]


def test_confirmed_one_by_one_names_the_moved_asset() -> None:
    answers = {
        "id-A": {"status": ACTIVE, "symbol": "A2"},
        "id-B": {"status": ACTIVE, "symbol": "B"},
    }
    result, _ = confirm(["A", "B"], answers, listed=("A2",))
    assert (result.confirmed, result.kept_active) == (["A"], ["B"])

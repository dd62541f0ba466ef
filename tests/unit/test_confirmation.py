"""Delisting confirmation (logic/confirmation.py), pure: candidates and lookups in."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest

from asset_sync.logic.confirmation import Confirmation, LookupFailedError, confirm_delistings
from asset_sync.logic.models import ACTIVE
from asset_sync.logic.planning import Action, ItemPlan


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


def test_an_asset_still_active_under_the_candidate_own_symbol_is_kept_even_if_listed() -> None:
    """Only a move to *another* listed symbol confirms a candidate: the same symbol, active at
    Alpaca, contradicts the delisting whatever `listed` holds."""
    answers = {"id-A": {"status": ACTIVE, "symbol": "A"}}
    result, _ = confirm(["A"], answers, listed=("A",))
    assert (result.confirmed, result.kept_active) == ([], ["A"])

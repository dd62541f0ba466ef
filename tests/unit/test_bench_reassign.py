"""The benchmark's reassignment day is what docs/benchmarks.md says it is, and its expectations
follow docs/identity.md: where each asset's item is after a correct run, what the run reports."""

from __future__ import annotations

from collections import Counter

import pytest
from bench.reassign import reassign
from bench.scenarios import Scenario

from asset_sync.local.catalog import Asset, generate_catalog
from asset_sync.logic.models import ARCHIVE_PREFIX

N = 4_000  # two units of each kind


@pytest.fixture(scope="module")
def catalog() -> list[Asset]:
    return [a for a in generate_catalog(N + 400, seed=3) if a["class"] == "us_equity"][:N]


def by_symbol(records: list[Asset]) -> dict[str, Asset]:
    return {str(a["symbol"]): a for a in records}


def test_every_kind_is_there_with_unique_symbols_and_ids(catalog: list[Asset]) -> None:
    day = reassign(catalog, seed=1)
    assert day.by_kind() == {
        "renames": 4,
        "shifts": 2,
        "swaps": 2,
        "reused after a delisting": 2,
        "reused the same day": 2,
    }
    assert len(day.served) == N
    assert max(Counter(a["symbol"] for a in day.served).values()) == 1
    assert max(Counter(a["id"] for a in day.served).values()) == 1
    assert (day.identity_changes, day.identity_items) == (12, 4 * 2 + 2 * 3 + 2 * 2 + 4 * 2)


def test_tickers_move_as_each_kind_says(catalog: list[Asset]) -> None:
    day = reassign(catalog, seed=1)
    before, after = by_symbol(catalog), by_symbol(day.served)
    for old, new in day.renames:
        assert new not in before and old not in after
        assert after[new]["id"] == before[old]["id"]
    for a, b, c in day.shifts:  # FB -> META, META -> METV
        assert a not in after and c not in before
        assert (after[b]["id"], after[c]["id"]) == (before[a]["id"], before[b]["id"])
    for a, b in day.swaps:
        assert (after[a]["id"], after[b]["id"]) == (before[b]["id"], before[a]["id"])
    for ticker, holder in day.displaced.items():
        assert before[ticker]["id"] == holder
        assert after[ticker]["id"] not in {a["id"] for a in catalog}
        assert after[ticker]["cusip"] is None  # no CUSIP in common: a new security


def test_each_asset_has_one_home_after_the_day(catalog: list[Asset]) -> None:
    day = reassign(catalog, seed=1)
    scenario = Scenario("reassigned", catalog, day.served, reassignments=day)
    ids = {str(a["symbol"]): str(a["id"]) for a in catalog}
    (old, new), (a, b, c) = day.renames[0], day.shifts[0]
    same_day = day.reused_same_day[0]
    assert scenario.home(old, ids[old]) == new
    assert (scenario.home(a, ids[a]), scenario.home(b, ids[b])) == (b, c)
    assert scenario.home(same_day, ids[same_day]) == ARCHIVE_PREFIX + ids[same_day]
    untouched = next(s for s in ids if s not in scenario.touched)
    assert scenario.home(untouched, ids[untouched]) == untouched
    homes = [scenario.home(s, i) for s, i in ids.items()]
    assert len(set(homes)) == len(homes)
    assert set(scenario.new_holders) == set(day.displaced)


def test_the_expected_report_accounts_for_every_record(catalog: list[Asset]) -> None:
    day = reassign(catalog, seed=1)
    counts = Scenario("reassigned", catalog, day.served, reassignments=day).expected(
        "asset_sync", N
    )
    assert counts["renamed"] == 4 + 2 * 2 + 2 * 2  # renames, two arrivals per shift and swap
    assert counts["created"] == counts["archived"] == 4
    assert counts["delisted"] == counts["delist_candidates"] == counts["delist_lookups"] == 2
    assert counts["renamed"] + counts["created"] + counts["unchanged"] == N

"""Properties of renames (issue 9), over several days of arbitrary ticker changes.

Each day's catalog maps asset ids to tickers (one ticker per id, one id per ticker): an id keeps
its ticker, moves to another (free, or freed that day), leaves the catalog, or comes back. Every
delisting candidate is confirmed (Alpaca would say inactive). The expected answers come from the
catalogs alone, never from the planner:

* every asset id of a day's catalog ends active on exactly its ticker, and nothing else is active;
* an id that left the catalog is active nowhere;
* a rename is never a delisting, and every id that moved from a ticker that left the catalog to
  one that was not listed the day before is a rename whose two items name each other.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support import minimal_record
from tests.support.memory_store import MemoryStore

from asset_sync.dal.assets import state_from_item
from asset_sync.logic.apply import PlanApplier, RunIdentity
from asset_sync.logic.identity import pair_renames
from asset_sync.logic.models import ACTIVE, INACTIVE
from asset_sync.logic.planning import build_plan
from asset_sync.logic.validation import validate_catalog

IDS = [f"id-{n}" for n in range(8)]
TICKERS = [chr(ord("A") + n) for n in range(12)]

Day = dict[str, str]  # asset id -> ticker


@st.composite
def days(draw: st.DrawFn) -> list[Day]:
    """Three catalogs: a subset of the ids, each on its own ticker."""
    out = []
    for _ in range(3):
        ids = draw(st.lists(st.sampled_from(IDS), unique=True, max_size=len(IDS)))
        tickers = draw(st.permutations(TICKERS))
        out.append(dict(zip(ids, tickers[: len(ids)], strict=True)))
    return out


def run(store: MemoryStore, day: Day, seq: int) -> tuple[list[str], list[Any]]:
    """One run, every candidate confirmed; the plan's delisted symbols and the renames."""
    records = [minimal_record(ticker, id=asset_id) for asset_id, ticker in day.items()]
    catalog = validate_catalog(json.dumps(records).encode())
    plan = build_plan(catalog, store.states(), seq)
    olds = store.get_items([item.symbol for item in plan.delists])
    plan, renames = pair_renames(plan, olds)
    run_identity = RunIdentity(seq, f"2026-12-{seq:02d}T04:00:00.000000Z")
    outcome = PlanApplier(
        store, state_from_item, run_identity, concurrency=1, writes_per_second=1e9
    ).apply(plan.writes, olds)
    assert not outcome.failures
    return [item.symbol for item in plan.delists], renames


@settings(max_examples=200, deadline=None)
@given(sequence=days())
def test_renames_never_lose_an_asset_and_are_never_delistings(sequence: list[Day]) -> None:
    store = MemoryStore()
    before: Day = {}
    for seq, day in enumerate(sequence, start=1):
        delisted, renames = run(store, day, seq)

        active = {
            symbol: item.get("asset_id")
            for symbol, item in store.items.items()
            if item.get("status") == ACTIVE
        }
        assert active == {ticker: asset_id for asset_id, ticker in day.items()}
        listed_before = set(before.values())
        moved = {  # an id whose old ticker left the catalog and whose new one was not listed
            asset_id: (old, day[asset_id])
            for asset_id, old in before.items()
            if asset_id in day
            and day[asset_id] != old
            and old not in day.values()
            and day[asset_id] not in listed_before
        }
        assert {r.asset_id: (r.old, r.new) for r in renames} == moved
        renamed_from = {old for old, _new in moved.values()}
        gone = set(before.values()) - set(day.values()) - renamed_from
        assert set(delisted) == gone  # every ticker that left, but no rename
        for old, new in moved.values():
            assert store.items[old]["status"] == INACTIVE
            assert store.items[old]["renamed_to"] == new
            assert store.items[new]["previous_symbol"] == old
        before = day

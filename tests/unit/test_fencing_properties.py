"""Properties of the fencing rule (issue 8): runs are ordered by run number, never by clocks.

On arbitrary tables (items last written by runs with any number or none, timestamps from 1999 to
2099, bumped versions, other services' attributes, items another service made, hand-made drift)
and arbitrary pairs of runs, planned and applied to an in-memory store that enforces the data
layer's conditions (tests/support/memory_store.py):

* a run never changes an item written by a higher-numbered run, whatever the timestamps;
* everything else ends exactly as the run's catalog says, and a higher-numbered run applied
  after it converges to that run's catalog; the outcome does not depend on any timestamp;
* a run that planned before a higher-numbered run applied leaves the higher run's items alone;
* a full reconciliation repairs any drift on the items it may write.

The expected tables are derived here from the catalogs and the rules (the oracle below), never
from the planner under test.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support import minimal_record as rec
from tests.support.memory_store import MemoryStore

from asset_sync.dal.assets import state_from_item
from asset_sync.logic.apply import PlanApplier, RunIdentity
from asset_sync.logic.models import (
    ACTIVE,
    CONTENT_ATTRIBUTES,
    INACTIVE,
    OWNED_ATTRIBUTES,
    CatalogAsset,
    CurrentState,
    StoredValue,
    Unrecognized,
    ValidatedCatalog,
)
from asset_sync.logic.planning import Action, build_plan, plan_item
from asset_sync.logic.validation import validate_catalog

Item = dict[str, StoredValue]
Table = dict[str, Item]
SYMBOLS = [f"S{i}" for i in range(8)] + ["BRK.B"]
TIMES = [
    "1999-01-01T00:00:00.000000Z",
    "2026-11-30T04:00:00.000000Z",
    "2026-12-03T04:00:00.000000Z",  # three days later
    "2099-12-31T23:59:59.999999Z",
]
CLOCK_ATTRIBUTES = ("created_at", "updated_at", "last_sync_timestamp")
MAX_SEQ = 12

# -- the oracle: what a run numbered `seq` must leave, from the catalog and the rules --------------


def seq_of(item: Mapping[str, StoredValue] | None) -> int:
    """The number of the run that last wrote `item` (0: none recorded, or not a number)."""
    value = None if item is None else item.get("sync_run_seq")
    return int(value) if isinstance(value, Decimal) and value == int(value) else 0


def content_is(item: Mapping[str, StoredValue], content: Mapping[str, Any]) -> bool:
    """Every content attribute stored exactly as `content` has it (numbers by value), or
    absent where it has none."""
    for name in CONTENT_ATTRIBUTES:
        stored, wanted = item.get(name), content.get(name)
        if wanted is None:
            if stored is not None:
                return False
        elif type(stored) is not type(wanted) or stored != wanted:
            return False
    return True


def foreign(item: Mapping[str, StoredValue] | None) -> Item:
    return {k: v for k, v in (item or {}).items() if k not in OWNED_ATTRIBUTES}


def next_version(item: Mapping[str, StoredValue] | None) -> Decimal:
    value = None if item is None else item.get("sync_version")
    return value + 1 if isinstance(value, Decimal) and value == int(value) else Decimal(1)


def needs_write(old: Item | None, asset: CatalogAsset, full: bool) -> bool:
    if old is None or old.get("status") not in (ACTIVE, INACTIVE):
        return True
    if old.get("status") != asset.status or old.get("sync_hash") != asset.content_hash:
        return True
    return full and not content_is(old, asset.content)


def check_run(
    before: Table,
    after: Table,
    catalog: ValidatedCatalog,
    seq: int,
    timestamp: str,
    scope: tuple[str, ...],
    *,
    full: bool = False,
) -> None:
    """`after` is what the run numbered `seq` (started at `timestamp`) must leave."""
    for symbol in set(before) | set(after):
        old, new = before.get(symbol), after.get(symbol)
        assert new is not None, f"{symbol}: deleted"
        assert foreign(new) == foreign(old), f"{symbol}: another service's attribute changed"
        if seq_of(old) > seq:
            assert new == old, f"{symbol}: a higher-numbered run's item was overwritten"
            continue
        asset = catalog.assets.get(symbol)
        if asset is not None:
            if not needs_write(old, asset, full):
                assert new == old, f"{symbol}: written although nothing differed"
                continue
            assert content_is(new, asset.content), symbol
            assert (new["status"], new["sync_hash"]) == (asset.status, asset.content_hash)
            written_by(new, old, seq, timestamp)
            continue
        delisted = (
            old is not None
            and old.get("status") == ACTIVE
            and symbol not in catalog.protected_symbols
            and (not scope or old.get("asset_class") in scope)
        )
        if not delisted:
            assert new == old, f"{symbol}: changed although out of the run's reach"
            continue
        assert old is not None
        assert new["status"] == INACTIVE
        assert {k: new.get(k) for k in CONTENT_ATTRIBUTES} == {
            k: old.get(k) for k in CONTENT_ATTRIBUTES
        }
        written_by(new, old, seq, timestamp)


def written_by(new: Item, old: Item | None, seq: int, timestamp: str) -> None:
    assert new["sync_run_seq"] == seq
    assert new["last_sync_timestamp"] == new["updated_at"] == timestamp
    assert new["sync_version"] == next_version(old)
    created = old.get("created_at") if old is not None else None
    assert new["created_at"] == (created if isinstance(created, str) else timestamp)


# -- runs under test -------------------------------------------------------------------------------


def catalog_of(records: list[Any]) -> ValidatedCatalog:
    return validate_catalog(json.dumps(records).encode())


def apply_run(
    store: MemoryStore,
    catalog: ValidatedCatalog,
    seq: int,
    timestamp: str,
    scope: tuple[str, ...],
    *,
    full: bool = False,
) -> None:
    states = store.whole_states() if full else store.states()
    plan = build_plan(catalog, states, seq, scope, full=full)
    applier = PlanApplier(
        store, state_from_item, RunIdentity(seq, timestamp, full), writes_per_second=1e6
    )
    outcome = applier.apply(plan.writes)
    assert not outcome.failures


def without_clocks(table: Table) -> Table:
    return {s: {k: v for k, v in i.items() if k not in CLOCK_ATTRIBUTES} for s, i in table.items()}


# -- strategies ------------------------------------------------------------------------------------

valid_records = st.builds(
    lambda symbol, name, tradable, margin, cusip, attributes, cls, status: rec(
        symbol,
        name=name,
        tradable=tradable,
        margin_requirement_long=margin,
        status=status,
        attributes=attributes,
        **({"cusip": cusip} if cusip else {}),
        **{"class": cls},
    ),
    st.sampled_from(SYMBOLS),
    st.sampled_from(["Alpha", "Beta"]),
    st.booleans(),
    st.sampled_from(["30", "30.00", "50"]),
    st.sampled_from([None, "037833100"]),
    st.sampled_from([[], ["has_options"], ["has_options", "ptp_no_exception"]]),
    st.sampled_from(["us_equity", "crypto"]),
    st.just(ACTIVE),  # an active-only response holds nothing else (issue 19: others are invalid)
)
records = st.lists(
    st.one_of(valid_records, valid_records, valid_records, valid_records.map(
        lambda r: {**r, "tradable": "bad"}  # invalid: protects its symbol
    )),
    max_size=10,
)  # fmt: skip
scopes = st.sampled_from([(), ("us_equity",)])
times = st.sampled_from(TIMES)
run_numbers = st.integers(1, MAX_SEQ)


@st.composite
def tables(draw: st.DrawFn) -> MemoryStore:
    """Items an earlier sync wrote, then stamped with any run number (or none) and any times,
    some versions bumped, some annotated by other services; plus items only others made."""
    store = MemoryStore()
    apply_run(store, catalog_of(draw(records)), 1, draw(times), ())
    for symbol in sorted(store.items):
        item = store.items[symbol]
        number = draw(st.one_of(st.none(), st.integers(0, MAX_SEQ)))
        if number is None:
            item.pop("sync_run_seq")
        else:
            item["sync_run_seq"] = Decimal(number)
        item["last_sync_timestamp"] = item["updated_at"] = draw(times)
        version = item["sync_version"]
        if draw(st.booleans()) and isinstance(version, Decimal):
            item["sync_version"] = version + draw(st.integers(1, 3))
        if draw(st.booleans()):
            item["sector"] = f"sector-{symbol}"
    for symbol in draw(st.sets(st.sampled_from(SYMBOLS), max_size=2)):
        store.items.setdefault(symbol, {"symbol": symbol, "sector": "made by another service"})
    return store


DRIFTS: list[tuple[str, StoredValue | None]] = [
    ("name", "Hand Edited"),
    ("name", Unrecognized({"M": {"en": {"S": "x"}}})),
    ("tradable", Unrecognized({"NULL": True})),
    ("margin_requirement_long", Decimal("99")),
    ("margin_requirement_long", None),
    ("attributes", ("hand_added",)),
    ("attributes", Unrecognized({"SS": ["a", "b"]})),
    ("cusip", "000000000"),
    ("cusip", None),
    ("exchange", None),
    ("sync_hash", "0" * 32),
]


@st.composite
def drifted_tables(draw: st.DrawFn) -> MemoryStore:
    """`tables()` whose items also carry owned values edited by hand (hash left as it was)."""
    store = draw(tables())
    for symbol in sorted(store.items):
        item = store.items[symbol]
        if "status" not in item:
            continue
        for index in draw(st.sets(st.integers(0, len(DRIFTS) - 1), max_size=3)):
            name, value = DRIFTS[index]
            if value is None:
                item.pop(name, None)
            else:
                item[name] = value
    return store


# -- properties ------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(table=tables(), catalog=records.map(catalog_of), seq=run_numbers, now=times, scope=scopes)
def test_a_run_never_overwrites_an_item_written_by_a_higher_numbered_run(
    table: MemoryStore, catalog: ValidatedCatalog, seq: int, now: str, scope: tuple[str, ...]
) -> None:
    before = copy.deepcopy(table.items)

    apply_run(table, catalog, seq, now, scope)

    check_run(before, table.items, catalog, seq, now, scope)


@settings(max_examples=150, deadline=None)
@given(
    table=tables(),
    first=records.map(catalog_of),
    second=records.map(catalog_of),
    seqs=st.tuples(run_numbers, run_numbers).filter(lambda pair: pair[0] < pair[1]),
    clocks=st.tuples(times, times),
    scope=scopes,
)
def test_a_run_then_a_higher_numbered_one_converge_to_the_higher_runs_catalog_whatever_the_clocks(
    table: MemoryStore,
    first: ValidatedCatalog,
    second: ValidatedCatalog,
    seqs: tuple[int, int],
    clocks: tuple[str, str],
    scope: tuple[str, ...],
) -> None:
    """The higher-numbered run may start at any time: before the lower one by its clock too."""
    low, high = seqs
    start = copy.deepcopy(table)

    outcomes = []
    for low_time, high_time in (clocks, clocks[::-1], (TIMES[-1], TIMES[0])):
        store = copy.deepcopy(start)
        apply_run(store, first, low, low_time, scope)
        check_run(start.items, store.items, first, low, low_time, scope)
        middle = copy.deepcopy(store.items)
        apply_run(store, second, high, high_time, scope)
        check_run(middle, store.items, second, high, high_time, scope)
        for symbol, item in store.items.items():  # the higher run's catalog, where it may write
            asset = second.assets.get(symbol)
            if asset is not None and seq_of(start.items.get(symbol)) <= high:
                assert content_is(item, asset.content) and item["status"] == asset.status
        outcomes.append(without_clocks(store.items))
    assert outcomes[0] == outcomes[1] == outcomes[2]  # clocks decided nothing


@settings(max_examples=150, deadline=None)
@given(
    table=tables(),
    stale=records.map(catalog_of),
    newer=records.map(catalog_of),
    seqs=st.tuples(run_numbers, run_numbers).filter(lambda pair: pair[0] < pair[1]),
    clocks=st.tuples(times, times),
)
def test_a_run_that_planned_before_a_higher_numbered_one_applied_leaves_its_items_alone(
    table: MemoryStore,
    stale: ValidatedCatalog,
    newer: ValidatedCatalog,
    seqs: tuple[int, int],
    clocks: tuple[str, str],
) -> None:
    low, high = seqs
    plan = build_plan(stale, table.states(), low, ())  # the stale run plans ...
    apply_run(table, newer, high, clocks[1], ())  # ... a newer run takes over and applies ...
    after_newer = copy.deepcopy(table.items)

    run = RunIdentity(low, clocks[0])  # ... then the stale run applies its plan
    applier = PlanApplier(table, state_from_item, run, writes_per_second=1e6)
    outcome = applier.apply(plan.writes)

    assert not outcome.failures
    for symbol, item in after_newer.items():
        if seq_of(item) >= high:
            assert table.items[symbol] == item, f"{symbol}: the newer run's item was overwritten"
            if symbol in {p.symbol for p in plan.writes}:
                assert outcome.done[symbol] == Action.SUPERSEDED
    for symbol, action in outcome.done.items():
        if action not in (Action.SUPERSEDED, Action.UNCHANGED, Action.GONE):
            assert table.items[symbol]["sync_run_seq"] == low


@settings(max_examples=150, deadline=None)
@given(
    table=drifted_tables(), catalog=records.map(catalog_of), seq=run_numbers, now=times,
    scope=scopes,
)  # fmt: skip
def test_a_full_run_repairs_any_drift_except_on_a_higher_numbered_runs_items(
    table: MemoryStore, catalog: ValidatedCatalog, seq: int, now: str, scope: tuple[str, ...]
) -> None:
    before = copy.deepcopy(table.items)

    apply_run(table, catalog, seq, now, scope, full=True)

    check_run(before, table.items, catalog, seq, now, scope, full=True)
    again = build_plan(catalog, table.whole_states(), seq, scope, full=True)
    assert not again.writes


@settings(max_examples=500, deadline=None)
@given(
    record=valid_records,
    status=st.sampled_from([ACTIVE, INACTIVE, "", "pending"]),
    same_hash=st.booleans(),
    stored=st.integers(0, MAX_SEQ),
    seq=run_numbers,
    full=st.booleans(),
    clocks=st.lists(times, min_size=2, max_size=2),
)
def test_only_a_higher_run_number_supersedes_and_no_timestamp_changes_a_decision(
    record: dict[str, Any],
    status: str,
    same_hash: bool,
    stored: int,
    seq: int,
    full: bool,
    clocks: list[str],
) -> None:
    asset = catalog_of([record]).assets[record["symbol"]]
    values: Item = {"symbol": asset.symbol, "status": status, **asset.content}
    values["sync_hash"] = asset.content_hash if same_hash else "0" * 32
    decisions = set()
    for stamp in clocks:
        values["last_sync_timestamp"] = values["updated_at"] = values["created_at"] = stamp
        current = CurrentState(
            asset.symbol,
            status,
            str(values["sync_hash"]),
            str(asset.content["asset_class"]),
            stored,
            dict(values) if full else None,
        )
        for candidate in (asset, None):
            planned = plan_item(candidate, current, seq, full=full)
            action = planned.action if planned is not None else None
            assert (action == Action.SUPERSEDED) == (stored > seq), (candidate, action)
            decisions.add((candidate is None, action))
    assert len(decisions) == 2  # one decision per candidate, whichever the timestamps

"""Properties of planning + applying that tests/unit/test_planning.py does not cover yet.

There, tables are only ever produced by a previous sync and the catalog is never scoped to asset
classes. Here the starting table is arbitrary (items another service annotated, items a newer
sync wrote, bumped versions, inactive items, several classes), the catalog mixes valid records
with many kinds of invalid ones, and runs may be scoped to asset classes:

* invalid records never change the table: syncing `valid + invalid` leaves every symbol an
  invalid record names exactly as it was, and every other symbol exactly as syncing `valid`
  alone does;
* the guard refuses exactly when it should, by an independent count, with class scope;
* applying then planning again is empty, with class scope, on arbitrary tables;
* items outside the scope, items a newer sync wrote and other services' attributes are never
  touched; every item the sync writes has a `sync_hash` that matches its content.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support import minimal_record as rec
from tests.support.examples import examples
from tests.support.memory_store import MemoryStore

from asset_sync.dal.assets import state_from_item
from asset_sync.logic.apply import PlanApplier, RunIdentity
from asset_sync.logic.models import (
    ACTIVE,
    CONTENT_ATTRIBUTES,
    INACTIVE,
    OWNED_ATTRIBUTES,
    ValidatedCatalog,
    content_hash,
)
from asset_sync.logic.planning import build_plan, check_guard, in_scope
from asset_sync.logic.validation import validate_catalog

T0, T1 = 1, 2  # run numbers
T_FUTURE = 99  # a run with a higher number than the run under test
CLASSES = ("us_equity", "crypto", "us_option")
SYMBOLS = [f"S{i}" for i in range(10)] + ["BRK.B", "BTC/USD", "#s0", ":e0"]


def catalog_of(records: list[Any]) -> ValidatedCatalog:
    return validate_catalog(json.dumps(records).encode())


def apply(
    store: MemoryStore, catalog: ValidatedCatalog, seq: int, classes: tuple[str, ...]
) -> None:
    plan = build_plan(catalog, store.states(), seq, classes)
    run = RunIdentity(seq, f"2026-11-{seq:02d}T04:00:00.000000Z")
    outcome = PlanApplier(store, state_from_item, run, concurrency=2, writes_per_second=1e6).apply(
        plan.writes
    )
    assert not outcome.failures


valid_records = st.builds(
    lambda symbol, name, cls, status, margin: rec(
        symbol, name=name, status=status, margin_requirement_long=margin, **{"class": cls}
    ),
    st.sampled_from(SYMBOLS),
    st.sampled_from(["Alpha", "Beta", "a = b OR attribute_exists(x)"]),
    st.sampled_from(CLASSES),
    st.just(ACTIVE),  # a record of another status is invalid (below)
    st.sampled_from(["30", "30.00", "50"]),
)


@dataclass(frozen=True)
class Invalid:
    """An invalid record and the symbol it must protect, known from how it was built (the
    oracle never asks the code under test)."""

    record: Any
    protects: str | None


# Each invalid kind: how to break a record of symbol `s`, and which symbol it then protects
# (`s` itself, another readable symbol, or none: a symbol that cannot identify an item).
# Several break only the project's own limits (control characters, lengths, digits, exponents).
INVALID_KINDS: list[tuple[Any, Any]] = [
    (lambda s: rec(s, tradable="bad"), str),
    (lambda s: rec(s, margin_requirement_long="abc"), str),
    (lambda s: rec(s, name="ctrl\x07char"), str),
    (lambda s: rec(s, name="N" * 513), str),
    (lambda s: rec(s, exchange="E" * 129), str),
    (lambda s: rec(s, cusip="C" * 129), str),
    (lambda s: rec(s, borrow_status="x\u0085y"), str),
    (lambda s: {k: v for k, v in rec(s).items() if k != "id"}, str),
    (lambda s: rec(s, id=""), str),
    (lambda s: rec(s, attributes=[1]), str),
    (lambda s: rec(s, attributes=["a"] * 65), str),
    (lambda s: rec(s, attributes=["ok", "bad\tone"]), str),
    (lambda s: rec(s, maintenance_margin_requirement="Infinity"), str),
    (lambda s: rec(s, price_increment="NaN"), str),
    (lambda s: rec(s, min_order_size="1" * 39), str),
    (lambda s: rec(s, min_trade_increment="1E+31"), str),
    (lambda s: rec(s, margin_requirement_short="1_0"), str),
    (lambda s: rec(s, status=None), str),
    (lambda s: rec(s, status="inactive"), str),  # not in an active-only response (issue 19)
    (lambda s: rec(s, status="ACTIVE"), str),
    (lambda s: rec(s + " X"), lambda s: s + " X"),  # invalid symbol, still readable
    (lambda s: rec("__" + s), lambda s: "__" + s),  # reserved prefix, still readable
    (lambda s: rec(s * 40), lambda s: None),  # too long to identify anything
    (lambda s: 42, lambda s: None),
]
invalid_records = st.builds(
    lambda kind, symbol: Invalid(INVALID_KINDS[kind][0](symbol), INVALID_KINDS[kind][1](symbol)),
    st.integers(0, len(INVALID_KINDS) - 1),
    st.sampled_from(SYMBOLS),
)


def body_of(entries: list[Any]) -> list[Any]:
    """The catalog body: valid records as they are, invalid ones unwrapped."""
    return [e.record if isinstance(e, Invalid) else e for e in entries]


def expected_protection(entries: list[Any]) -> tuple[set[str], set[str]]:
    """(protected symbols, symbols of applied assets), from how the entries were built: an
    invalid record protects what it names; a symbol named twice (valid or not) is a conflict."""
    named = Counter(
        e.protects if isinstance(e, Invalid) else e["symbol"]
        for e in entries
        if not isinstance(e, Invalid) or e.protects is not None
    )
    twice = {symbol for symbol, count in named.items() if count > 1}
    invalid = {e.protects for e in entries if isinstance(e, Invalid) and e.protects is not None}
    valid = {e["symbol"] for e in entries if not isinstance(e, Invalid)}
    return invalid | twice, valid - twice


@st.composite
def starting_tables(draw: st.DrawFn) -> MemoryStore:
    """A table made by an earlier sync, then touched by others: foreign attributes, a newer
    sync's items, bumped versions, delisted items."""
    store = MemoryStore()
    apply(store, catalog_of(draw(st.lists(valid_records, max_size=14))), T0, ())
    for symbol in sorted(store.items):
        item = store.items[symbol]
        if draw(st.booleans()):
            item["last_pollenation_date"] = f"2026-11-{len(symbol):02d}"
        touch = draw(st.sampled_from(["none", "none", "newer-sync", "bump", "inactive"]))
        if touch == "newer-sync":
            item["sync_run_seq"] = Decimal(T_FUTURE)
        elif touch == "bump":
            item["sync_version"] = Decimal(int(item["sync_version"]) + 3)  # type: ignore[arg-type]
        elif touch == "inactive":
            item["status"] = INACTIVE
    return store


scopes = st.sampled_from([(), ("us_equity",), ("crypto",), ("us_equity", "us_option")])


@settings(max_examples=examples(200), deadline=None)
@given(
    table=starting_tables(),
    valid=st.lists(valid_records, max_size=14),
    invalid=st.lists(invalid_records, min_size=1, max_size=6),
    scope=scopes,
    data=st.data(),
)
def test_invalid_records_never_change_the_table(
    table: MemoryStore,
    valid: list[dict[str, Any]],
    invalid: list[Invalid],
    scope: tuple[str, ...],
    data: st.DataObject,
) -> None:
    mixed: list[Any] = list(valid)
    for entry in invalid:  # invalid records anywhere in the body
        mixed.insert(data.draw(st.integers(0, len(mixed))), entry)
    with_invalid, without = catalog_of(body_of(mixed)), catalog_of(valid)
    assert len(with_invalid.invalid) == len(invalid)
    protected, applied = expected_protection(mixed)
    assert with_invalid.protected_symbols == protected
    assert set(with_invalid.assets) == applied
    before = copy.deepcopy(table.items)
    store_mixed, store_valid = copy.deepcopy(table), copy.deepcopy(table)

    apply(store_mixed, with_invalid, T1, scope)
    apply(store_valid, without, T1, scope)

    for symbol in set(before) | set(store_mixed.items) | set(store_valid.items):
        if symbol in protected:
            assert store_mixed.items.get(symbol) == before.get(symbol), symbol
        else:
            assert store_mixed.items.get(symbol) == store_valid.items.get(symbol), symbol


@settings(max_examples=examples(200), deadline=None)
@given(
    table=starting_tables(),
    records=st.lists(st.one_of(valid_records, valid_records, invalid_records), max_size=14),
    scope=scopes,
    fraction=st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0]),
    force=st.booleans(),
)
def test_the_guard_refuses_exactly_when_it_should_with_class_scope(
    table: MemoryStore,
    records: list[Any],
    scope: tuple[str, ...],
    fraction: float,
    force: bool,
) -> None:
    catalog = catalog_of(body_of(records))
    protected, applied = expected_protection(records)
    states = table.states()
    plan = build_plan(catalog, states, T1, scope)

    def scoped(item: dict[str, Any]) -> bool:
        return not scope or item.get("asset_class") in scope

    active = {s: i for s, i in table.items.items() if i.get("status") == ACTIVE and scoped(i)}
    delisted = [  # planned from the cheap read: a newer run's item is found out when written
        s for s, item in active.items() if s not in applied and s not in protected
    ]
    assert sorted(i.symbol for i in plan.delists) == sorted(delisted)
    assert plan.active_in_scope == len(active)
    expected = force or (
        bool(applied) and (not delisted or len(delisted) <= fraction * len(active))
    )
    assert check_guard(catalog, plan, fraction, force).allowed == expected


@settings(max_examples=examples(200), deadline=None)
@given(
    table=starting_tables(),
    records=st.lists(st.one_of(valid_records, valid_records, invalid_records), max_size=14),
    scope=scopes,
)
def test_applying_then_planning_again_is_empty_and_touches_only_what_it_owns(
    table: MemoryStore, records: list[Any], scope: tuple[str, ...]
) -> None:
    catalog = catalog_of(body_of(records))
    _protected, applied = expected_protection(records)
    statuses = {r["symbol"]: r["status"] for r in records if not isinstance(r, Invalid)}
    before = copy.deepcopy(table.items)

    apply(table, catalog, T1, scope)

    # planning again (from the cheap read, which cannot see run numbers) only names items a
    # higher-numbered run wrote, and applying it changes nothing
    again = build_plan(catalog, table.states(), T1, scope)
    assert all(table.items[i.symbol].get("sync_run_seq") == T_FUTURE for i in again.writes)
    after = copy.deepcopy(table.items)
    apply(table, catalog, T1, scope)
    assert table.items == after
    for symbol, old in before.items():
        new = table.items[symbol]
        foreign = {k: v for k, v in old.items() if k not in OWNED_ATTRIBUTES}
        assert {k: v for k, v in new.items() if k not in OWNED_ATTRIBUTES} == foreign, symbol
        if old.get("sync_run_seq") == T_FUTURE:
            assert new == old, f"{symbol}: a newer sync's item was overwritten"
        if symbol not in applied and not in_scope(state_from_item(symbol, old), scope):
            assert new == old, f"{symbol}: outside the scope but changed"
    for symbol, item in table.items.items():
        if item.get("sync_run_seq") == T1:  # written by this run
            content = {n: item[n] for n in CONTENT_ATTRIBUTES if n in item}
            assert item["sync_hash"] == content_hash(content), symbol
            if symbol in applied:
                assert item["status"] == (ACTIVE if statuses[symbol] == ACTIVE else INACTIVE)
            else:
                assert item["status"] == INACTIVE

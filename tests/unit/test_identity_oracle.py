"""The identity oracle alone (tests/support/identity_oracle.py), on hand-computed histories.

Each case of docs/identity.md's table, and the rules around it, written out item by item from the
contract, so that the oracle the history tests trust is itself checked. No harness, no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from tests.support.examples import examples
from tests.support.identity_days import change_kinds, histories, seeded_history
from tests.support.identity_oracle import (
    DELISTED,
    LISTED,
    REACTIVATED,
    RENAMED,
    UPDATED,
    Day,
    Event,
    ForeignWrite,
    IdentityOracle,
    Item,
    Listing,
    OracleError,
    events_view,
    table_view,
)
from tests.support.identity_rules import history_problems

from asset_sync.logic.models import ACTIVE, INACTIVE


def day(tickers: dict[str, str], *writes: ForeignWrite, names: dict[str, str] | None = None) -> Day:
    """A day: asset id -> ticker (names default to "<id> Inc"), after these foreign writes."""
    catalog = {a: Listing(t, (names or {}).get(a, f"{a} Inc")) for a, t in tickers.items()}
    return Day(catalog, writes)


def put(symbol: str, name: str, value: str, asset_id: str) -> ForeignWrite:
    return ForeignWrite(symbol, name, value, asset_id)


def item(
    asset_id: str,
    action: str,
    status: str = ACTIVE,
    prev: str | None = None,
    to: str | None = None,
    replaces: str | None = None,
    name: str | None = None,
    **foreign: str,
) -> Item:
    return Item(asset_id, status, name or f"{asset_id} Inc", prev, to, replaces, action, foreign)


def history(
    *days: Day, items: Mapping[str, Item] | None = None
) -> tuple[dict[str, Item], list[list[Event]]]:
    """The table after the last day, and every day's events."""
    oracle = IdentityOracle(items)
    every = [oracle.day(one_day) for one_day in days]
    return oracle.items, every


# -- ordinary writes ---------------------------------------------------------------------------


def test_a_new_asset_is_listed_and_an_unchanged_run_writes_nothing() -> None:
    table, events = history(day({"a": "AAA"}), day({"a": "AAA"}, put("AAA", "sector", "x", "a")))
    assert table == {"AAA": item("a", "list", sector="x")}
    assert events == [[Event(LISTED, "AAA", "a")], []]


def test_a_content_change_is_an_update_that_keeps_links_and_foreign_attributes() -> None:
    table, events = history(
        day({"a": "AAA"}),
        day({"a": "BBB"}, put("AAA", "sector", "x", "a")),
        day({"a": "BBB"}, names={"a": "New name"}),
    )
    assert table["BBB"] == item("a", "update", prev="AAA", name="New name", sector="x")
    assert events[2] == [Event(UPDATED, "BBB", "a")]


def test_a_delisting_and_a_reactivation_keep_the_item_its_links_and_attributes() -> None:
    table, events = history(
        day({"a": "AAA", "b": "BBB"}),
        day({"a": "CCC", "b": "BBB"}),
        day({"b": "BBB"}, put("CCC", "sector", "x", "a")),
    )
    assert table["CCC"] == item("a", "delist", INACTIVE, prev="AAA", sector="x")
    assert events[2] == [Event(DELISTED, "CCC", "a")]

    table, events = history(day({"a": "CCC", "b": "BBB"}), items=table)
    assert table["CCC"] == item("a", "reactivate", prev="AAA", sector="x")
    assert events == [[Event(REACTIVATED, "CCC", "a")]]


# -- the cases table of docs/identity.md -------------------------------------------------------


def test_a_rename_moves_the_attributes_and_leaves_a_history_copy() -> None:
    table, events = history(day({"a": "X"}), day({"a": "Y"}, put("X", "sector", "Tech", "a")))
    assert table == {
        "X": item("a", "depart", INACTIVE, to="Y", sector="Tech"),
        "Y": item("a", "rename", prev="X", sector="Tech"),
    }
    assert events[1] == [Event(RENAMED, "Y", "a", "X")]


def test_the_same_day_shift_fb_meta_metv_is_two_renames() -> None:
    table, events = history(
        day({"m": "FB", "e": "META"}),
        day(
            {"m": "META", "e": "METV"},
            put("FB", "sector", "Tech", "m"),
            put("META", "sector", "ETF", "e"),
            put("META", "issuer", "Roundhill", "e"),
        ),
    )
    assert table == {
        "FB": item("m", "depart", INACTIVE, to="META", sector="Tech"),
        "META": item("m", "rename", prev="FB", replaces="e", sector="Tech"),
        "METV": item("e", "rename", prev="META", sector="ETF", issuer="Roundhill"),
    }
    assert events[1] == [
        Event(RENAMED, "META", "m", "FB", replaces_asset_id="e"),
        Event(RENAMED, "METV", "e", "META"),
    ]


def test_a_swap_is_two_renames_with_the_attributes_swapped() -> None:
    table, events = history(
        day({"1": "A", "2": "B"}),
        day({"1": "B", "2": "A"}, put("A", "sector", "s1", "1"), put("B", "sector", "s2", "2")),
    )
    assert table == {
        "A": item("2", "rename", prev="B", replaces="1", sector="s2"),
        "B": item("1", "rename", prev="A", replaces="2", sector="s1"),
    }
    assert events[1] == [
        Event(RENAMED, "A", "2", "B", replaces_asset_id="1"),
        Event(RENAMED, "B", "1", "A", replaces_asset_id="2"),
    ]


def test_back_and_forth_three_times_keeps_true_links_and_one_home() -> None:
    table, events = history(
        day({"x": "AAA"}),
        day({"x": "BBB"}, put("AAA", "sector", "d2", "x")),
        day({"x": "AAA"}, put("BBB", "sector", "d3", "x")),
        day({"x": "BBB"}, put("AAA", "rating", "d4", "x")),
    )
    assert table == {
        "AAA": item("x", "depart", INACTIVE, to="BBB", sector="d3", rating="d4"),
        "BBB": item("x", "rename", prev="AAA", sector="d3", rating="d4"),
    }
    assert events[1:] == [
        [Event(RENAMED, "BBB", "x", "AAA")],
        [Event(RENAMED, "AAA", "x", "BBB")],
        [Event(RENAMED, "BBB", "x", "AAA")],
    ]


def test_a_reused_ticker_is_a_listing_and_the_old_asset_moves_to_its_archive() -> None:
    table, events = history(
        day({"z1": "Z", "k": "K"}),
        day({"k": "K"}, put("Z", "sector", "old", "z1")),
        day({"z2": "Z", "k": "K"}),
    )
    assert table["Z"] == item("z2", "list", replaces="z1")
    assert table["__asset/z1"] == item("z1", "archive", INACTIVE, prev="Z", sector="old")
    assert events[2] == [Event(LISTED, "Z", "z2", replaces_asset_id="z1")]


def test_a_ticker_reused_the_same_day_delists_the_old_asset_into_its_archive() -> None:
    table, events = history(day({"z1": "Z"}), day({"z2": "Z"}, put("Z", "sector", "old", "z1")))
    assert table == {
        "Z": item("z2", "list", replaces="z1"),
        "__asset/z1": item("z1", "delist", INACTIVE, prev="Z", sector="old"),
    }
    assert events[1] == [
        Event(DELISTED, "Z", "z1", archived_as="__asset/z1"),
        Event(LISTED, "Z", "z2", replaces_asset_id="z1"),
    ]


def test_an_asset_relisted_under_a_new_ticker_is_a_rename() -> None:
    table, events = history(
        day({"1": "X", "k": "K"}),
        day({"k": "K"}, put("X", "sector", "s", "1")),
        day({"1": "Y", "k": "K"}),
    )
    assert table["X"] == item("1", "depart", INACTIVE, to="Y", sector="s")
    assert table["Y"] == item("1", "rename", prev="X", sector="s")
    assert events[1:] == [[Event(DELISTED, "X", "1")], [Event(RENAMED, "Y", "1", "X")]]


def test_a_half_applied_rename_is_completed_as_a_rename() -> None:
    left = {
        "X": item("1", "delist", INACTIVE, to="Y", sector="s"),
        "K": item("k", "list"),
    }
    table, events = history(day({"1": "Y", "k": "K"}), items=left)
    assert table["X"] == item("1", "depart", INACTIVE, to="Y", sector="s")
    assert table["Y"] == item("1", "rename", prev="X", sector="s")
    assert events == [[Event(RENAMED, "Y", "1", "X")]]


def test_a_half_applied_rename_whose_asset_is_back_on_its_ticker_is_a_reactivation() -> None:
    left = {"X": item("1", "delist", INACTIVE, prev="W", to="Y", sector="s")}
    table, events = history(day({"1": "X"}), items=left)
    assert table == {"X": item("1", "reactivate", prev="W", sector="s")}
    assert events == [[Event(REACTIVATED, "X", "1")]]


# -- archives and old items ---------------------------------------------------------------------


def test_an_asset_back_on_the_ticker_it_left_comes_out_of_its_archive_as_a_reactivation() -> None:
    table, events = history(
        day({"z1": "Z"}),
        day({"z2": "Z"}, put("Z", "sector", "one", "z1")),
        day({"z1": "Z"}, put("Z", "sector", "two", "z2")),
    )
    assert table == {
        "Z": item("z1", "reactivate", replaces="z2", sector="one"),
        "__asset/z1": item("z1", "depart", INACTIVE, to="Z", sector="one"),
        "__asset/z2": item("z2", "delist", INACTIVE, prev="Z", sector="two"),
    }
    assert events[2] == [
        Event(DELISTED, "Z", "z2", archived_as="__asset/z2"),
        Event(REACTIVATED, "Z", "z1"),
    ]


def test_an_asset_out_of_its_archive_onto_a_new_ticker_names_the_ticker_it_left() -> None:
    table, events = history(
        day({"z1": "Z"}),
        day({"z2": "Z"}, put("Z", "sector", "one", "z1")),
        day({"z2": "Z", "z1": "Y"}, put("__asset/z1", "rating", "r", "z1")),
    )
    assert table["Y"] == item("z1", "rename", prev="Z", sector="one", rating="r")
    assert table["__asset/z1"] == item("z1", "depart", INACTIVE, to="Y", sector="one", rating="r")
    assert table["Z"] == item("z2", "list", replaces="z1")
    assert events[2] == [Event(RENAMED, "Y", "z1", "Z")]


def test_an_archive_item_is_the_home_again_when_its_asset_is_displaced_again() -> None:
    table, events = history(
        day({"z1": "Z"}),
        day({"z2": "Z"}, put("Z", "sector", "one", "z1")),
        day({"z1": "Y", "z2": "Z"}),
        day({"z3": "Y", "z2": "Z"}, put("Y", "sector", "two", "z1")),
    )
    assert table["__asset/z1"] == item("z1", "delist", INACTIVE, prev="Y", sector="two")
    assert table["Y"] == item("z3", "list", replaces="z1")
    assert events[3] == [
        Event(DELISTED, "Y", "z1", archived_as="__asset/z1"),
        Event(LISTED, "Y", "z3", replaces_asset_id="z1"),
    ]


def test_an_old_item_given_to_another_asset_loses_its_history_copy_only() -> None:
    table, events = history(
        day({"a": "X"}),
        day({"a": "Y"}, put("X", "sector", "s", "a")),
        day({"a": "Y", "b": "X"}),
    )
    assert table == {
        "X": item("b", "list", replaces="a"),
        "Y": item("a", "rename", prev="X", sector="s"),
    }
    assert events[2] == [Event(LISTED, "X", "b", replaces_asset_id="a")]


def test_an_asset_back_on_its_old_item_keeps_the_link_its_first_arrival_set() -> None:
    table, events = history(
        day({"b": "X"}),
        day({"a": "X", "b": "W"}),  # a takes X from b (a listing over b)
        day({"a": "Y", "b": "W"}),
        day({"a": "X", "b": "W"}),
    )
    assert table["X"] == item("a", "rename", prev="Y", replaces="b")
    assert events[3] == [Event(RENAMED, "X", "a", "Y")]


# -- what the oracle refuses, and the views of a harness's output -------------------------------


def test_the_oracle_refuses_what_the_contract_does_not_cover() -> None:
    with pytest.raises(OracleError, match="listed twice"):
        history(day({"a": "AAA", "b": "AAA"}))
    with pytest.raises(OracleError, match="does not exist"):
        history(day({"a": "AAA"}, put("BBB", "sector", "s", "a")))
    with pytest.raises(OracleError, match="several candidate homes"):
        history(day({"a": "X"}), items={"P": item("a", "list"), "Q": item("a", "list")})


def test_a_harness_table_and_its_events_are_read_as_the_oracle_models_them() -> None:
    stored = {
        "Y": {
            "symbol": "Y", "asset_id": "a", "status": "active", "name": "a Inc",
            "previous_symbol": "X", "sync_action": "rename", "sync_version": 3,
            "sync_hash": "h", "tradable": True, "sector": "Tech",
        }
    }  # fmt: skip
    assert table_view(stored) == {"Y": item("a", "rename", prev="X", sector="Tech")}
    published: list[tuple[str, dict[str, Any]]] = [
        ("Asset Renamed", {"symbol": "Y", "asset_id": "a", "previous_symbol": "X", "run_seq": 1}),
        ("Asset Listed", {"symbol": "Z", "asset_id": "z", "replaces_asset_id": "y"}),
        ("Asset Delisted", {"symbol": "Z", "asset_id": "y", "archived_as": "__asset/y"}),
        ("Asset Updated", {"symbol": "Q", "asset_id": "q", "previous_symbol": "ignored"}),
    ]
    assert events_view(published) == [
        Event(DELISTED, "Z", "y", archived_as="__asset/y"),
        Event(LISTED, "Z", "z", replaces_asset_id="y"),
        Event(RENAMED, "Y", "a", "X"),
        Event(UPDATED, "Q", "q"),
    ]


# -- the issue's statements, checked on the oracle over generated histories ----------------------


def test_the_rules_checker_finds_what_the_issue_forbids() -> None:
    days = [day({"m": "FB", "e": "META"}), day({"m": "META", "e": "METV"})]
    wrong = {
        "FB": item("m", "delist", INACTIVE),  # a false delisting: m has two homes
        "META": item("m", "update", sector="ETF"),  # the ETF's attribute on Meta's item
        "METV": item("e", "list"),
    }
    problems = history_problems(
        wrong, [days[0], Day(days[1].catalog, (put("META", "sector", "ETF", "e"),))]
    )
    assert any("m has not exactly one home" in p for p in problems)
    assert any("META (of m) has sector=ETF" in p for p in problems)
    assert any("METV, home of e" in p for p in problems)
    assert any("link" in p for p in history_problems({"X": item("x", "rename", prev="X")}, days))
    active_elsewhere = {"FB": item("m", "list"), "META": item("e", "list")}
    assert any("active for m" in p for p in history_problems(active_elsewhere, days))


def test_seeded_histories_satisfy_the_issue_day_after_day() -> None:
    for seed in range(examples(300)):
        days = seeded_history(seed)
        oracle = IdentityOracle()
        for number, one_day in enumerate(days, 1):
            oracle.day(one_day)
            assert history_problems(oracle.items, days[:number]) == [], (seed, number)


@settings(max_examples=examples(150), deadline=None)
@given(days=histories())
def test_generated_histories_satisfy_the_issue_day_after_day(days: list[Day]) -> None:
    oracle = IdentityOracle()
    for number, one_day in enumerate(days, 1):
        oracle.day(one_day)
        assert history_problems(oracle.items, days[:number]) == [], number


def test_histories_contain_every_kind_of_change_often() -> None:
    count = 400
    seen = Counter(kind for seed in range(count) for kind in change_kinds(seeded_history(seed)))
    kinds = {
        "listing", "delisting", "rename", "shift", "swap", "reuse the same day",
        "reuse after a delisting", "back and forth", "relist under a new ticker",
        "back out of the archive", "reactivation", "name change", "foreign",
    }  # fmt: skip
    assert set(seen) == kinds
    rare = {kind: seen[kind] / count for kind in kinds if seen[kind] / count < 0.08}
    assert rare == {}

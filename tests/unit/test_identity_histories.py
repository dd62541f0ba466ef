"""Issue 19: the sync against histories of ticker reassignments, day after day, with the oracle.

After every day of a history (other services' writes, then one sync run, every delisting
confirmed, the guard forced) the harness's table and the events of the run must be exactly what
tests/support/identity_oracle.py derives from docs/identity.md, and must satisfy the issue's
statements (tests/support/identity_rules.py): every listed asset id active under exactly its
ticker, consistent links, foreign attributes on the items of the asset they were written for.
The named tests also assert the issue's "Must show" directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from tests.support import minimal_record
from tests.support.examples import examples
from tests.support.identity_days import histories
from tests.support.identity_harness import IdentityHarness, NewIdentityHarness
from tests.support.identity_oracle import (
    DELISTED,
    LISTED,
    RENAMED,
    Catalog,
    Day,
    Event,
    ForeignWrite,
    IdentityOracle,
    Item,
    Listing,
    events_view,
    table_view,
)
from tests.support.identity_rules import history_problems

from asset_sync.logic.models import ACTIVE, INACTIVE


@dataclass(frozen=True)
class Seen:
    """What the harness showed after one day."""

    table: dict[str, Item]
    events: list[Event]


def records_of(catalog: Catalog) -> list[dict[str, Any]]:
    return [
        minimal_record(listing.ticker, id=asset_id, name=listing.name)
        for asset_id, listing in sorted(catalog.items())
    ]


def differences(actual: Mapping[str, Item], expected: Mapping[str, Item]) -> list[str]:
    """One line per field that differs: `symbol.field: table ... != oracle ...`."""
    lines = []
    for symbol in sorted(set(actual) | set(expected)):
        mine, wanted = actual.get(symbol), expected.get(symbol)
        if mine is None or wanted is None:
            lines.append(f"{symbol}: table {mine} != oracle {wanted}")
            continue
        for name in Item.__dataclass_fields__:
            if getattr(mine, name) != getattr(wanted, name):
                lines.append(
                    f"{symbol}.{name}: table {getattr(mine, name)!r}"
                    f" != oracle {getattr(wanted, name)!r}"
                )
    return lines


def replay(harness: IdentityHarness, days: Sequence[Day]) -> list[Seen]:
    """Runs the days on the harness, checking the table and the events after each one."""
    oracle = IdentityOracle()
    seen = []
    for number, day in enumerate(days, 1):
        for write in day.foreign:
            harness.put_foreign(write.symbol, write.name, write.value)
        events = events_view(harness.sync(records_of(day.catalog)))
        table = table_view(harness.table())
        expected_events = oracle.day(day)
        problems = history_problems(table, days[:number])
        assert not problems, f"day {number}:\n" + "\n".join(problems)
        wrong = differences(table, oracle.items)
        assert not wrong, f"day {number}, the table:\n" + "\n".join(wrong)
        assert events == expected_events, f"day {number}: the events"
        seen.append(Seen(table, events))
    return seen


def listed(tickers: Mapping[str, str], name_suffix: str = " Inc") -> dict[str, Listing]:
    return {asset_id: Listing(t, f"{asset_id}{name_suffix}") for asset_id, t in tickers.items()}


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # a factory: one table each
)
@given(days=histories())
def test_any_history_of_reassignments_matches_the_oracle_every_day(
    identity_harness: NewIdentityHarness, days: list[Day]
) -> None:
    replay(identity_harness(), days)


META_ID, ETF_ID = "fc6a5dcd-meta", "3c2a9f8e-etf"
META_NAME, ETF_NAME = "Meta Platforms, Inc. Class A Common Stock", "Roundhill Ball Metaverse ETF"


def test_fb_meta_metv_is_two_renames_and_the_etf_keeps_its_sector(
    identity_harness: NewIdentityHarness,
) -> None:
    days = [
        Day({META_ID: Listing("FB", META_NAME), ETF_ID: Listing("META", ETF_NAME)}),
        Day(
            {META_ID: Listing("META", META_NAME), ETF_ID: Listing("METV", ETF_NAME)},
            (
                ForeignWrite("FB", "sector", "Tech", META_ID),
                ForeignWrite("FB", "index", "NASDAQ-100", META_ID),
                ForeignWrite("META", "sector", "ETF", ETF_ID),
                ForeignWrite("META", "issuer", "Roundhill", ETF_ID),
            ),
        ),
    ]
    shift = replay(identity_harness(), days)[1]

    assert [(e.detail_type, e.symbol, e.previous_symbol) for e in shift.events] == [
        (RENAMED, "META", "FB"),
        (RENAMED, "METV", "META"),
    ]  # two renames: no delisting of FB, no Asset Listed for METV
    assert shift.table["METV"].asset_id == ETF_ID
    assert shift.table["METV"].foreign == {"sector": "ETF", "issuer": "Roundhill"}
    assert shift.table["META"].asset_id == META_ID
    assert shift.table["META"].foreign == {"sector": "Tech", "index": "NASDAQ-100"}
    assert shift.table["META"].replaces_asset_id == ETF_ID
    assert (shift.table["FB"].status, shift.table["FB"].renamed_to) == (INACTIVE, "META")


def test_a_reused_ticker_is_a_new_listing_without_the_old_assets_attributes(
    identity_harness: NewIdentityHarness,
) -> None:
    days = [
        Day(listed({"z1": "Z", "k": "K"})),
        Day(listed({"k": "K"}), (ForeignWrite("Z", "sector", "Real estate", "z1"),)),
        Day(listed({"z2": "Z", "k": "K"})),
    ]
    reused = replay(identity_harness(), days)[2]

    assert reused.events == [Event(LISTED, "Z", "z2", replaces_asset_id="z1")]
    assert (reused.table["Z"].asset_id, reused.table["Z"].foreign) == ("z2", {})
    assert reused.table["__asset/z1"].foreign == {"sector": "Real estate"}


def test_a_ticker_reused_the_same_day_delists_the_old_asset_and_lists_the_new(
    identity_harness: NewIdentityHarness,
) -> None:
    days = [
        Day(listed({"z1": "Z"})),
        Day(listed({"z2": "Z"}), (ForeignWrite("Z", "sector", "Real estate", "z1"),)),
    ]
    reused = replay(identity_harness(), days)[1]

    assert [(e.detail_type, e.asset_id) for e in reused.events] == [
        (DELISTED, "z1"),
        (LISTED, "z2"),
    ]
    assert reused.table["Z"].foreign == {}
    assert reused.table["__asset/z1"].foreign == {"sector": "Real estate"}


def test_aaa_bbb_back_and_forth_three_times_is_three_renames_with_true_links(
    identity_harness: NewIdentityHarness,
) -> None:
    tickers = ["AAA", "BBB", "AAA", "BBB"]
    days = [
        Day(
            listed({"x": ticker}),
            (ForeignWrite(tickers[n - 1], f"note{n}", f"x@{n}", "x"),) if n else (),
        )
        for n, ticker in enumerate(tickers)
    ]
    seen = replay(identity_harness(), days)

    renames = [(e.detail_type, e.symbol, e.previous_symbol) for s in seen[1:] for e in s.events]
    assert renames == [(RENAMED, "BBB", "AAA"), (RENAMED, "AAA", "BBB"), (RENAMED, "BBB", "AAA")]
    last = seen[-1].table
    assert (last["BBB"].status, last["BBB"].previous_symbol, last["BBB"].renamed_to) == (
        ACTIVE,
        "AAA",
        None,
    )
    assert (last["AAA"].status, last["AAA"].previous_symbol, last["AAA"].renamed_to) == (
        INACTIVE,
        None,
        "BBB",
    )
    assert last["BBB"].foreign == {"note1": "x@1", "note2": "x@2", "note3": "x@3"}


def test_a_swap_is_two_renames_and_swaps_the_attributes(
    identity_harness: NewIdentityHarness,
) -> None:
    days = [
        Day(listed({"one": "A", "two": "B"})),
        Day(
            listed({"one": "B", "two": "A"}),
            (
                ForeignWrite("A", "sector", "one's", "one"),
                ForeignWrite("B", "sector", "two's", "two"),
            ),
        ),
    ]
    swap = replay(identity_harness(), days)[1]

    assert [(e.detail_type, e.symbol, e.asset_id) for e in swap.events] == [
        (RENAMED, "A", "two"),
        (RENAMED, "B", "one"),
    ]
    assert (swap.table["A"].foreign, swap.table["B"].foreign) == (
        {"sector": "two's"},
        {"sector": "one's"},
    )


def test_an_asset_relisted_under_a_new_ticker_is_renamed(
    identity_harness: NewIdentityHarness,
) -> None:
    days = [
        Day(listed({"r": "X", "k": "K"})),
        Day(listed({"k": "K"}), (ForeignWrite("X", "sector", "Energy", "r"),)),
        Day(listed({"r": "Y", "k": "K"})),
    ]
    seen = replay(identity_harness(), days)

    assert seen[1].events == [Event(DELISTED, "X", "r")]
    assert seen[2].events == [Event(RENAMED, "Y", "r", "X")]
    assert seen[2].table["Y"].foreign == {"sector": "Energy"}
    assert seen[2].table["X"].renamed_to == "Y"


def test_an_asset_back_on_the_ticker_it_lost_comes_out_of_its_archive(
    identity_harness: NewIdentityHarness,
) -> None:
    days = [
        Day(listed({"z1": "Z"})),
        Day(listed({"z2": "Z"}), (ForeignWrite("Z", "sector", "first", "z1"),)),
        Day(listed({"z1": "Z"}), (ForeignWrite("Z", "sector", "second", "z2"),)),
    ]
    back = replay(identity_harness(), days)[2]

    assert back.table["Z"].asset_id == "z1"
    assert back.table["Z"].foreign == {"sector": "first"}
    assert back.table["__asset/z2"].foreign == {"sector": "second"}

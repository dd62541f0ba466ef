"""Histories of catalogs for issue 19's tests: every kind of identity change, often.

A history is 3 to 6 days over a handful of tickers and asset ids. Each day applies two or three
changes to the day before's catalog (listing, delisting, rename, rename back, same-day shift,
swap, reuse of a ticker on the same day, relisting under any free ticker, return onto the
ticker it left although another asset holds it now, name change), and before its sync other
services write attributes on the homes of assets (their values name the asset and the day).

The same generator runs on Hypothesis's draws (`histories()`) and on a seeded random source
(`seeded_history`), so that a test can measure how often each kind of change occurs.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from hypothesis import strategies as st
from tests.support.identity_oracle import Day, ForeignWrite, Listing, archive_key

TICKERS = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF")
ASSET_IDS = tuple(f"id-{n}" for n in range(1, 10))
ATTRIBUTES = ("sector", "rating")

T = TypeVar("T")


class Chooser(Protocol):
    """Where the generator's choices come from."""

    def pick(self, options: Sequence[T]) -> T:
        """One of `options` (never empty)."""
        ...

    def number(self, low: int, high: int) -> int:
        """A whole number from `low` to `high`, both included."""
        ...


class _Drawing:
    def __init__(self, draw: st.DrawFn) -> None:
        self._draw = draw

    def pick(self, options: Sequence[T]) -> T:
        return self._draw(st.sampled_from(options))

    def number(self, low: int, high: int) -> int:
        return self._draw(st.integers(low, high))


class _Seeded:
    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def pick(self, options: Sequence[T]) -> T:
        return self._random.choice(options)

    def number(self, low: int, high: int) -> int:
        return self._random.randint(low, high)


@st.composite
def histories(draw: st.DrawFn) -> list[Day]:
    """A Hypothesis strategy of histories."""
    return generate(_Drawing(draw))


def seeded_history(seed: int) -> list[Day]:
    """One history from a seeded random source."""
    return generate(_Seeded(seed))


@dataclass
class _Catalog:
    """The catalog being built, and what the generator remembers of the past."""

    tickers: dict[str, str] = field(default_factory=dict)  # asset id -> ticker
    names: dict[str, str] = field(default_factory=dict)
    past: dict[str, list[str]] = field(default_factory=dict)  # asset id -> its tickers, in order
    fresh: list[str] = field(default_factory=lambda: list(ASSET_IDS))

    def free(self) -> list[str]:
        taken = set(self.tickers.values())
        return [ticker for ticker in TICKERS if ticker not in taken]

    def listed(self) -> list[str]:
        return sorted(self.tickers)

    def unlisted(self) -> list[str]:
        return sorted(set(self.past) - set(self.tickers))

    def holder(self, ticker: str) -> str | None:
        return next((a for a, t in self.tickers.items() if t == ticker), None)

    def put(self, asset_id: str, ticker: str) -> None:
        self.tickers[asset_id] = ticker
        self.names.setdefault(asset_id, f"{asset_id} Inc")

    def new_id(self) -> str:
        return self.fresh.pop(0)


Change = Callable[[_Catalog, Chooser], None]


def _list(catalog: _Catalog, choose: Chooser) -> None:
    if catalog.fresh and catalog.free():
        catalog.put(catalog.new_id(), choose.pick(catalog.free()))


def _delist(catalog: _Catalog, choose: Chooser) -> None:
    if len(catalog.tickers) > 1:  # an empty catalog is refused, not a history
        del catalog.tickers[choose.pick(catalog.listed())]


def _rename(catalog: _Catalog, choose: Chooser) -> None:
    if catalog.tickers and catalog.free():
        catalog.put(choose.pick(catalog.listed()), choose.pick(catalog.free()))


def _rename_back(catalog: _Catalog, choose: Chooser) -> None:
    """An asset goes back to a ticker it had (AAA -> BBB -> AAA)."""
    free = set(catalog.free())
    movers = [a for a in catalog.listed() if free & set(catalog.past.get(a, []))]
    if movers:
        asset_id = choose.pick(movers)
        catalog.put(asset_id, choose.pick(sorted(free & set(catalog.past[asset_id]))))


def _shift(catalog: _Catalog, choose: Chooser) -> None:
    """A takes B's ticker while B moves on to another (FB -> META, META -> METV)."""
    if len(catalog.tickers) < 2 or not catalog.free():
        return
    taker = choose.pick(catalog.listed())
    giver = choose.pick([a for a in catalog.listed() if a != taker])
    taken = catalog.tickers[giver]
    catalog.put(giver, choose.pick(catalog.free()))
    catalog.put(taker, taken)


def _swap(catalog: _Catalog, choose: Chooser) -> None:
    if len(catalog.tickers) >= 2:
        first = choose.pick(catalog.listed())
        second = choose.pick([a for a in catalog.listed() if a != first])
        catalog.tickers[first], catalog.tickers[second] = (
            catalog.tickers[second],
            catalog.tickers[first],
        )


def _reuse_same_day(catalog: _Catalog, choose: Chooser) -> None:
    """A listed asset leaves and a new one takes its ticker in the same run."""
    if catalog.fresh and catalog.tickers:
        leaving = choose.pick(catalog.listed())
        catalog.put(catalog.new_id(), catalog.tickers.pop(leaving))


def _relist(catalog: _Catalog, choose: Chooser) -> None:
    """An asset that left comes back under any free ticker (its old one, or another)."""
    if catalog.unlisted() and catalog.free():
        catalog.put(choose.pick(catalog.unlisted()), choose.pick(catalog.free()))


def _return(catalog: _Catalog, choose: Chooser) -> None:
    """An asset that left comes back onto its last ticker, preferably one another asset holds
    now: that one leaves or moves (the returning asset comes out of its archive)."""
    displaced = [a for a in catalog.unlisted() if catalog.holder(catalog.past[a][-1])]
    if not catalog.unlisted():
        return
    asset_id = choose.pick(displaced or catalog.unlisted())
    ticker = catalog.past[asset_id][-1]
    holder = catalog.holder(ticker)
    if holder is not None:
        moves = [*catalog.free(), "leaves"]
        move = choose.pick(moves)
        if move == "leaves":
            del catalog.tickers[holder]
        else:
            catalog.put(holder, move)
    catalog.put(asset_id, ticker)


def _rename_company(catalog: _Catalog, choose: Chooser) -> None:
    if catalog.tickers:
        asset_id = choose.pick(catalog.listed())
        catalog.names[asset_id] = f"{catalog.names[asset_id]}+"


CHANGES: tuple[Change, ...] = (
    _list,
    _delist,
    _rename,
    _rename_back,
    _shift,
    _swap,
    _reuse_same_day,
    _relist,
    _return,
    _rename_company,
    # Twice as likely: the identity changes of issue 19, and leaving (assets must leave before
    # they can come back).
    _shift,
    _swap,
    _delist,
    _relist,
    _return,
)


def generate(choose: Chooser) -> list[Day]:
    """One history: the first day lists three or four assets, each later day changes it."""
    catalog = _Catalog()
    for _ in range(choose.number(3, 4)):
        _list(catalog, choose)
    days = [_day(catalog, ())]
    for number in range(2, choose.number(3, 6) + 1):
        writes = _foreign_writes(catalog, days, number, choose)
        for _ in range(choose.number(2, 3)):
            choose.pick(CHANGES)(catalog, choose)
        days.append(_day(catalog, writes))
    return days


def _day(catalog: _Catalog, writes: tuple[ForeignWrite, ...]) -> Day:
    for asset_id, ticker in catalog.tickers.items():
        past = catalog.past.setdefault(asset_id, [])
        if not past or past[-1] != ticker:
            past.append(ticker)
    listings = {a: Listing(t, catalog.names[a]) for a, t in sorted(catalog.tickers.items())}
    return Day(listings, writes)


def _foreign_writes(
    catalog: _Catalog, days: Sequence[Day], number: int, choose: Chooser
) -> tuple[ForeignWrite, ...]:
    """One to three attributes, each on the home of an asset as the days so far left it."""
    homes = _homes(days)
    targets = sorted(homes, key=lambda a: (a not in catalog.tickers, a))
    listed = [a for a in targets if a in catalog.tickers]
    writes = []
    for _ in range(choose.number(1, 3)):
        # Mostly listed assets; sometimes a delisted or archived one.
        asset_id = choose.pick(listed * 3 + targets)
        name = choose.pick(ATTRIBUTES)
        writes.append(ForeignWrite(homes[asset_id], name, f"{asset_id}@d{number}", asset_id))
    return tuple(writes)


def _homes(days: Sequence[Day]) -> dict[str, str]:
    """Each asset's home after `days`, from the catalogs alone: its ticker while listed; after
    it left, its last ticker until another asset is listed there, then its archive item."""
    last: dict[str, str] = {}
    homes: dict[str, str] = {}
    for day in days:
        holders = {listing.ticker: a for a, listing in day.catalog.items()}
        for asset_id, ticker in last.items():
            if asset_id not in day.catalog and holders.get(ticker, asset_id) != asset_id:
                homes[asset_id] = archive_key(asset_id)
        for asset_id, listing in day.catalog.items():
            last[asset_id] = listing.ticker
            homes[asset_id] = listing.ticker
    return homes


def change_kinds(days: Sequence[Day]) -> set[str]:
    """The kinds of change a history contains, read from its catalogs (for coverage checks)."""
    kinds: set[str] = set()
    for index in range(1, len(days)):
        kinds |= _kinds_of_day(days[:index], days[index])
    return kinds


def _kinds_of_day(earlier: Sequence[Day], day: Day) -> set[str]:
    before = {a: listing.ticker for a, listing in earlier[-1].catalog.items()}
    now = {a: listing.ticker for a, listing in day.catalog.items()}
    past: dict[str, list[str]] = {}
    held_by: dict[str, list[str]] = {}  # ticker -> its holders, in order
    for old_day in earlier:
        for asset_id, listing in old_day.catalog.items():
            past.setdefault(asset_id, []).append(listing.ticker)
            held_by.setdefault(listing.ticker, []).append(asset_id)
    holder_before = {ticker: a for a, ticker in before.items()}
    kinds = {"foreign"} if day.foreign else set()
    for asset_id, ticker in now.items():
        old = before.get(asset_id)
        if asset_id not in past:
            kinds.add("listing")
        elif old is None:
            holders = held_by[past[asset_id][-1]]
            since_it_left = holders[len(holders) - holders[::-1].index(asset_id) :]
            if ticker != past[asset_id][-1]:
                kinds.add("relist under a new ticker")
            elif since_it_left or ticker in holder_before:
                kinds.add("back out of the archive")
            else:
                kinds.add("reactivation")
        elif old != ticker:
            giver = holder_before.get(ticker)
            if giver is None:
                kinds.add("rename")
            elif now.get(giver) == old:
                kinds.add("swap")
            elif giver in now:
                kinds.add("shift")
            if ticker in past[asset_id]:
                kinds.add("back and forth")
        elif day.catalog[asset_id].name != earlier[-1].catalog[asset_id].name:
            kinds.add("name change")
        holder = holder_before.get(ticker)
        if holder is not None and holder != asset_id and holder not in now:
            kinds.add("reuse the same day")
        elif holder is None and set(held_by.get(ticker, [])) - {asset_id}:
            kinds.add("reuse after a delisting")
    kinds |= {"delisting" for asset_id in before if asset_id not in now}
    return kinds

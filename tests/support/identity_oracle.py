"""An independent model of docs/identity.md, for issue 19's history tests (pure: no I/O).

Written from the contract ("The rule", the cases table, "Writes", "Links, exactly", "Foreign
attributes, exactly") and from issue 19, never from the planner. It is asset-centric: a run finds
every listed asset's *home* in the table as it was before the run, then gives each catalog ticker
to its asset, lets the homes left behind depart, archives the assets whose home another asset
took, and delists the rest. Every delisting is confirmed and the guard is off (force).

Only what the contract defines is modelled: the holder (`asset_id`), `status`, `name`, the links,
`sync_action` of the item's last write, and the foreign attributes; the events as their
detail-type and key fields. Choices where the contract is silent are marked `CHOICE:`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, cast

from asset_sync.logic.models import ACTIVE, ARCHIVE_PREFIX, INACTIVE, OWNED_ATTRIBUTES

LISTED = "Asset Listed"
UPDATED = "Asset Updated"
DELISTED = "Asset Delisted"
REACTIVATED = "Asset Reactivated"
RENAMED = "Asset Renamed"


class OracleError(AssertionError):
    """A table or catalog the contract does not cover (a bug of the test, not of the sync)."""


@dataclass(frozen=True)
class Listing:
    """One catalog record: where the asset is listed today, and its content."""

    ticker: str
    name: str


Catalog = Mapping[str, Listing]  # asset id -> listing


@dataclass(frozen=True)
class ForeignWrite:
    """Another service sets one attribute on an existing item, for the asset it holds."""

    symbol: str
    name: str
    value: str
    asset_id: str  # whom it is written for (test knowledge: the table only gets the value)


@dataclass(frozen=True)
class Day:
    """The other services' writes, then one sync run of this catalog."""

    catalog: Catalog
    foreign: tuple[ForeignWrite, ...] = ()


@dataclass(frozen=True)
class Item:
    """An item as far as the identity contract defines it."""

    asset_id: str
    status: str
    name: str
    previous_symbol: str | None = None
    renamed_to: str | None = None
    replaces_asset_id: str | None = None
    sync_action: str | None = None
    foreign: Mapping[str, str] = field(default_factory=dict)


class Event(NamedTuple):
    """A change event as far as the identity contract defines it."""

    detail_type: str
    symbol: str
    asset_id: str | None
    previous_symbol: str | None = None  # Asset Renamed only
    replaces_asset_id: str | None = None  # Asset Listed / Asset Renamed only
    archived_as: str | None = None  # Asset Delisted of an archive item only


def archive_key(asset_id: str) -> str:
    """The key of an asset's archive item."""
    return f"{ARCHIVE_PREFIX}{asset_id}"


def is_archive(symbol: str) -> bool:
    """Whether a key is an archive item's (catalog tickers may not start with `__`)."""
    return symbol.startswith(ARCHIVE_PREFIX)


def home_of(asset_id: str, ticker: str | None, items: Mapping[str, Item]) -> str | None:
    """The Rule, step 1: the item that represents the asset now, among those storing its id."""
    stored = sorted(symbol for symbol, item in items.items() if item.asset_id == asset_id)
    if not stored:
        return None
    active = [symbol for symbol in stored if items[symbol].status == ACTIVE]
    if active:
        return ticker if ticker in active else _only(active, asset_id)
    settled = [symbol for symbol in stored if items[symbol].renamed_to is None]
    if settled:
        return _only(settled, asset_id)
    unfinished = [
        symbol for symbol in stored if not _holds(items, items[symbol].renamed_to, asset_id)
    ]
    if not unfinished:
        raise OracleError(f"{asset_id}: every item storing it names another one: {stored}")
    return _only(unfinished, asset_id)


def _holds(items: Mapping[str, Item], symbol: str | None, asset_id: str) -> bool:
    item = items.get(symbol) if symbol is not None else None
    return item is not None and item.asset_id == asset_id


def _only(symbols: list[str], asset_id: str) -> str:
    if len(symbols) != 1:
        raise OracleError(f"{asset_id} has several candidate homes: {symbols}")
    return symbols[0]


class IdentityOracle:
    """The table, as the contract says it must be after each day."""

    def __init__(self, items: Mapping[str, Item] | None = None) -> None:
        self.items: dict[str, Item] = dict(items or {})

    def put_foreign(self, write: ForeignWrite) -> None:
        """Another service's UpdateItem SET of one attribute on an existing item."""
        item = self.items.get(write.symbol)
        if item is None:
            raise OracleError(f"foreign write on {write.symbol!r}, which does not exist")
        self.items[write.symbol] = replace(item, foreign={**item.foreign, write.name: write.value})

    def day(self, day: Day) -> list[Event]:
        """The day's foreign writes, then its sync run; the run's events."""
        for write in day.foreign:
            self.put_foreign(write)
        return self.sync(day.catalog)

    def sync(self, catalog: Catalog) -> list[Event]:
        """One sync run of `catalog`; the events its writes make, in a stable order."""
        run = _Run(self.items, catalog)
        self.items = run.after
        return sorted(run.events, key=event_order)


def event_order(event: Event) -> tuple[str, ...]:
    """A total order of events (None first), to compare lists of events as multisets."""
    return tuple("" if value is None else value for value in event)


class _Run:
    """One run: every write it makes, computed from the table as it was before the run."""

    def __init__(self, before: Mapping[str, Item], catalog: Catalog) -> None:
        _check_catalog(catalog)
        self.before = before
        self.after: dict[str, Item] = dict(before)
        self.events: list[Event] = []
        self.written: set[str] = set()
        holder_of = {listing.ticker: asset_id for asset_id, listing in catalog.items()}
        homes = {
            asset_id: home_of(asset_id, listing.ticker, before)
            for asset_id, listing in catalog.items()
        }
        for asset_id, listing in sorted(catalog.items()):
            self._place(asset_id, listing, homes[asset_id])
        for asset_id, listing in sorted(catalog.items()):
            home = homes[asset_id]
            # The Rule, step 3: the home left behind departs, unless another asset arrives on
            # it in this run (then it is that asset's).
            if home is not None and home != listing.ticker and home not in holder_of:
                self._depart(home, listing.ticker)
        for symbol, item in sorted(before.items()):
            if symbol in holder_of:
                displaced = item.asset_id != holder_of[symbol] and item.asset_id not in catalog
                # The Rule, step 5. CHOICE: only the displaced asset's *home* moves to its
                # archive ("J's new home"); an old item of J given to another asset just loses
                # its history copy (J's home keeps the attributes), and J gets no write.
                if displaced and home_of(item.asset_id, None, before) == symbol:
                    self._archive(symbol, item)
            elif item.status == ACTIVE and item.asset_id not in catalog:
                self._delist(symbol, item)  # step 6: confirmed (Alpaca says inactive)
        check_homes(self.after)

    def _write(self, symbol: str, item: Item, event: Event | None) -> None:
        if symbol in self.written:
            raise OracleError(f"{symbol} would be written twice in one run")
        self.written.add(symbol)
        self.after[symbol] = item
        if event is not None:
            self.events.append(event)

    def _place(self, asset_id: str, listing: Listing, home: str | None) -> None:
        """Give the listing's ticker to its asset: steps 2 to 5 of the Rule."""
        ticker = listing.ticker
        current = self.before.get(ticker)
        if home == ticker and current is not None:
            self._ordinary(ticker, current, listing)
            return
        holder_changed = current is not None and current.asset_id != asset_id
        replaces = None
        if current is not None:
            # Set when the item changes holder; else left as it is (the asset returns to an
            # old item of its own).
            replaces = current.asset_id if holder_changed else current.replaces_asset_id
        if home is None:
            action, previous, foreign = "list", None, {}
        else:
            came_from = self.before[home]
            foreign = dict(came_from.foreign)  # exactly those of the arriving asset's home
            if is_archive(home) and came_from.previous_symbol == ticker:
                # Out of its archive back onto the ticker it left: `reactivate`, no
                # previous_symbol ("Links, exactly"). CHOICE: the ticker is then held by another
                # asset (that is why it was archived), so this write also sets
                # replaces_asset_id and takes that asset's attributes away like any arrival.
                action, previous = "reactivate", None
            elif is_archive(home):
                action, previous = "rename", came_from.previous_symbol
            else:
                action, previous = "rename", home
        item = Item(asset_id, ACTIVE, listing.name, previous, None, replaces, action, foreign)
        self._write(ticker, item, _event_of(ticker, item, holder_changed))

    def _ordinary(self, ticker: str, current: Item, listing: Listing) -> None:
        """Step 2: an update, reactivation or nothing; foreign attributes and links stay."""
        if current.status == ACTIVE:
            if current.name != listing.name:
                item = replace(current, name=listing.name, sync_action="update")
                self._write(ticker, item, Event(UPDATED, ticker, current.asset_id))
            return
        # `renamed_to` is removed by every write that makes the item a home (an unfinished
        # rename whose asset is listed again on its old ticker).
        item = replace(
            current, status=ACTIVE, name=listing.name, renamed_to=None, sync_action="reactivate"
        )
        self._write(ticker, item, Event(REACTIVATED, ticker, current.asset_id))

    def _depart(self, home: str, destination: str) -> None:
        """The asset left `home` for `destination`; the old item keeps its history copy.

        CHOICE: an item already in the departed state (a rename an older version left
        half-applied) is written again, so its `sync_action` is `depart` like every old item's.
        """
        item = replace(
            self.before[home],
            status=INACTIVE,
            previous_symbol=None,
            renamed_to=destination,
            sync_action="depart",
        )
        self._write(home, item, None)

    def _archive(self, ticker: str, displaced: Item) -> None:
        """Step 5: a displaced asset that is not listed moves to its archive item."""
        key = archive_key(displaced.asset_id)
        prior = self.before.get(key)
        action = "delist" if displaced.status == ACTIVE else "archive"
        item = Item(
            displaced.asset_id,
            INACTIVE,
            displaced.name,  # its last owned values
            previous_symbol=ticker,
            renamed_to=None,
            replaces_asset_id=prior.replaces_asset_id if prior is not None else None,
            sync_action=action,
            foreign=dict(displaced.foreign),  # exactly those of the item it was displaced from
        )
        event = None
        if action == "delist":
            event = Event(DELISTED, ticker, displaced.asset_id, archived_as=key)
        self._write(key, item, event)

    def _delist(self, symbol: str, item: Item) -> None:
        """Step 6: a confirmed delisting; foreign attributes and links stay."""
        self._write(
            symbol,
            replace(item, status=INACTIVE, sync_action="delist"),
            Event(DELISTED, symbol, item.asset_id),
        )


def _event_of(ticker: str, item: Item, holder_changed: bool) -> Event:
    """The event of a listing or an arrival.

    CHOICE: `replaces_asset_id` is announced only by the write that changed the item's holder
    (what a subscriber needs: "this listing or rename displaced asset J"), not repeated by a
    later arrival of the same asset on an item that still carries the link; an `Asset
    Reactivated` (out of an archive) carries no `replaces_asset_id`, like docs/events.md's.
    """
    replaces = item.replaces_asset_id if holder_changed else None
    if item.sync_action == "list":
        return Event(LISTED, ticker, item.asset_id, replaces_asset_id=replaces)
    if item.sync_action == "reactivate":
        return Event(REACTIVATED, ticker, item.asset_id)
    return Event(RENAMED, ticker, item.asset_id, item.previous_symbol, replaces)


def _check_catalog(catalog: Catalog) -> None:
    tickers = [listing.ticker for listing in catalog.values()]
    if len(set(tickers)) != len(tickers):
        raise OracleError(f"a ticker listed twice: {sorted(tickers)} (a conflict, not modelled)")
    if any(ticker.startswith("__") for ticker in tickers):
        raise OracleError("catalog tickers may not start with '__'")


def check_homes(items: Mapping[str, Item]) -> None:
    """Every asset stored anywhere has exactly one home: an item storing it without a
    `renamed_to`; every active item is a home."""
    homes: dict[str, list[str]] = {}
    for symbol, item in items.items():
        homes.setdefault(item.asset_id, [])
        if item.renamed_to is None:
            homes[item.asset_id].append(symbol)
        elif item.status == ACTIVE:
            raise OracleError(f"{symbol} is active with renamed_to={item.renamed_to}")
    wrong = {asset_id: symbols for asset_id, symbols in homes.items() if len(symbols) != 1}
    if wrong:
        raise OracleError(f"assets without exactly one home: {wrong}")


def table_view(table: Mapping[str, Mapping[str, Any]]) -> dict[str, Item]:
    """A harness's table (symbol -> attribute -> plain value) as the oracle models it."""
    return {symbol: item_view(attributes) for symbol, attributes in table.items()}


def item_view(attributes: Mapping[str, Any]) -> Item:
    """One stored item as the oracle models it: every non-owned attribute is foreign."""
    return Item(
        # An absent holder, status or name shows as None in the comparison's diff.
        asset_id=cast(str, attributes.get("asset_id")),
        status=cast(str, attributes.get("status")),
        name=cast(str, attributes.get("name")),
        previous_symbol=attributes.get("previous_symbol"),
        renamed_to=attributes.get("renamed_to"),
        replaces_asset_id=attributes.get("replaces_asset_id"),
        sync_action=attributes.get("sync_action"),
        foreign={name: value for name, value in attributes.items() if name not in OWNED_ATTRIBUTES},
    )


def events_view(events: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Event]:
    """A harness's (detail-type, detail) events as the oracle models them, in the oracle's order.

    Each key field is read only from the detail-types docs/events.md gives it to (top level).
    """
    return sorted(
        (
            Event(
                detail_type,
                cast(str, detail.get("symbol")),
                detail.get("asset_id"),
                detail.get("previous_symbol") if detail_type == RENAMED else None,
                detail.get("replaces_asset_id") if detail_type in (LISTED, RENAMED) else None,
                detail.get("archived_as") if detail_type == DELISTED else None,
            )
            for detail_type, detail in events
        ),
        key=event_order,
    )

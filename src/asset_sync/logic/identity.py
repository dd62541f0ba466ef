"""An asset is its `asset_id`, not its ticker: one rule for every identity change (pure).

docs/identity.md is the contract. Every catalog record that is not unchanged gets a *home*: the
item that represents its asset now (the active item holding its id, else the one without
`renamed_to`, else the one an unfinished rename left; the CUSIP of a delisting candidate as the
fallback). A record whose home is another item is a rename; one with no home is a listing; a
record on an item that holds another asset is a reassignment, whose displaced asset moves to its
own new home (its catalog ticker, or its archive item). The writes of one identity change form a
group, applied as one transaction (logic.apply_groups).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from asset_sync.logic.item_writes import archive_key, holder
from asset_sync.logic.models import ACTIVE, StoredValue, ValidatedCatalog
from asset_sync.logic.planning import IdentityGroup, ItemPlan, Member, Plan, Role

Item = Mapping[str, StoredValue]
MAX_GROUP_ITEMS = 100  # DynamoDB's TransactWriteItems limit


@dataclass(frozen=True)
class Rename:
    """One ticker change of one asset."""

    old: str
    new: str
    asset_id: str

    def to_json(self) -> dict[str, str]:
        """The report form: `{"from", "to", "asset_id"}`."""
        return {"from": self.old, "to": self.new, "asset_id": self.asset_id}


@dataclass(frozen=True)
class Reassignment:
    """A ticker whose item passes from one asset to another."""

    symbol: str
    from_asset_id: str
    to_asset_id: str

    def to_json(self) -> dict[str, str]:
        """The report form."""
        return {"symbol": self.symbol, "from": self.from_asset_id, "to": self.to_asset_id}


def _text(value: StoredValue | None) -> str:
    return value if isinstance(value, str) else ""


def _number(value: StoredValue | None) -> Decimal:
    return value if isinstance(value, Decimal) and value.is_finite() else Decimal(0)


def _latest(symbols: Iterable[str], items: Mapping[str, Item]) -> str:
    """The most recently written of several items (run number, then version, then key)."""
    return max(
        symbols,
        key=lambda s: (
            _number(items[s].get("sync_run_seq")),
            _number(items[s].get("sync_version")),
            s,
        ),
    )


def _is_old_item(item: Item) -> bool:
    return bool(_text(item.get("renamed_to")))


def home_of(
    asset_id: str, symbol: str, holders: Iterable[str], items: Mapping[str, Item]
) -> str | None:
    """The item that represents `asset_id` now, for its catalog ticker `symbol` (rule 1)."""
    candidates = list(holders)
    if not candidates:
        return None
    active = [c for c in candidates if items[c].get("status") == ACTIVE]
    if symbol in active:
        return symbol
    if active:
        return _latest(active, items)
    homes = [c for c in candidates if not _is_old_item(items[c])]
    if symbol in homes:
        return symbol
    if homes:
        return _latest(homes, items)
    unfinished = [c for c in candidates if _text(items[c].get("renamed_to")) not in candidates]
    return _latest(unfinished or candidates, items)


def needs_lookup(asset_id: str, stored: Item | None) -> bool:
    """Whether finding `asset_id`'s home needs the asset-id index: the record's own item does
    not settle it (absent, another holder, or an old item of this asset)."""
    return stored is None or holder(stored) != asset_id or _is_old_item(stored)


@dataclass
class Resolution:
    """The plan with its identity changes, and what the report says about them."""

    plan: Plan
    renames: list[Rename]
    reassignments: list[Reassignment]


def resolve_identity(
    plan: Plan, catalog: ValidatedCatalog, items: Mapping[str, Item]
) -> Resolution:
    """Apply the identity rule to a per-symbol plan (docs/identity.md).

    `items`: the whole stored items of every symbol the rule may touch: the catalog symbols the
    plan writes, the delisting candidates, and the items the asset-id index names for the ids
    still unmatched. Single writes stay single; renames, shifts, swaps and reuses become groups.
    """
    incoming = {
        i.symbol: i for i in (*plan.creates, *plan.updates, *plan.reactivations, *plan.repairs)
    }
    holders: dict[str, list[str]] = {}
    for symbol, item in items.items():
        if (asset_id := holder(item)) is not None:
            holders.setdefault(asset_id, []).append(symbol)
    homes = {s: home_of(_id(i), s, holders.get(_id(i), ()), items) for s, i in incoming.items()}
    listed = {str(asset.content["asset_id"]): symbol for symbol, asset in catalog.assets.items()}
    _pair_by_cusip(homes, incoming, plan.delists, items, listed)

    members: dict[str, Member] = {}
    renames: list[Rename] = []
    reassignments: list[Reassignment] = []
    for symbol, home in sorted(homes.items()):
        asset = incoming[symbol].asset
        assert asset is not None
        stored_holder = holder(items.get(symbol))
        replaces = stored_holder if stored_holder not in (None, _id(incoming[symbol])) else None
        if home is not None and home != symbol:
            members[symbol] = Member(symbol, Role.ARRIVE, asset, source=home, replaces=replaces)
            renames.append(Rename(_came_from(home, items), symbol, _id(incoming[symbol])))
        elif home is None and replaces is not None:
            members[symbol] = Member(symbol, Role.LIST, asset, replaces=replaces)
        if replaces is not None:
            reassignments.append(Reassignment(symbol, replaces, _id(incoming[symbol])))
    for member in list(members.values()):
        if member.role == Role.ARRIVE and member.source not in members:
            assert member.source is not None
            members[member.source] = Member(member.source, Role.DEPART, source=member.symbol)
    for candidate in plan.delists:  # an active item of a listed id is an old item, not a delisting
        target = listed.get(holder(items.get(candidate.symbol)) or "")
        if target is not None and candidate.symbol not in members:
            members[candidate.symbol] = Member(candidate.symbol, Role.DEPART, source=target)
    for member in list(members.values()):
        displaced = member.replaces
        if displaced is None or displaced in listed or _is_old_item(items[member.symbol]):
            continue  # it moves to its own ticker, or this item only kept a history copy
        active = items[member.symbol].get("status") == ACTIVE
        key = archive_key(displaced)
        members[key] = Member(key, Role.ARCHIVE, source=member.symbol, delisting=active)

    groups, blocked = _groups(members, catalog.protected_symbols)
    written = {symbol for group in groups for symbol in group.symbols}
    new_plan = replace(
        plan,
        creates=[i for i in plan.creates if i.symbol not in members],
        updates=[i for i in plan.updates if i.symbol not in members],
        reactivations=[i for i in plan.reactivations if i.symbol not in members],
        repairs=[i for i in plan.repairs if i.symbol not in members],
        delists=[i for i in plan.delists if i.symbol not in members],
        groups=groups,
        blocked={**plan.blocked, **{s: r for s, r in blocked.items() if s in incoming}},
    )
    return Resolution(
        new_plan,
        [r for r in renames if r.new in written],
        [r for r in reassignments if r.symbol in written],
    )


def _id(item: ItemPlan) -> str:
    assert item.asset is not None
    return str(item.asset.content["asset_id"])


def _came_from(home: str, items: Mapping[str, Item]) -> str:
    """The ticker a rename names as the old one (an archive item names the ticker it left)."""
    if home.startswith(archive_key("")):
        return _text(items[home].get("previous_symbol")) or home
    return home


def _pair_by_cusip(
    homes: dict[str, str | None],
    incoming: Mapping[str, ItemPlan],
    candidates: Iterable[ItemPlan],
    items: Mapping[str, Item],
    listed: Mapping[str, str],
) -> None:
    """The documented fallback: a record without a home and the item of an asset that is listed
    nowhere, sharing its non-empty CUSIP, are one security under a new id: on the record's own
    ticker an update in place, else a delisting candidate nobody claimed (only those two may
    share the CUSIP) that is renamed."""
    for symbol, home in homes.items():
        own, asset = items.get(symbol), incoming[symbol].asset
        cusip = _text(asset.content.get("cusip")) if asset else ""
        same = home is None and own is not None and _text(own.get("cusip")) == cusip != ""
        if same and holder(own) is not None and holder(own) not in listed:
            homes[symbol] = symbol
    claimed = {home for home in homes.values() if home}
    free = _one_each(
        (_text(items.get(c.symbol, {}).get("cusip")), c.symbol)
        for c in candidates
        if c.symbol not in claimed
    )
    unmatched = _one_each(
        (_text(incoming[s].asset.content.get("cusip")) if incoming[s].asset else "", s)  # type: ignore[union-attr]
        for s, home in homes.items()
        if home is None
    )
    for cusip, symbol in unmatched.items():
        if cusip in free:
            homes[symbol] = free[cusip]


def _one_each(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Non-empty keys that occur exactly once, with their value."""
    seen: dict[str, str] = {}
    repeated: set[str] = set()
    for key, value in pairs:
        if key:
            if key in seen:
                repeated.add(key)
            seen[key] = value
    return {key: value for key, value in seen.items() if key not in repeated}


def _groups(
    members: Mapping[str, Member], protected: frozenset[str]
) -> tuple[list[IdentityGroup], dict[str, str]]:
    """Connected identity changes as groups; those that touch a protected symbol or exceed a
    transaction are left out (each catalog symbol in them with the reason)."""
    parent = {symbol: symbol for symbol in members}

    def root(symbol: str) -> str:
        while parent[symbol] != symbol:
            parent[symbol] = parent[parent[symbol]]
            symbol = parent[symbol]
        return symbol

    for member in members.values():
        if member.source in parent:
            parent[root(member.symbol)] = root(member.source)
    components: dict[str, list[Member]] = {}
    for symbol in sorted(members):
        components.setdefault(root(symbol), []).append(members[symbol])
    groups: list[IdentityGroup] = []
    blocked: dict[str, str] = {}
    for parts in components.values():
        touched = {m.symbol for m in parts} | {m.source for m in parts if m.source}
        reason = ""
        if touched & protected:
            names = ", ".join(sorted(touched & protected))
            reason = f"its identity change involves {names}, whose catalog record was left out"
        elif len(parts) > MAX_GROUP_ITEMS:
            reason = f"its identity change spans {len(parts)} items, more than one transaction"
        if reason:
            blocked |= dict.fromkeys((m.symbol for m in parts), reason)
        else:
            groups.append(IdentityGroup(tuple(_ordered(parts))))
    return groups, blocked


def _ordered(parts: list[Member]) -> list[Member]:
    """A stable order for reports: arrivals and listings, then archives, then departures."""
    rank = {Role.ARRIVE: 0, Role.LIST: 0, Role.ARCHIVE: 1, Role.DEPART: 2}
    return sorted(parts, key=lambda m: (rank[m.role], m.symbol))


def block_unconfirmed(plan: Plan, confirmed: Iterable[str]) -> Plan:
    """Leave out every group whose displaced active asset Alpaca did not confirm delisted."""
    ok = set(confirmed)
    keep: list[IdentityGroup] = []
    blocked = dict(plan.blocked)
    for group in plan.groups:
        pending = [m.source for m in group.delistings if m.source not in ok]
        if not pending:
            keep.append(group)
            continue
        reason = f"Alpaca did not confirm that the asset on {', '.join(map(str, pending))} left"
        blocked |= {m.symbol: reason for m in group.members if m.asset is not None}
    return replace(plan, groups=keep, blocked=blocked)

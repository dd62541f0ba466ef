"""The pure planning step: validated catalog + current table state -> what to write.

No I/O happens here; the same functions plan the whole run and re-plan one item after a
conditional write lost a race.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from asset_sync.logic.models import (
    ACTIVE,
    CONTENT_ATTRIBUTES,
    INACTIVE,
    CatalogAsset,
    CurrentState,
    StoredValue,
    ValidatedCatalog,
    same_value,
)


class Action(StrEnum):
    """What the sync does to one symbol."""

    CREATE = "create"
    UPDATE = "update"
    REACTIVATE = "reactivate"
    DELIST = "delist"
    REPAIR = "repair"  # full reconciliation: the stored values drifted from what the hash says
    RENAME = "rename"  # identity changes (logic.identity): the asset arrived from its home
    DEPART = "depart"  # ... the asset left this item (the old side of a rename)
    ARCHIVE = "archive"  # ... a displaced, already inactive asset moved to its archive item
    UNCHANGED = "unchanged"
    SUPERSEDED = "superseded"  # a run with a higher number already wrote this item: leave it
    GONE = "gone"  # the item was deleted by another writer before this run could write it


@dataclass(frozen=True)
class ItemPlan:
    """The decision for one symbol; `asset` is None for a delisting."""

    symbol: str
    action: Action
    asset: CatalogAsset | None = None
    current: CurrentState | None = None


@dataclass(frozen=True)
class GuardVerdict:
    """Whether the plan may be applied, and why not."""

    allowed: bool
    reason: str = ""


class Role(StrEnum):
    """What one write of an identity change does to its item (docs/identity.md)."""

    ARRIVE = "arrive"  # the asset arrives from its home (`source`): a rename
    LIST = "list"  # a new asset on an item another asset held (`replaces`)
    DEPART = "depart"  # the asset left this item for `source` (the old side of a rename)
    ARCHIVE = "archive"  # the displaced holder of `source` moves to its archive item


@dataclass(frozen=True)
class Member:
    """One item write of an identity change.

    `source`: for ARRIVE the item the asset comes from (its home), for DEPART the item it went
    to, for ARCHIVE the item it was displaced from. `replaces`: the asset an ARRIVE or LIST
    takes the item from. `delisting`: an ARCHIVE of an asset that was active (a delisting the
    guard counts and Alpaca confirms).
    """

    symbol: str
    role: Role
    asset: CatalogAsset | None = None
    source: str | None = None
    replaces: str | None = None
    delisting: bool = False


@dataclass(frozen=True)
class IdentityGroup:
    """The writes of one identity change (a rename, a shift, a swap, a reuse): applied together
    (one transaction), so no half of it is ever in the table without the other."""

    members: tuple[Member, ...]

    @property
    def symbols(self) -> tuple[str, ...]:
        """Every item the group writes."""
        return tuple(member.symbol for member in self.members)

    @property
    def reads(self) -> tuple[str, ...]:
        """Every item the group's writes depend on (its own and the sources they copy)."""
        sources = (m.source for m in self.members if m.role in (Role.ARRIVE, Role.ARCHIVE))
        return tuple(dict.fromkeys([*self.symbols, *(s for s in sources if s)]))

    @property
    def delistings(self) -> tuple[Member, ...]:
        """The archives of assets that were active: delistings for the guard and Alpaca."""
        return tuple(m for m in self.members if m.role == Role.ARCHIVE and m.delisting)


@dataclass
class Plan:
    """Every write one run intends, plus what it deliberately leaves alone."""

    creates: list[ItemPlan] = field(default_factory=list)
    updates: list[ItemPlan] = field(default_factory=list)
    reactivations: list[ItemPlan] = field(default_factory=list)
    delists: list[ItemPlan] = field(default_factory=list)
    repairs: list[ItemPlan] = field(default_factory=list)
    groups: list[IdentityGroup] = field(default_factory=list)  # renames, shifts, swaps, reuses
    blocked: dict[str, str] = field(default_factory=dict)  # catalog symbol -> why left out
    unchanged: int = 0
    superseded: int = 0
    active_in_scope: int = 0

    @property
    def writes(self) -> list[ItemPlan]:
        """The single-item writes, in a stable order (identity changes are in `groups`)."""
        return [*self.creates, *self.updates, *self.reactivations, *self.repairs, *self.delists]

    @property
    def delisting_count(self) -> int:
        """Assets this plan turns inactive: delistings, and displaced holders that were active."""
        return len(self.delists) + sum(len(group.delistings) for group in self.groups)

    @property
    def is_empty(self) -> bool:
        """True when applying the plan would write no asset item."""
        return not self.writes and not self.groups


def plan_item(
    asset: CatalogAsset | None,
    current: CurrentState | None,
    run_seq: int,
    *,
    full: bool = False,
) -> ItemPlan | None:
    """Decide one symbol for the run numbered `run_seq`. `asset` None: absent from the
    (in-scope) catalog. `full`: compare every stored owned value, not only the hash.

    Ordering between runs comes from run numbers only: an item last written by a run with a
    higher number is left alone (`superseded`); wall-clock timestamps never decide anything.
    Returns None when there is nothing to do and nothing to count (absent and not active).
    """
    if current is not None and current.sync_run_seq > run_seq:
        return ItemPlan(current.symbol, Action.SUPERSEDED, asset, current)
    if asset is None:
        if current is None or current.status != ACTIVE:
            return None
        return ItemPlan(current.symbol, Action.DELIST, None, current)
    if current is None or current.status not in (ACTIVE, INACTIVE):
        # absent, or made by another service before the sync ever wrote it: a create (of the
        # owned attributes only, on an item that exists, when `current` is given)
        return ItemPlan(asset.symbol, Action.CREATE, asset, current)
    if current.status == INACTIVE and asset.status == ACTIVE:
        return ItemPlan(asset.symbol, Action.REACTIVATE, asset, current)
    hash_matches = current.sync_hash == asset.content_hash
    if full and current.values is not None and current.status == asset.status:
        content_matches = stored_content_matches(asset, current.values)
        if hash_matches and content_matches:
            return ItemPlan(asset.symbol, Action.UNCHANGED, asset, current)
        # drift a plain run cannot see: values edited under a right hash, or a wrong hash
        action = Action.REPAIR if hash_matches or content_matches else Action.UPDATE
        return ItemPlan(asset.symbol, action, asset, current)
    if not hash_matches or current.status != asset.status:
        return ItemPlan(asset.symbol, Action.UPDATE, asset, current)
    return ItemPlan(asset.symbol, Action.UNCHANGED, asset, current)


def drifted(asset: CatalogAsset | None, stored: Mapping[str, StoredValue]) -> bool:
    """Whether a full reconciliation needs this stored item's values: anything (hash, status, a
    content value) not exactly as the catalog has it. An item absent from the catalog needs none
    (a delisting writes only its status)."""
    if asset is None:
        return False
    return not (
        stored.get("sync_hash") == asset.content_hash
        and stored.get("status") == asset.status
        and stored_content_matches(asset, stored)
    )


def stored_content_matches(asset: CatalogAsset, stored: Mapping[str, StoredValue]) -> bool:
    """Whether every content attribute is stored exactly as the catalog has it (or absent)."""
    return all(same_value(stored.get(name), asset.content.get(name)) for name in CONTENT_ATTRIBUTES)


def in_scope(state: CurrentState, asset_classes: Iterable[str]) -> bool:
    """Whether a table item belongs to the run's scope (its asset classes): else never
    delisted. An empty scope is every class (planning tests only; a run always has one)."""
    classes = tuple(asset_classes)
    return not classes or state.asset_class in classes


def build_plan(
    catalog: ValidatedCatalog,
    current: Mapping[str, CurrentState],
    run_seq: int,
    asset_classes: Iterable[str] = (),
    *,
    full: bool = False,
) -> Plan:
    """Compare the catalog with the table and sort every symbol into one action."""
    classes = tuple(asset_classes)
    protected = catalog.protected_symbols
    plan = Plan()
    plan.active_in_scope = sum(
        1 for state in current.values() if state.status == ACTIVE and in_scope(state, classes)
    )
    for symbol, asset in catalog.assets.items():
        _add(plan, plan_item(asset, current.get(symbol), run_seq, full=full))
    for symbol, state in current.items():
        if symbol in catalog.assets or symbol in protected or not in_scope(state, classes):
            continue
        _add(plan, plan_item(None, state, run_seq, full=full))
    return plan


def _add(plan: Plan, item: ItemPlan | None) -> None:
    if item is None:
        return
    bucket = {
        Action.CREATE: plan.creates,
        Action.UPDATE: plan.updates,
        Action.REACTIVATE: plan.reactivations,
        Action.DELIST: plan.delists,
        Action.REPAIR: plan.repairs,
    }.get(item.action)
    if bucket is not None:
        bucket.append(item)
    elif item.action == Action.SUPERSEDED:
        plan.superseded += 1
    else:
        plan.unchanged += 1


def check_guard(
    catalog: ValidatedCatalog, plan: Plan, max_delist_fraction: float, force: bool
) -> GuardVerdict:
    """Refuse an empty catalog or a plan that delists too large a share of active assets."""
    if force:
        return GuardVerdict(True)
    if not catalog.assets:
        return GuardVerdict(
            False,
            f"the fetched catalog has no valid assets ({catalog.fetched} records fetched); "
            "refusing to treat every asset as delisted (use --force to override)",
        )
    delists = plan.delisting_count
    if delists and delists > max_delist_fraction * plan.active_in_scope:
        share = delists / plan.active_in_scope if plan.active_in_scope else 1.0
        return GuardVerdict(
            False,
            f"the plan would delist {delists} of {plan.active_in_scope} active assets "
            f"({share:.1%}), more than the allowed {max_delist_fraction:.1%} "
            "(use --force to override, or raise --max-delist-fraction)",
        )
    return GuardVerdict(True)

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
    FieldChange,
    ItemChange,
    OwnedValue,
    ValidatedCatalog,
)


class Action(StrEnum):
    """What the sync does to one symbol."""

    CREATE = "create"
    UPDATE = "update"
    REACTIVATE = "reactivate"
    DELIST = "delist"
    UNCHANGED = "unchanged"
    SUPERSEDED = "superseded"  # a newer sync already wrote this item: leave it


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


@dataclass
class Plan:
    """Every write one run intends, plus what it deliberately leaves alone."""

    creates: list[ItemPlan] = field(default_factory=list)
    updates: list[ItemPlan] = field(default_factory=list)
    reactivations: list[ItemPlan] = field(default_factory=list)
    delists: list[ItemPlan] = field(default_factory=list)
    unchanged: int = 0
    active_in_scope: int = 0

    @property
    def writes(self) -> list[ItemPlan]:
        """The item plans that need a write, in a stable order."""
        return [*self.creates, *self.updates, *self.reactivations, *self.delists]

    @property
    def is_empty(self) -> bool:
        """True when applying the plan would write no asset item."""
        return not self.writes


def plan_item(
    asset: CatalogAsset | None,
    current: CurrentState | None,
    run_timestamp: str,
) -> ItemPlan | None:
    """Decide one symbol. `asset` None means absent from the (in-scope) catalog.

    Returns None when there is nothing to do and nothing to count (absent and not active).
    """
    if current is not None and (current.last_sync_timestamp or "") > run_timestamp:
        symbol = current.symbol
        return ItemPlan(symbol, Action.SUPERSEDED, asset, current)
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
    if current.sync_hash != asset.content_hash or current.status != asset.status:
        return ItemPlan(asset.symbol, Action.UPDATE, asset, current)
    return ItemPlan(asset.symbol, Action.UNCHANGED, asset, current)


def in_scope(state: CurrentState, asset_classes: Iterable[str]) -> bool:
    """Whether a table item belongs to the fetched part of the catalog (else never delisted)."""
    classes = tuple(asset_classes)
    return not classes or state.asset_class in classes


def build_plan(
    catalog: ValidatedCatalog,
    current: Mapping[str, CurrentState],
    run_timestamp: str,
    asset_classes: Iterable[str] = (),
) -> Plan:
    """Compare the catalog with the table and sort every symbol into one action."""
    classes = tuple(asset_classes)
    protected = catalog.protected_symbols
    plan = Plan()
    plan.active_in_scope = sum(
        1 for state in current.values() if state.status == ACTIVE and in_scope(state, classes)
    )
    for symbol, asset in catalog.assets.items():
        _add(plan, plan_item(asset, current.get(symbol), run_timestamp))
    for symbol, state in current.items():
        if symbol in catalog.assets or symbol in protected or not in_scope(state, classes):
            continue
        _add(plan, plan_item(None, state, run_timestamp))
    return plan


def _add(plan: Plan, item: ItemPlan | None) -> None:
    if item is None:
        return
    bucket = {
        Action.CREATE: plan.creates,
        Action.UPDATE: plan.updates,
        Action.REACTIVATE: plan.reactivations,
        Action.DELIST: plan.delists,
    }.get(item.action)
    if bucket is None:
        plan.unchanged += 1
    else:
        bucket.append(item)


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
    delists = len(plan.delists)
    if delists and delists > max_delist_fraction * plan.active_in_scope:
        share = delists / plan.active_in_scope if plan.active_in_scope else 1.0
        return GuardVerdict(
            False,
            f"the plan would delist {delists} of {plan.active_in_scope} active assets "
            f"({share:.1%}), more than the allowed {max_delist_fraction:.1%} "
            "(use --force to override, or raise --max-delist-fraction)",
        )
    return GuardVerdict(True)


@dataclass(frozen=True)
class ItemWrite:
    """The attribute-level write for an existing item: SET these, REMOVE those."""

    set_values: dict[str, OwnedValue]
    remove: tuple[str, ...]
    change: ItemChange


def diff_item(item: ItemPlan, old: Mapping[str, OwnedValue], timestamp: str) -> ItemWrite:
    """Compare an existing item's owned attributes with the plan; pure."""
    changes: dict[str, FieldChange] = {}
    set_values: dict[str, OwnedValue] = {}
    remove: list[str] = []
    if item.asset is None:
        new_status = INACTIVE
    else:
        new_status = item.asset.status
        for name in CONTENT_ATTRIBUTES:
            before, after = old.get(name), item.asset.content.get(name)
            if after is None:
                if before is not None:
                    remove.append(name)
                    changes[name] = FieldChange(before, None)
            elif before is None or not _same(before, after):
                set_values[name] = after
                changes[name] = FieldChange(before, after)
        set_values["sync_hash"] = item.asset.content_hash
    if old.get("status") != new_status:
        set_values["status"] = new_status
        changes["status"] = FieldChange(old.get("status"), new_status)
    if "created_at" not in old:
        set_values["created_at"] = timestamp
    set_values["updated_at"] = timestamp
    set_values["last_sync_timestamp"] = timestamp
    return ItemWrite(set_values, tuple(remove), ItemChange(item.action.value, changes))


def _same(before: OwnedValue, after: OwnedValue) -> bool:
    """Equal as DynamoDB would store them (decimals by value, lists as tuples)."""
    if isinstance(before, list):
        before = tuple(before)
    return before == after and type(before) is type(after)


def new_item(asset: CatalogAsset, timestamp: str) -> dict[str, OwnedValue]:
    """The whole item for a create: owned attributes only (a new item has nothing else)."""
    return {
        "symbol": asset.symbol,
        "status": asset.status,
        **asset.content,
        "created_at": timestamp,
        "updated_at": timestamp,
        "last_sync_timestamp": timestamp,
        "sync_hash": asset.content_hash,
    }

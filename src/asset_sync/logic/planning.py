"""The pure planning step: validated catalog + current table state -> what to write.

No I/O happens here; the same functions plan the whole run and re-plan one item after a
conditional write lost a race.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
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
    RENAME = "rename"  # a ticker change: both symbols of one asset (see logic.identity)
    UNCHANGED = "unchanged"
    SUPERSEDED = "superseded"  # a run with a higher number already wrote this item: leave it
    GONE = "gone"  # the item was deleted by another writer before this run could write it


@dataclass(frozen=True)
class ItemPlan:
    """The decision for one symbol; `asset` is None for a delisting (and for the old symbol
    of a rename, whose `partner` is the new symbol; the new symbol's `partner` is the old)."""

    symbol: str
    action: Action
    asset: CatalogAsset | None = None
    current: CurrentState | None = None
    partner: str | None = None


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
    repairs: list[ItemPlan] = field(default_factory=list)
    renamed_to: list[ItemPlan] = field(default_factory=list)  # the new symbols of renames
    renamed_from: list[ItemPlan] = field(default_factory=list)  # the old symbols
    unchanged: int = 0
    superseded: int = 0
    active_in_scope: int = 0

    @property
    def writes(self) -> list[ItemPlan]:
        """The item plans that need a write, in a stable order: a rename's new symbol is
        written before its old one is marked inactive, so the asset is never active nowhere."""
        return [
            *self.creates,
            *self.renamed_to,
            *self.updates,
            *self.reactivations,
            *self.repairs,
            *self.delists,
            *self.renamed_from,
        ]

    @property
    def is_empty(self) -> bool:
        """True when applying the plan would write no asset item."""
        return not self.writes


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


def diff_item(
    item: ItemPlan, old: Mapping[str, StoredValue], timestamp: str, run_seq: int
) -> ItemWrite:
    """Compare an existing item's stored values with the plan; pure.

    Every owned value that is not exactly what the catalog says (a different value, a different
    type, present where the catalog has none) is set or removed. The write also stamps the
    run's number (`sync_run_seq`), the next `sync_version` and the timestamps (information).
    """
    changes: dict[str, FieldChange] = {}
    set_values: dict[str, OwnedValue] = {}
    remove: list[str] = []
    for name, value in identity_links(item).items():
        if not same_value(old.get(name), value):
            if value is None:
                remove.append(name)
            else:
                set_values[name] = value
            changes[name] = FieldChange(old.get(name), value)
    if item.asset is None:
        new_status = INACTIVE
    else:
        new_status = item.asset.status
        for name in CONTENT_ATTRIBUTES:
            before, after = old.get(name), item.asset.content.get(name)
            if same_value(before, after):
                continue
            if after is None:
                remove.append(name)
            else:
                set_values[name] = after
            changes[name] = FieldChange(before, after)
        if not same_value(old.get("sync_hash"), item.asset.content_hash):
            set_values["sync_hash"] = item.asset.content_hash
            if item.action == Action.REPAIR:
                changes["sync_hash"] = FieldChange(old.get("sync_hash"), item.asset.content_hash)
    if not same_value(old.get("status"), new_status):
        set_values["status"] = new_status
        changes["status"] = FieldChange(old.get("status"), new_status)
    if not isinstance(old.get("created_at"), str):
        set_values["created_at"] = timestamp
    set_values["updated_at"] = timestamp
    set_values["last_sync_timestamp"] = timestamp
    set_values["sync_version"] = next_version(old.get("sync_version"))
    set_values["sync_run_seq"] = Decimal(run_seq)
    return ItemWrite(set_values, tuple(remove), ItemChange(item.action.value, changes))


def identity_links(item: ItemPlan) -> dict[str, str | None]:
    """The rename links a write sets (a value) or clears (None); absent: left as they are.

    A rename's new symbol names the old one (`previous_symbol`) and is live, so it carries no
    `renamed_to`; the old symbol names the new one. A symbol that is listed again (created over
    an item another service made, or reactivated) is live: a stale `renamed_to` goes.
    """
    if item.action == Action.RENAME:
        if item.asset is None:
            return {"renamed_to": item.partner}
        return {"previous_symbol": item.partner, "renamed_to": None}
    if item.action in (Action.REACTIVATE, Action.CREATE):
        return {"renamed_to": None}
    return {}


def next_version(stored: StoredValue | None) -> Decimal:
    """The `sync_version` a write sets: the stored number + 1, or 1 if none is readable."""
    if isinstance(stored, Decimal) and stored.is_finite() and stored == stored.to_integral():
        return stored + 1
    return Decimal(1)


def new_item(
    asset: CatalogAsset, timestamp: str, run_seq: int, previous_symbol: str | None = None
) -> dict[str, OwnedValue]:
    """The whole item for a create: owned attributes only (a new item has nothing else)."""
    links: dict[str, OwnedValue] = {"previous_symbol": previous_symbol} if previous_symbol else {}
    return {
        **links,
        "symbol": asset.symbol,
        "status": asset.status,
        **asset.content,
        "created_at": timestamp,
        "updated_at": timestamp,
        "last_sync_timestamp": timestamp,
        "sync_hash": asset.content_hash,
        "sync_version": Decimal(1),
        "sync_run_seq": Decimal(run_seq),
    }

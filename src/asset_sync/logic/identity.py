"""An asset is its `asset_id`, not its ticker: renames and confirmed delistings (pure).

Renames. When one run would delist symbol X and create (or reactivate) symbol Y, and both carry
the same asset id (or, when their ids differ, the same non-empty CUSIP, matched one to one), it
is a ticker change: Y is written with `previous_symbol = X` and X is marked inactive with
`renamed_to = Y`. A rename is not a delisting (the guard does not count it) and needs no lookup.

Confirmation. Any other active item missing from the list is only a delisting *candidate*: a
sample of them is looked up by id, and they are delisted only if Alpaca confirms it (inactive or
unknown). If any looked-up candidate is still active the list is inconsistent, and only the
candidates confirmed one by one are delisted. The lookups themselves are I/O: they are passed in.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from asset_sync.logic.models import ACTIVE, CurrentState, StoredValue
from asset_sync.logic.planning import Action, ItemPlan, Plan, plan_item


@dataclass(frozen=True)
class Rename:
    """One ticker change."""

    old: str
    new: str
    asset_id: str

    def to_json(self) -> dict[str, str]:
        """The report form: `{"from", "to", "asset_id"}`."""
        return {"from": self.old, "to": self.new, "asset_id": self.asset_id}


def _text(value: StoredValue | None) -> str:
    return value if isinstance(value, str) else ""


def pair_renames(
    plan: Plan, olds: Mapping[str, Mapping[str, StoredValue]]
) -> tuple[Plan, list[Rename]]:
    """Turn each delisting + creation (or reactivation) of one asset into a rename.

    `olds`: the whole stored items of the delisting candidates (their `asset_id`, `cusip`).
    Matched by asset id first, then by a CUSIP that exactly one candidate and exactly one
    incoming symbol share. Returns the new plan and the renames, sorted by old symbol.
    """
    incoming = [*plan.creates, *plan.reactivations]
    by_id = {str(item.asset.content["asset_id"]): item for item in incoming if item.asset}
    pairs: dict[str, ItemPlan] = {}  # old symbol -> the incoming item it becomes
    for candidate in plan.delists:
        asset_id = _text(olds.get(candidate.symbol, {}).get("asset_id"))
        target = by_id.get(asset_id) if asset_id else None
        if target is not None and target not in pairs.values():
            pairs[candidate.symbol] = target
    unpaired = [c for c in plan.delists if c.symbol not in pairs]
    taken = set(map(id, pairs.values()))
    candidates_by_cusip = _one_each(
        (_text(olds.get(c.symbol, {}).get("cusip")), c) for c in unpaired
    )
    incoming_by_cusip = _one_each(
        (_text(item.asset.content.get("cusip")) if item.asset else "", item)
        for item in incoming
        if id(item) not in taken
    )
    for cusip, candidate in candidates_by_cusip.items():
        if cusip in incoming_by_cusip:
            pairs[candidate.symbol] = incoming_by_cusip[cusip]

    renames: list[Rename] = []
    renamed_to: list[ItemPlan] = []
    renamed_from: list[ItemPlan] = []
    for old_symbol, target in sorted(pairs.items()):
        assert target.asset is not None
        old_item = next(c for c in plan.delists if c.symbol == old_symbol)
        renames.append(Rename(old_symbol, target.symbol, str(target.asset.content["asset_id"])))
        renamed_from.append(replace(old_item, action=Action.RENAME, partner=target.symbol))
        renamed_to.append(replace(target, action=Action.RENAME, partner=old_symbol))
    moved = set(pairs) | {item.symbol for item in pairs.values()}
    new_plan = replace(
        plan,
        creates=[i for i in plan.creates if i.symbol not in moved],
        reactivations=[i for i in plan.reactivations if i.symbol not in moved],
        delists=[i for i in plan.delists if i.symbol not in moved],
        renamed_to=renamed_to,
        renamed_from=renamed_from,
    )
    return new_plan, renames


def _one_each(pairs: Any) -> dict[str, ItemPlan]:
    """Non-empty keys that occur exactly once, with their item."""
    seen: dict[str, ItemPlan] = {}
    repeated: set[str] = set()
    for key, item in pairs:
        if not key:
            continue
        if key in seen:
            repeated.add(key)
        seen[key] = item
    return {key: item for key, item in seen.items() if key not in repeated}


def replan_rename(
    item: ItemPlan, current: CurrentState | None, run_seq: int, *, full: bool = False
) -> ItemPlan | None:
    """Plan one side of a rename again against the item as it is now (after a lost race)."""
    if current is not None and current.sync_run_seq > run_seq:
        return replace(item, action=Action.SUPERSEDED, current=current)
    values = current.values if current is not None and current.values is not None else {}
    if item.asset is None:  # the old symbol: inactive, naming the new one
        if current is None:
            return ItemPlan(item.symbol, Action.GONE)
        done = current.status != ACTIVE and values.get("renamed_to") == item.partner
        action = Action.UNCHANGED if done else Action.RENAME
        return replace(item, action=action, current=current)
    base = plan_item(item.asset, current, run_seq, full=full)
    if base is None or base.action == Action.SUPERSEDED:
        return base
    linked = values.get("previous_symbol") == item.partner and "renamed_to" not in values
    if base.action == Action.UNCHANGED and linked:
        return base
    return replace(item, action=Action.RENAME, current=current)


@dataclass
class Confirmation:
    """What Alpaca said about the delisting candidates."""

    confirmed: list[str] = field(default_factory=list)  # to delist
    kept_active: list[str] = field(default_factory=list)  # Alpaca still reports them active
    unconfirmed: list[str] = field(default_factory=list)  # not looked up, or the lookup failed
    lookups: int = 0

    @property
    def consistent(self) -> bool:
        """True when the list can be trusted for every candidate."""
        return not self.kept_active and not self.unconfirmed


class LookupFailedError(Exception):
    """A lookup still failed after its retries."""


Lookup = Callable[[str], Mapping[str, Any] | None]  # the asset, None for 404; LookupFailedError


def confirm_delistings(
    candidates: Sequence[ItemPlan],
    olds: Mapping[str, Mapping[str, StoredValue]],
    lookup: Lookup,
    *,
    sample_size: int,
    listed: Collection[str],
    rng: random.Random,
) -> Confirmation:
    """Look candidates up (all of them, or a random sample of `sample_size`) and decide.

    A candidate is confirmed when Alpaca reports its asset inactive or unknown, or active
    under another symbol that is in the list (the asset moved). If every looked-up candidate
    is confirmed, every candidate is; otherwise only those confirmed one by one.
    """
    symbols = sorted(c.symbol for c in candidates)
    sample = symbols if len(symbols) <= sample_size else sorted(rng.sample(symbols, sample_size))
    result = Confirmation()
    confirmed: list[str] = []
    for symbol in sample:
        key = _text(olds.get(symbol, {}).get("asset_id")) or symbol
        result.lookups += 1
        try:
            asset = lookup(key)
        except LookupFailedError:
            result.unconfirmed.append(symbol)
            continue
        if asset is None or asset.get("status") != ACTIVE:
            confirmed.append(symbol)
        elif asset.get("symbol") != symbol and asset.get("symbol") in listed:
            confirmed.append(symbol)  # the asset lives on under a listed symbol
        else:
            result.kept_active.append(symbol)
    if result.consistent:
        result.confirmed = symbols
    else:
        result.confirmed = confirmed
        looked_up = set(sample)
        result.unconfirmed += [s for s in symbols if s not in looked_up]
        result.unconfirmed.sort()
    return result

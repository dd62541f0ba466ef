"""Applying one identity change (a rename, a shift, a swap, a reuse): one transaction.

The group's writes are computed from its items as read (logic.item_writes.member_writes) and sent
together; all of them land or none. A transaction that loses a race (an item changed, another
transaction held one) or whose outcome is uncertain is followed by a consistent re-read of every
item it depends on: if they already hold this run's writes, the group is done (a lost reply);
if every item still has the holder and links it had, the writes are computed again from the
fresh values (another service wrote an attribute meanwhile); otherwise another writer changed
the identity itself, and the group is left for the next run, which plans it from scratch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from asset_sync.logic.item_writes import GroupWrite, NewItem, holder, member_writes
from asset_sync.logic.models import ItemChange, StoredValue
from asset_sync.logic.planning import Action, IdentityGroup, Member, Role
from asset_sync.logic.ports import ConditionFailedError, StoreError

if TYPE_CHECKING:
    from asset_sync.logic.apply import PlanApplier

Items = Mapping[str, Mapping[str, StoredValue] | None]
MAX_GROUP_ATTEMPTS = 8
_DONE: dict[Role, Action] = {
    Role.ARRIVE: Action.RENAME,
    Role.LIST: Action.CREATE,
    Role.DEPART: Action.DEPART,
    Role.ARCHIVE: Action.ARCHIVE,
}


def apply_group(
    applier: PlanApplier, group: IdentityGroup, known: Mapping[str, Mapping[str, StoredValue]]
) -> None:
    """Write one identity change; record each member's outcome on the applier."""
    run = applier.run
    items: dict[str, Mapping[str, StoredValue] | None] = {s: known.get(s) for s in group.reads}
    last_error = ""
    for attempt in range(MAX_GROUP_ATTEMPTS):
        newer = _newer(items, run.run_seq)
        if newer is not None:
            symbol, seq = newer
            applier.newer_run_seen(symbol, seq)  # LeaseLostError unless the lease is ours
            for member in group.members:
                applier._record(member.symbol, action=Action.SUPERSEDED, resolved=attempt > 0)
            return
        writes = member_writes(group, _present(items), run.timestamp, run.run_seq)
        try:
            applier._send(applier.store.transact, writes, run.run_seq)
        except ConditionFailedError as error:
            last_error = f"the items kept changing under the transaction ({error})"
        except StoreError as error:
            last_error = str(error)
        else:
            _done(applier, group, writes, resolved=attempt > 0)
            return
        applier._backoff(attempt)
        try:
            fresh = applier.store.get_items(list(group.reads))
        except StoreError as error:
            last_error = str(error)
            continue
        now: dict[str, Mapping[str, StoredValue] | None] = {s: fresh.get(s) for s in group.reads}
        if _is_own_write(writes, now, run.run_seq):
            _done(applier, group, writes, resolved=True)
            return
        if _identity(now) != _identity(items):
            last_error = (
                "another writer changed the identity of its items during the run; the next run "
                "plans it again"
            )
            break
        items = now
    for member in group.members:
        applier._record(
            member.symbol,
            failure=f"identity change of {', '.join(group.symbols)} not applied: {last_error}",
        )


def _present(items: Items) -> dict[str, Mapping[str, StoredValue]]:
    return {symbol: item for symbol, item in items.items() if item is not None}


def _seq(item: Mapping[str, StoredValue]) -> int:
    value = item.get("sync_run_seq")
    return int(value) if isinstance(value, Decimal) and value == value.to_integral() else 0


def _newer(items: Items, run_seq: int) -> tuple[str, int] | None:
    """An item a run with a higher number wrote (that run took the lease after this one)."""
    for symbol, item in sorted(_present(items).items()):
        if _seq(item) > run_seq:
            return symbol, _seq(item)
    return None


def _identity(items: Items) -> dict[str, tuple[object, ...] | None]:
    """What decides an identity change: each item's holder, status and links."""
    return {
        symbol: None
        if item is None
        else (holder(item), item.get("status"), item.get("renamed_to"), item.get("previous_symbol"))
        for symbol, item in items.items()
    }


def _is_own_write(writes: Sequence[GroupWrite], fresh: Items, run_seq: int) -> bool:
    """Whether every item already holds this run's write (the transaction applied; its reply
    was lost)."""
    for write in writes:
        item = fresh.get(write.symbol)
        wanted = write.item if isinstance(write, NewItem) else write.write.set_values
        if item is None or _seq(item) != run_seq:
            return False
        names = [n for n in ("sync_action", "status", "sync_hash", "renamed_to") if n in wanted]
        if any(item.get(name) != wanted[name] for name in names):
            return False
    return True


def _done(
    applier: PlanApplier, group: IdentityGroup, writes: Sequence[GroupWrite], *, resolved: bool
) -> None:
    by_symbol = {write.symbol: write for write in writes}
    for member in group.members:
        change = write_change(by_symbol[member.symbol])
        applier._record(
            member.symbol, action=member_action(member), change=change, resolved=resolved
        )


def write_change(write: GroupWrite) -> ItemChange:
    """The report's change of one member's write."""
    return write.change if isinstance(write, NewItem) else write.write.change


def member_action(member: Member) -> Action:
    """How the report counts a member's write (a displaced active asset: a delisting)."""
    if member.role == Role.ARCHIVE and member.delisting:
        return Action.DELIST
    return _DONE[member.role]

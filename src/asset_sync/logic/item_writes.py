"""What one sync write sends for one item (pure): the owned values it sets or removes, the
foreign attributes an identity change moves, and the stored values it is conditioned on.

Singles (create, update, reactivate, repair, delist) come from `diff_item` / `new_item`; the
members of an identity change (docs/identity.md) from `member_writes`, which sees every item of
its group at once because an arrival copies its source's foreign attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from asset_sync.logic.models import (
    ACTIVE,
    ARCHIVE_PREFIX,
    CONTENT_ATTRIBUTES,
    INACTIVE,
    OWNED_ATTRIBUTES,
    CatalogAsset,
    FieldChange,
    ItemChange,
    StoredValue,
    Unrecognized,
    same_value,
)
from asset_sync.logic.planning import Action, IdentityGroup, ItemPlan, Member, Role

Item = Mapping[str, StoredValue]
# The `sync_action` each single write records (docs/identity.md, "Writes").
SYNC_ACTION_OF: dict[Action, str] = {
    Action.CREATE: "list",
    Action.UPDATE: "update",
    Action.REACTIVATE: "reactivate",
    Action.DELIST: "delist",
    Action.REPAIR: "repair",
}


@dataclass(frozen=True)
class ItemWrite:
    """The attribute-level write for an existing item: SET these, REMOVE those."""

    set_values: dict[str, StoredValue]
    remove: tuple[str, ...]
    change: ItemChange
    expected: dict[str, StoredValue | None] = field(default_factory=dict)


@dataclass(frozen=True)
class NewItem:
    """A create: the whole item (owned values, and foreign ones an arrival brings)."""

    symbol: str
    item: dict[str, StoredValue]
    change: ItemChange


@dataclass(frozen=True)
class Update:
    """An UpdateItem of an existing item, conditioned on `write.expected`."""

    symbol: str
    write: ItemWrite


GroupWrite = NewItem | Update


def foreign(item: Item | None) -> dict[str, StoredValue]:
    """Other services' attributes of an item (everything the sync does not own)."""
    return {n: v for n, v in (item or {}).items() if n not in OWNED_ATTRIBUTES}


def holder(item: Item | None) -> str | None:
    """The asset an item holds: its stored `asset_id` (None: an item another service made)."""
    if item is None or item.get("status") not in (ACTIVE, INACTIVE):
        return None
    asset_id = item.get("asset_id")
    return asset_id if isinstance(asset_id, str) and asset_id else None


def next_version(stored: StoredValue | None) -> Decimal:
    """The `sync_version` a write sets: the stored number + 1, or 1 if none is readable."""
    if isinstance(stored, Decimal) and stored.is_finite() and stored == stored.to_integral():
        return stored + 1
    return Decimal(1)


def identity_links(item: ItemPlan) -> dict[str, str | None]:
    """The links a single write sets or clears (None); absent: left as they are.

    A listing makes the item a fresh home: no `previous_symbol`, no `renamed_to`. A reactivation
    makes it a home again: a stale `renamed_to` goes.
    """
    if item.action == Action.CREATE:
        return {"previous_symbol": None, "renamed_to": None}
    if item.action == Action.REACTIVATE:
        return {"renamed_to": None}
    return {}


def _set(
    out: dict[str, StoredValue],
    remove: list[str],
    changes: dict[str, FieldChange] | None,
    name: str,
    before: StoredValue | None,
    after: StoredValue | None,
) -> None:
    """Record one attribute's change (nothing when equal)."""
    if _equal(before, after):
        return
    if after is None:
        remove.append(name)
    else:
        out[name] = after
    if changes is not None:
        changes[name] = FieldChange(before, after)


def _equal(before: StoredValue | None, after: StoredValue | None) -> bool:
    """Equal as stored: owned types as `same_value` compares them (numbers by value), a value of
    a type the sync never writes (an `Unrecognized` map, set, NULL, ...) by its raw form."""
    if isinstance(before, Unrecognized) or isinstance(after, Unrecognized):
        return before == after
    return same_value(before, after)


def _owned_write(
    old: Item,
    *,
    action: str,
    content: Mapping[str, StoredValue | None] | None,
    content_hash: StoredValue | None,
    status: str,
    links: Mapping[str, str | None],
    timestamp: str,
    run_seq: int,
    show_hash: bool = False,
) -> tuple[dict[str, StoredValue], list[str], dict[str, FieldChange]]:
    """SET/REMOVE of the owned attributes that make `old` what a write wants (content None:
    keep the stored content), stamped with this run's bookkeeping."""
    changes: dict[str, FieldChange] = {}
    set_values: dict[str, StoredValue] = {}
    remove: list[str] = []
    for name, value in links.items():
        _set(set_values, remove, changes, name, old.get(name), value)
    if content is not None:
        for name in ("asset_id", *CONTENT_ATTRIBUTES):
            _set(set_values, remove, changes, name, old.get(name), content.get(name))
        if content_hash is not None and not _equal(old.get("sync_hash"), content_hash):
            set_values["sync_hash"] = content_hash
            if show_hash:
                changes["sync_hash"] = FieldChange(old.get("sync_hash"), content_hash)
    _set(set_values, remove, changes, "status", old.get("status"), status)
    if not isinstance(old.get("created_at"), str):
        set_values["created_at"] = timestamp
    set_values |= {
        "updated_at": timestamp,
        "last_sync_timestamp": timestamp,
        "sync_version": next_version(old.get("sync_version")),
        "sync_run_seq": Decimal(run_seq),
        "sync_action": action,
    }
    return set_values, remove, changes


def _expected(
    old: Item, set_values: Mapping[str, object], remove: list[str]
) -> dict[str, StoredValue | None]:
    """The stored value of every attribute a write replaces (None: absent)."""
    return {name: old.get(name) for name in [*set_values, *remove]}


def diff_item(item: ItemPlan, old: Item, timestamp: str, run_seq: int) -> ItemWrite:
    """A single write on an existing item: every owned value that is not exactly what the
    catalog says (a different value, a different type, present where the catalog has none) is
    set or removed, plus this run's number, the next `sync_version`, `sync_action` and the
    timestamps. Foreign attributes are never touched."""
    asset = item.asset
    set_values, remove, changes = _owned_write(
        old,
        action=SYNC_ACTION_OF[item.action],
        content=asset.content if asset else None,
        content_hash=asset.content_hash if asset else None,
        status=asset.status if asset else INACTIVE,
        links=identity_links(item),
        timestamp=timestamp,
        run_seq=run_seq,
        show_hash=item.action == Action.REPAIR,
    )
    expected = {
        n: v for n, v in _expected(old, set_values, remove).items() if n in OWNED_ATTRIBUTES
    }
    return ItemWrite(set_values, tuple(remove), ItemChange(item.action.value, changes), expected)


def new_item(
    asset: CatalogAsset, timestamp: str, run_seq: int, *, action: str = "list"
) -> dict[str, StoredValue]:
    """The whole item for a create: owned attributes only (a new item has nothing else)."""
    return {
        "symbol": asset.symbol,
        "status": asset.status,
        **asset.content,
        "created_at": timestamp,
        "updated_at": timestamp,
        "last_sync_timestamp": timestamp,
        "sync_hash": asset.content_hash,
        "sync_version": Decimal(1),
        "sync_run_seq": Decimal(run_seq),
        "sync_action": action,
    }


def archive_key(asset_id: str) -> str:
    """The archive item of an asset (docs/identity.md)."""
    return f"{ARCHIVE_PREFIX}{asset_id}"


def is_archive(symbol: str) -> bool:
    """Whether a key is an archive item's."""
    return symbol.startswith(ARCHIVE_PREFIX)


def member_writes(
    group: IdentityGroup, items: Mapping[str, Item], timestamp: str, run_seq: int
) -> list[GroupWrite]:
    """The writes of one identity change, from the group's items as read (pure).

    Each write is conditioned on every value it replaces; a source whose foreign attributes are
    copied is conditioned on them as read, so another writer changing them meanwhile fails the
    whole transaction instead of leaving a stale copy.
    """
    copied: dict[str, dict[str, StoredValue]] = {}
    for member in group.members:
        if member.role in (Role.ARRIVE, Role.ARCHIVE) and member.source:
            copied[member.source] = foreign(items.get(member.source))
    writes = [_member_write(m, items, timestamp, run_seq) for m in group.members]
    return [_with_source_conditions(w, copied, items) for w in writes]


# What decided an identity change: a write of the group is conditioned on each as read.
IDENTITY_CONDITIONS = ("asset_id", "status", "renamed_to")


def _with_source_conditions(
    write: GroupWrite, copied: Mapping[str, Mapping[str, StoredValue]], items: Mapping[str, Item]
) -> GroupWrite:
    """Condition an update also on what decided the change (its holder, status and link) and,
    on a source, on the foreign attributes copied from it."""
    if not isinstance(write, Update):
        return write
    old = items[write.symbol]
    names = [*IDENTITY_CONDITIONS, *copied.get(write.symbol, ())]
    expected = {**{name: old.get(name) for name in names}, **write.write.expected}
    change = write.write
    return Update(
        write.symbol, ItemWrite(change.set_values, change.remove, change.change, expected)
    )


def _member_write(
    member: Member, items: Mapping[str, Item], timestamp: str, run_seq: int
) -> GroupWrite:
    old = items.get(member.symbol)
    action, content, content_hash, status, links, new_foreign = _target(member, items)
    if old is None:
        assert content is not None
        item: dict[str, StoredValue] = {
            "symbol": member.symbol,
            "status": status,
            **{n: v for n, v in content.items() if v is not None},
            "created_at": timestamp,
            "updated_at": timestamp,
            "last_sync_timestamp": timestamp,
            "sync_version": Decimal(1),
            "sync_run_seq": Decimal(run_seq),
            "sync_action": action,
            **{n: v for n, v in links.items() if v is not None},
            **(new_foreign or {}),
        }
        if content_hash is not None:
            item["sync_hash"] = content_hash
        fields = {n: FieldChange(None, v) for n, v in links.items() if v is not None}
        return NewItem(member.symbol, item, ItemChange(action, fields))
    set_values, remove, changes = _owned_write(
        old,
        action=action,
        content=content,
        content_hash=content_hash,
        status=status,
        links=links,
        timestamp=timestamp,
        run_seq=run_seq,
    )
    if new_foreign is not None:
        mine = foreign(old)
        replace_all = holder(old) is not None  # an item another service made keeps its own
        for name in sorted({*new_foreign, *(mine if replace_all else ())}):
            _set(set_values, remove, changes, name, mine.get(name), new_foreign.get(name))
    expected = _expected(old, set_values, remove)
    return Update(
        member.symbol, ItemWrite(set_values, tuple(remove), ItemChange(action, changes), expected)
    )


Target = tuple[
    str,  # sync_action
    Mapping[str, StoredValue | None] | None,  # content (None: keep)
    StoredValue | None,  # sync_hash
    str,  # status
    dict[str, str | None],  # links
    dict[str, StoredValue] | None,  # the item's foreign attributes afterwards (None: keep)
]


def _target(member: Member, items: Mapping[str, Item]) -> Target:
    """What the member's item becomes (docs/identity.md, "Links, exactly")."""
    if member.role == Role.DEPART:
        links: dict[str, str | None] = {"renamed_to": member.source, "previous_symbol": None}
        return "depart", None, None, INACTIVE, links, None
    assert member.source is not None or member.role == Role.LIST
    src = items[member.source] if member.source else {}
    if member.role == Role.ARCHIVE:
        stored = {n: src.get(n) for n in ("asset_id", *CONTENT_ATTRIBUTES)}
        links = {"previous_symbol": member.source, "renamed_to": None}
        action = "delist" if member.delisting else "archive"
        return action, stored, src.get("sync_hash"), INACTIVE, links, foreign(src)
    asset = member.asset
    assert asset is not None
    content: dict[str, StoredValue | None] = dict(asset.content)
    links = {"previous_symbol": None, "renamed_to": None}
    if member.replaces:
        links["replaces_asset_id"] = member.replaces
    if member.role == Role.LIST:
        old = items.get(member.symbol)
        return "list", content, asset.content_hash, ACTIVE, links, {} if old else None
    action, previous = "rename", str(member.source)
    if is_archive(previous):  # it names the ticker it left, never the archive key
        came_from = src.get("previous_symbol")
        previous = came_from if isinstance(came_from, str) else ""
    if previous == member.symbol:  # back out of the archive onto that very ticker
        action, previous = "reactivate", ""
    links["previous_symbol"] = previous or None
    return action, content, asset.content_hash, ACTIVE, links, foreign(src)

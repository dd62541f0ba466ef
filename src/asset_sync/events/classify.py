"""Which event one write of an item makes: by the sync's `sync_action`, else by the images.

Pure. A write makes at most one event (docs/events.md, "Which write makes which event"):

- The new image has no `sync_hash`: another service's item the sync never wrote -> nothing.
- A sync write (it set `sync_run_seq` or `last_sync_timestamp`) that records a known
  `sync_action` is announced as that action says (`by_action`).
- Anything else (a hand edit, an item written by a version without `sync_action`, or an
  action its own images contradict) is classified by comparing the images (`by_images`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from asset_sync.dal.serialization import Image, JsonValue, same_value, text, to_json
from asset_sync.events.entries import (
    ASSET_DELISTED,
    ASSET_LISTED,
    ASSET_REACTIVATED,
    ASSET_RENAMED,
    ASSET_UPDATED,
)
from asset_sync.logic.models import (
    ACTIVE,
    ARCHIVE_PREFIX,
    CONTENT_ATTRIBUTES,
    IDENTITY_ATTRIBUTES,
    INACTIVE,
    OWNED_ATTRIBUTES,
    SYNC_ACTIONS,
)

# The owned state events announce: `symbol` is the key, bookkeeping is never announced.
ANNOUNCED_ATTRIBUTES: tuple[str, ...] = ("status", *CONTENT_ATTRIBUTES, *IDENTITY_ATTRIBUTES)
SYNC_MARKER = "sync_hash"  # every sync write sets it; other writers never do

CATALOG, REPAIR, MANUAL = "catalog", "repair", "manual"
REASONS: tuple[str, ...] = (CATALOG, REPAIR, MANUAL)
DELISTING = {"status": {"old": ACTIVE, "new": INACTIVE}}
_STATUS_OF_ACTION = {"reactivate": (INACTIVE, ACTIVE), "delist": (ACTIVE, INACTIVE)}
_TYPE_OF_ACTION = {
    "update": ASSET_UPDATED,
    "repair": ASSET_UPDATED,
    "reactivate": ASSET_REACTIVATED,
    "delist": ASSET_DELISTED,
}


@dataclass(frozen=True)
class Announcement:
    """What one write announces: its detail type and the detail fields of that type.

    `symbol` replaces the item's key as the event's `symbol` (an archived asset's delisting
    names the ticker the asset had; `body` then carries `archived_as`, the archive key).
    """

    detail_type: str
    reason: str
    body: dict[str, Any] = field(default_factory=dict)
    symbol: str | None = None


def is_archive_key(key: str) -> bool:
    """Whether an item key is an archive item's (`__asset/<asset_id>`), not a ticker."""
    return key.startswith(ARCHIVE_PREFIX)


def classify(key: str, old: Image, new: Image, sync_write: bool) -> Announcement | None:
    """The announcement of one INSERT/MODIFY of item `key` (old: {} for an insert)."""
    if SYNC_MARKER not in new:
        return None  # another service's item, not (yet) written by the sync
    action = text(new.get("sync_action"))
    if sync_write and action in SYNC_ACTIONS and not _contradicted(key, action, old, new):
        return by_action(key, action, old, new)
    return by_images(old, new, CATALOG if sync_write else MANUAL)


def _contradicted(key: str, action: str, old: Image, new: Image) -> bool:
    """Whether the images contradict the recorded action (then the image rules decide)."""
    if is_archive_key(key):
        return False
    if action == "rename":
        return text(new.get("previous_symbol")) is None
    if action == "reactivate" and _holder_changed(old, new):  # back out of its archive onto
        return _status(old, new)[1] != ACTIVE  # the ticker it left, which another asset held
    expected = _STATUS_OF_ACTION.get(action)
    return expected is not None and _status(old, new) != expected


def by_action(key: str, action: str, old: Image, new: Image) -> Announcement | None:
    """The event a sync write announces by its `sync_action` (docs/identity.md, "Writes")."""
    if is_archive_key(key):
        if action != "delist":
            return None  # an archive item announces only its asset's delisting
        ticker = text(new.get("previous_symbol")) or key
        delisting = {"changes": DELISTING, "archived_as": key}
        return Announcement(ASSET_DELISTED, CATALOG, delisting, ticker)
    if action in ("depart", "archive"):
        return None  # the asset's event comes from the item it arrived on
    if action == "list":
        return Announcement(ASSET_LISTED, CATALOG, {"asset": asset_state(new), **_replaces(new)})
    if action == "rename":
        previous = text(new.get("previous_symbol"))
        body: dict[str, Any] = {"previous_symbol": previous, "asset": asset_state(new)}
        if _holder_changed(old, new):
            body |= _replaces(new)
        return Announcement(ASSET_RENAMED, CATALOG, body)
    changes = owned_changes(old, new)
    if not changes and not moved_attributes(old, new):
        return None
    reason = REPAIR if action == "repair" else CATALOG
    return Announcement(_TYPE_OF_ACTION[action], reason, {"changes": changes})


def by_images(old: Image, new: Image, reason: str) -> Announcement | None:
    """The event of a write without a usable `sync_action`: the first image rule that matches.

    1. `previous_symbol` newly set -> Renamed; 2. `renamed_to` newly set -> nothing (the
    rename's other side); 3. no `sync_hash` before -> Listed; 4. no announced attribute
    changed -> nothing; 5. inactive -> active -> Reactivated; 6. active -> inactive ->
    Delisted; 7. anything else -> Updated.
    """
    if _newly_set(old, new, "previous_symbol"):
        body = {"previous_symbol": text(new["previous_symbol"]), "asset": asset_state(new)}
        return Announcement(ASSET_RENAMED, reason, body)
    if _newly_set(old, new, "renamed_to"):
        return None
    if SYNC_MARKER not in old:
        return Announcement(ASSET_LISTED, reason, {"asset": asset_state(new)})
    changes = owned_changes(old, new)
    if not changes:
        return None
    transitions: dict[tuple[str | None, str | None], str] = {
        (INACTIVE, ACTIVE): ASSET_REACTIVATED,
        (ACTIVE, INACTIVE): ASSET_DELISTED,
    }
    detail_type = transitions.get(_status(old, new), ASSET_UPDATED)
    return Announcement(detail_type, reason, {"changes": changes})


def owned_changes(old: Image, new: Image) -> dict[str, dict[str, JsonValue]]:
    """Announced attributes whose value differs, as {name: {"old", "new"}} (absent: null)."""
    return {
        name: {"old": to_json(old.get(name)), "new": to_json(new.get(name))}
        for name in ANNOUNCED_ATTRIBUTES
        if not same_value(old.get(name), new.get(name))
    }


def asset_state(image: Image) -> dict[str, JsonValue]:
    """Every announced attribute of an item (absent: null)."""
    return {name: to_json(image.get(name)) for name in ANNOUNCED_ATTRIBUTES}


def moved_attributes(old: Image, new: Image) -> dict[str, list[str]] | None:
    """Other services' attributes the write set or changed (`in`) and removed (`out`)."""
    foreign_new = {name for name in new if name not in OWNED_ATTRIBUTES}
    foreign_old = {name for name in old if name not in OWNED_ATTRIBUTES}
    arrived = sorted(n for n in foreign_new if not same_value(old.get(n), new.get(n)))
    left = sorted(foreign_old - foreign_new)
    if not arrived and not left:
        return None
    return {"in": arrived, "out": left}


def _holder_changed(old: Image, new: Image) -> bool:
    """Whether the write gave the item to another asset than the one it held."""
    return text(old.get("asset_id")) not in (None, text(new.get("asset_id")))


def _replaces(image: Image) -> dict[str, str]:
    replaced = text(image.get("replaces_asset_id"))
    return {"replaces_asset_id": replaced} if replaced is not None else {}


def _status(old: Image, new: Image) -> tuple[str | None, str | None]:
    return text(old.get("status")), text(new.get("status"))


def _newly_set(old: Image, new: Image, name: str) -> bool:
    return text(new.get(name)) is not None and not same_value(old.get(name), new.get(name))

"""Stream records of `signal9_assets` to EventBridge entries: one event per real change.

Pure (no I/O but a warning log for deletes). A record yields at most one event; when one write
does several things, the first rule that matches decides its type (docs/events.md):

1. `previous_symbol` newly set: the new item of a rename -> `Asset Renamed`.
2. `renamed_to` newly set: the old item of a rename -> nothing (rule 1 announces the rename).
3. First write of the sync on the item (no `sync_hash` before) -> `Asset Listed`.
4. No owned attribute changed (other services' attributes, bookkeeping) -> nothing.
5. status inactive -> active -> `Asset Reactivated`; 6. active -> inactive -> `Asset Delisted`.
7. Any other change of owned state -> `Asset Updated`.

Items without `sync_hash` belong to other services until the sync first writes them: no event.
Events of rules 5-7 carry every changed owned attribute in `changes`, status included.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from asset_sync.events.entries import (
    ASSET_DELISTED,
    ASSET_LISTED,
    ASSET_REACTIVATED,
    ASSET_RENAMED,
    ASSET_UPDATED,
    MAX_ENTRY_BYTES,
    Entry,
    entry_size,
    make_entry,
)
from asset_sync.events.values import Image, JsonValue, integer, same_value, text, to_json
from asset_sync.logic.models import (
    ACTIVE,
    CONTENT_ATTRIBUTES,
    IDENTITY_ATTRIBUTES,
    INACTIVE,
)

logger = logging.getLogger(__name__)

# The owned state events announce: `symbol` is the key, bookkeeping is never announced.
ANNOUNCED_ATTRIBUTES: tuple[str, ...] = ("status", *CONTENT_ATTRIBUTES, *IDENTITY_ATTRIBUTES)
# Fixed forever: event ids are UUIDv5 of the stream record's eventID in this namespace.
EVENT_ID_NAMESPACE = uuid.UUID("9f3c2d57-6a41-4f0e-8b1d-3c5e7a2b9d10")
SYNC_MARKER = "sync_hash"  # every sync write sets it; other writers never do


class StreamRecordError(ValueError):
    """A stream record this transform cannot read (malformed, or not NEW_AND_OLD_IMAGES)."""


def to_events(records: Iterable[Mapping[str, Any]]) -> list[Entry]:
    """PutEvents entries (without `EventBusName`) for DynamoDB stream records, in order."""
    return [entry for record in records for entry in events_of(record)]


def events_of(record: Mapping[str, Any]) -> list[Entry]:
    """The entries of one stream record: none or one."""
    stream = record.get("dynamodb")
    if not isinstance(stream, Mapping):
        raise StreamRecordError(f"stream record {record.get('eventID')!r} has no `dynamodb`")
    name = record.get("eventName")
    if name == "REMOVE":
        _warn_delete(record, stream)
        return []
    if name not in ("INSERT", "MODIFY"):
        raise StreamRecordError(f"stream record {record.get('eventID')!r}: eventName {name!r}")
    new = stream.get("NewImage")
    old = stream.get("OldImage") if name == "MODIFY" else {}
    if new is None or old is None:
        raise StreamRecordError(
            f"stream record {record.get('eventID')!r} lacks its images: the table's stream "
            "must be NEW_AND_OLD_IMAGES"
        )
    classified = classify(old, new)
    if classified is None:
        return []
    detail_type, body = classified
    detail: dict[str, Any] = {**_envelope(record, stream, old, new), **body}
    entry = make_entry(detail_type, detail)
    if entry_size(entry) > MAX_ENTRY_BYTES:
        entry = make_entry(detail_type, truncate(detail))
    if entry_size(entry) > MAX_ENTRY_BYTES:  # only a hand-written giant id or symbol gets here
        raise StreamRecordError(f"the event of {detail['symbol']!r} cannot fit in 256 KiB")
    return [entry]


def classify(old: Image, new: Image) -> tuple[str, dict[str, Any]] | None:
    """The detail type and type-specific detail of one write (old: {} for an insert)."""
    if SYNC_MARKER not in new:
        return None  # another service's item, not (yet) written by the sync
    if _newly_set(old, new, "previous_symbol"):
        return ASSET_RENAMED, {
            "previous_symbol": text(new["previous_symbol"]),
            "asset": asset_state(new),
        }
    if _newly_set(old, new, "renamed_to"):
        return None
    if SYNC_MARKER not in old:
        return ASSET_LISTED, {"asset": asset_state(new)}
    changes = owned_changes(old, new)
    if not changes:
        return None
    status = (text(old.get("status")), text(new.get("status")))
    if status == (INACTIVE, ACTIVE):
        return ASSET_REACTIVATED, {"changes": changes}
    if status == (ACTIVE, INACTIVE):
        return ASSET_DELISTED, {"changes": changes}
    return ASSET_UPDATED, {"changes": changes}


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


def run_seq(old: Image, new: Image) -> int | None:
    """The number of the sync run that made this write; None if no run made it.

    A sync write sets `sync_run_seq` and `last_sync_timestamp`; a hand edit sets neither, so
    when both are unchanged the write was not the sync's (its run_seq is null).
    """
    seq = integer(new.get("sync_run_seq"))
    if not old:
        return seq
    for name in ("sync_run_seq", "last_sync_timestamp"):
        if not same_value(old.get(name), new.get(name)):
            return seq
    return None


def event_id(record: Mapping[str, Any], stream: Mapping[str, Any]) -> str:
    """A UUID stable across redeliveries of the same stream record."""
    key = record.get("eventID") or stream.get("SequenceNumber")
    if not key:
        raise StreamRecordError("stream record has neither eventID nor SequenceNumber")
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, str(key)))


def truncate(detail: Mapping[str, Any]) -> dict[str, Any]:
    """The oversized-detail rule: drop `asset`/`changes`, name the attributes instead."""
    payload = detail.get("changes") or {
        name: value for name, value in (detail.get("asset") or {}).items() if value is not None
    }
    kept = {name: value for name, value in detail.items() if name not in ("asset", "changes")}
    return {**kept, "truncated": True, "changed_attributes": sorted(payload)}


def _envelope(
    record: Mapping[str, Any], stream: Mapping[str, Any], old: Image, new: Image
) -> dict[str, Any]:
    """What every detail has."""
    keys = stream.get("Keys") or {}
    symbol = text(keys.get("symbol")) or text(new.get("symbol"))
    if symbol is None:
        raise StreamRecordError(f"stream record {record.get('eventID')!r} has no symbol key")
    return {
        "event_id": event_id(record, stream),
        "symbol": symbol,
        "asset_id": text(new.get("asset_id")) or text(old.get("asset_id")),
        "run_seq": run_seq(old, new),
        "sync_version": integer(new.get("sync_version")),
        "changed_at": _timestamp(stream.get("ApproximateCreationDateTime")),
    }


def _newly_set(old: Image, new: Image, name: str) -> bool:
    return text(new.get(name)) is not None and not same_value(old.get(name), new.get(name))


def _timestamp(value: object) -> str | None:
    """ISO 8601 UTC of the record's approximate creation time (Lambda: epoch seconds)."""
    if isinstance(value, datetime):
        moment = value.astimezone(UTC)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(value, UTC)
    else:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _warn_delete(record: Mapping[str, Any], stream: Mapping[str, Any]) -> None:
    keys = stream.get("Keys") or {}
    identity = record.get("userIdentity") or {}
    logger.warning(
        "item deleted outside the sync; no event (writers must not delete items: the sync "
        "marks them inactive)",
        extra={
            "symbol": text(keys.get("symbol")),
            "stream_event_id": record.get("eventID"),
            "deleted_by": identity.get("principalId") if isinstance(identity, Mapping) else None,
        },
    )

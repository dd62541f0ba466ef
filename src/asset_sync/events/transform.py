"""Stream records of `signal9_assets` to EventBridge entries: one event per real change.

Pure (no I/O but a warning log for deletes). A record yields at most one entry; which one is
decided by `asset_sync.events.classify` (docs/events.md, "Which write makes which event").
Every detail carries the envelope (`event_id`, `symbol`, `asset_id`, `run_seq`,
`sync_version`, `changed_at`, `reason`, `order`); each entry's `Time` is when the change was
recorded on the stream.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from asset_sync.dal.serialization import Image, integer, same_value, text
from asset_sync.events.classify import (
    ANNOUNCED_ATTRIBUTES,
    MANUAL,
    SYNC_MARKER,
    Announcement,
    classify,
    is_archive_key,
    moved_attributes,
)
from asset_sync.events.entries import (
    ASSET_REMOVED,
    MAX_ENTRY_BYTES,
    Entry,
    entry_size,
    make_entry,
)

__all__ = ["ANNOUNCED_ATTRIBUTES", "StreamRecordError", "events_of", "to_events"]

logger = logging.getLogger(__name__)

# Fixed forever: event ids are UUIDv5 of the stream record's eventID in this namespace.
EVENT_ID_NAMESPACE = uuid.UUID("9f3c2d57-6a41-4f0e-8b1d-3c5e7a2b9d10")


class StreamRecordError(ValueError):
    """A stream record this transform cannot read (malformed, or not NEW_AND_OLD_IMAGES)."""


def to_events(records: Iterable[Mapping[str, Any]]) -> list[Entry]:
    """PutEvents entries (without `EventBusName`) for DynamoDB stream records, in order."""
    return [entry for record in records for entry in events_of(record)]


def record_parts(
    record: Mapping[str, Any],
) -> tuple[str, Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]]:
    """A stream record's eventName, `dynamodb` and its new and old images (both empty for a
    REMOVE, the old one for an INSERT); StreamRecordError for a record that cannot be read
    (malformed, or a stream that is not NEW_AND_OLD_IMAGES). Both stream readers read so."""
    stream = record.get("dynamodb")
    if not isinstance(stream, Mapping):
        raise StreamRecordError(f"stream record {record.get('eventID')!r} has no `dynamodb`")
    name = record.get("eventName")
    if name == "REMOVE":
        return name, stream, {}, {}
    if name not in ("INSERT", "MODIFY"):
        raise StreamRecordError(f"stream record {record.get('eventID')!r}: eventName {name!r}")
    new = stream.get("NewImage")
    old = stream.get("OldImage") if name == "MODIFY" else {}
    if not isinstance(new, Mapping) or not isinstance(old, Mapping):
        raise StreamRecordError(
            f"stream record {record.get('eventID')!r} lacks its images: the table's stream "
            "must be NEW_AND_OLD_IMAGES"
        )
    return name, stream, new, old


def events_of(record: Mapping[str, Any]) -> list[Entry]:
    """The entries of one stream record: none or one."""
    name, stream, new, old = record_parts(record)
    if name == "REMOVE":
        return _removal(record, stream)
    key = record_key(record, stream, new)
    seq = run_seq(old, new)
    announced = classify(key, old, new, sync_write=seq is not None)
    if announced is None:
        return []
    detail = _envelope(record, stream, announced, key, (old, new), seq)
    if seq is not None:
        moved = moved_attributes(old, new)
        if moved is not None:
            detail["moved_attributes"] = moved
    return [_fitting_entry(announced.detail_type, detail, stream)]


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


def order_key(image: Image, version_step: int = 0) -> list[int]:
    """THE order key of an item's events: [`sync_run_seq` (0 if absent), `sync_version`]."""
    return [
        integer(image.get("sync_run_seq")) or 0,
        (integer(image.get("sync_version")) or 0) + version_step,
    ]


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


def _fitting_entry(detail_type: str, detail: dict[str, Any], stream: Mapping[str, Any]) -> Entry:
    """The entry, truncated if it is too large; an error if even that does not fit."""
    time = _epoch_seconds(stream.get("ApproximateCreationDateTime"))
    entry = make_entry(detail_type, detail, time)
    if entry_size(entry) > MAX_ENTRY_BYTES:
        entry = make_entry(detail_type, truncate(detail), time)
    if entry_size(entry) > MAX_ENTRY_BYTES:  # only a hand-written giant id or symbol gets here
        raise StreamRecordError(f"the event of {detail['symbol']!r} cannot fit in 256 KiB")
    return entry


def _envelope(
    record: Mapping[str, Any],
    stream: Mapping[str, Any],
    announced: Announcement,
    key: str,
    images: tuple[Image, Image],
    seq: int | None,
) -> dict[str, Any]:
    """What every detail has, then the announcement's own fields."""
    old, new = images
    return {
        "event_id": event_id(record, stream),
        "symbol": announced.symbol or key,
        "asset_id": text(new.get("asset_id")) or text(old.get("asset_id")),
        "run_seq": seq,
        "sync_version": integer(new.get("sync_version")),
        "changed_at": _timestamp(stream.get("ApproximateCreationDateTime")),
        "reason": announced.reason,
        "order": order_key(new),
        **announced.body,
    }


def _removal(record: Mapping[str, Any], stream: Mapping[str, Any]) -> list[Entry]:
    """A delete: `Asset Removed` for an item the sync wrote, nothing for another's."""
    old = stream.get("OldImage")
    key = record_key(record, stream, old or {})
    identity = record.get("userIdentity")
    removed_by = identity.get("principalId") if isinstance(identity, Mapping) else None
    logger.warning(
        "item deleted outside the sync (writers must not delete items: the sync marks them "
        "inactive)",
        extra={"symbol": key, "stream_event_id": record.get("eventID"), "deleted_by": removed_by},
    )
    if not isinstance(old, Mapping) or SYNC_MARKER not in old:
        return []  # another service's item, or a KEYS_ONLY stream: nothing the sync announced
    archived = {"archived_as": key} if is_archive_key(key) else {}
    symbol = (text(old.get("previous_symbol")) or key) if archived else key
    detail = {
        "event_id": event_id(record, stream),
        "symbol": symbol,
        "asset_id": text(old.get("asset_id")),
        "run_seq": None,
        "sync_version": None,
        "changed_at": _timestamp(stream.get("ApproximateCreationDateTime")),
        "reason": MANUAL,
        "order": order_key(old, version_step=1),
        "removed_by": str(removed_by) if removed_by is not None else None,
        **archived,
    }
    return [_fitting_entry(ASSET_REMOVED, detail, stream)]


def record_key(record: Mapping[str, Any], stream: Mapping[str, Any], image: Image) -> str:
    """The item's key (its symbol) a stream record is about: its Keys, else the image's."""
    keys = stream.get("Keys") or {}
    symbol = text(keys.get("symbol")) or text(image.get("symbol"))
    if symbol is None:
        raise StreamRecordError(f"stream record {record.get('eventID')!r} has no symbol key")
    return symbol


def _epoch_seconds(value: object) -> int | None:
    """The record's approximate creation time (Lambda: epoch seconds) as whole seconds."""
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    return None


def _timestamp(value: object) -> str | None:
    """ISO 8601 UTC of the record's approximate creation time."""
    seconds = _epoch_seconds(value)
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

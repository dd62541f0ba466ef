"""Versions of an asset: which write of the assets table makes one, and how one is stored.

Pure. A version is an asset's owned state (`status` and the catalog content) after one change,
with the ticker it had then, the run that made it and that run's start time, and why
(`catalog`, `repair`, `manual`). One comes from each stream record that changes an asset's home
item (docs/history.md, "Which write makes a version"); `depart` and `archive` writes, other
services' writes and writes that change nothing owned make none.

Stored in the history table: partition `shard` (a fixed hash of the asset id), sort key
`<asset_id>#<version>`, `symbol`, and `data` (the rest, one compact JSON string). `version`
orders an asset's versions: the run number, 12 digits; a hand edit sorts after the run it
followed (`<run>m<stream sequence number>`). A redelivered stream record makes the same key with
the same attributes, so it rewrites one version, never adds one.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asset_sync.contract import HISTORY_PARTITION_KEY, HISTORY_SORT_KEY
from asset_sync.dal.serialization import AttributeValue, Image, integer, same_value, text
from asset_sync.events.classify import CATALOG, MANUAL, REPAIR, SYNC_MARKER, is_archive_key
from asset_sync.events.transform import StreamRecordError, record_key, record_parts, run_seq
from asset_sync.logic.models import CONTENT_ATTRIBUTES

__all__ = [
    "CATALOG",
    "MANUAL",
    "REPAIR",
    "SHARDS",
    "STATE_ATTRIBUTES",
    "StreamRecordError",
    "Version",
    "shard_of",
    "version_of_item",
    "version_of_record",
]

# What a version keeps of the item: the asset's owned state (links and bookkeeping are not).
STATE_ATTRIBUTES: tuple[str, ...] = ("status", *CONTENT_ATTRIBUTES)
SHARDS = 32  # fixed forever: a change would move every stored version
# Writes that move an asset without changing its own state: its arrival makes the version.
NO_VERSION_ACTIONS = frozenset({"depart", "archive"})
RUN_DIGITS = 12


def shard_of(asset_id: str) -> str:
    """The partition of an asset's versions: the first 4 bytes of SHA-256, modulo SHARDS."""
    digest = hashlib.sha256(asset_id.encode("utf-8", errors="surrogatepass")).digest()
    return f"{int.from_bytes(digest[:4], 'big') % SHARDS:02d}"


def timestamp(moment: datetime) -> str:
    """ISO 8601 UTC with microseconds and `Z`, the form of `last_sync_timestamp`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now() -> datetime:
    """This machine's time, from `time.time()` as every wall-clock reading of the sync."""
    return datetime.fromtimestamp(time.time(), UTC)


def parse_time(value: str) -> datetime:
    """A stored time (`2026-12-01T04:00:00.000000Z`) as an aware datetime."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Version:
    """One version of an asset: its owned state after a change (DynamoDB JSON, exact)."""

    asset_id: str
    version: str
    symbol: str
    state: Mapping[str, AttributeValue]
    changed_at: str
    reason: str
    run_seq: int | None = None  # None: no sync run made it (a hand edit)
    sync_action: str | None = None
    removed: bool = False  # the item was deleted (by hand: writers never delete items)

    @property
    def sort_key(self) -> str:
        """The version's sort key: `<asset_id>#<version>`."""
        return f"{self.asset_id}#{self.version}"

    @property
    def key(self) -> dict[str, dict[str, str]]:
        """The version's key in the history table."""
        return {
            HISTORY_PARTITION_KEY: {"S": shard_of(self.asset_id)},
            HISTORY_SORT_KEY: {"S": self.sort_key},
        }

    def to_item(self) -> dict[str, AttributeValue]:
        """The history table's item: its keys, `symbol` (the ticker index's key) and `data`,
        one compact JSON string of the rest (`changed_at`, `reason`, `run_seq`,
        `sync_action`, `removed`, and `state` in DynamoDB JSON, exact). Four attributes an
        item: reading a year of versions parses four values each, not two dozen."""
        data: dict[str, Any] = {
            "changed_at": self.changed_at,
            "reason": self.reason,
            "run_seq": self.run_seq,
            "sync_action": self.sync_action,
            "state": dict(self.state),
        }
        if self.removed:
            data["removed"] = True
        return {
            **self.key,
            "symbol": {"S": self.symbol},
            "data": {"S": json.dumps(data, separators=(",", ":"), sort_keys=True)},
        }

    @classmethod
    def from_item(cls, item: Mapping[str, AttributeValue]) -> Version:
        """A version read back from the history table."""
        asset_id, version = str(item[HISTORY_SORT_KEY]["S"]).rsplit("#", 1)
        data = json.loads(item["data"]["S"])
        return cls(
            asset_id=asset_id,
            version=version,
            symbol=str(item["symbol"]["S"]),
            state=data["state"],
            changed_at=data["changed_at"],
            reason=data["reason"],
            run_seq=data.get("run_seq"),
            sync_action=data.get("sync_action"),
            removed=bool(data.get("removed", False)),
        )

    @property
    def status(self) -> str | None:
        """The asset's status in this version."""
        return text(self.state.get("status"))

    @property
    def asset_class(self) -> str | None:
        """The asset's class in this version."""
        return text(self.state.get("asset_class"))


def version_of_record(record: Mapping[str, Any]) -> Version | None:
    """The version one stream record (Lambda's shape) makes, or None; StreamRecordError for a
    record that cannot be read (malformed, or not NEW_AND_OLD_IMAGES)."""
    name, stream, new, old = record_parts(record)
    if name == "REMOVE":
        return _removal(record, stream)
    key = record_key(record, stream, new)
    asset_id = text(new.get("asset_id"))
    if SYNC_MARKER not in new or asset_id is None or not _home(new):
        return None  # another service's item, or an item the asset left (`renamed_to`)
    seq = run_seq(old, new)
    action = text(new.get("sync_action")) if seq is not None else None
    if action in NO_VERSION_ACTIONS or _unchanged(old, new):
        return None
    if seq is not None:
        return Version(
            asset_id=asset_id,
            version=f"{seq:0{RUN_DIGITS}d}",
            symbol=_ticker(key, new),
            state=_state(new),
            changed_at=text(new.get("last_sync_timestamp")) or _recorded_at(record, stream),
            reason=REPAIR if action == "repair" else CATALOG,
            run_seq=seq,
            sync_action=action,
        )
    return Version(  # a hand edit (no run made it): after the run that last wrote the item
        asset_id=asset_id,
        version=_edit_version(record, stream, new),
        symbol=_ticker(key, new),
        state=_state(new),
        changed_at=_recorded_at(record, stream),
        reason=MANUAL,
    )


def version_of_item(symbol: str, item: Mapping[str, AttributeValue], now: str) -> Version | None:
    """The version `asset-sync history backfill` records for an item as it is now: the state
    the run that last wrote it left (its number and start); None for an item that is no
    asset's home. `now` stands in for an item without `last_sync_timestamp`."""
    asset_id = text(item.get("asset_id"))
    if SYNC_MARKER not in item or asset_id is None or not _home(item):
        return None
    run = integer(item.get("sync_run_seq")) or 0
    action = text(item.get("sync_action"))
    return Version(
        asset_id=asset_id,
        version=f"{run:0{RUN_DIGITS}d}",
        symbol=_ticker(symbol, item),
        state=_state(item),
        changed_at=text(item.get("last_sync_timestamp")) or now,
        reason=REPAIR if action == "repair" else CATALOG,
        run_seq=run,
        sync_action=action,
    )


def _removal(record: Mapping[str, Any], stream: Mapping[str, Any]) -> Version | None:
    """A deleted home item: the asset has no item from then on (writers must not delete)."""
    old = stream.get("OldImage")
    if not isinstance(old, Mapping) or SYNC_MARKER not in old or not _home(old):
        return None
    asset_id = text(old.get("asset_id"))
    if asset_id is None:
        return None
    return Version(
        asset_id=asset_id,
        version=_edit_version(record, stream, old),
        symbol=_ticker(record_key(record, stream, old), old),
        state=_state(old),
        changed_at=_recorded_at(record, stream),
        reason=MANUAL,
        removed=True,
    )


def _home(image: Image) -> bool:
    """Whether the item represents its asset (an item the asset left names `renamed_to`)."""
    return text(image.get("renamed_to")) is None


def _state(image: Image) -> dict[str, AttributeValue]:
    return {name: image[name] for name in STATE_ATTRIBUTES if name in image}


def _unchanged(old: Image, new: Image) -> bool:
    """The same asset, on the same home, with the same owned state: nothing to record."""
    if not old or not _home(old):
        return False
    return all(same_value(old.get(name), new.get(name)) for name in STATE_ATTRIBUTES)


def _ticker(key: str, image: Image) -> str:
    """The ticker the asset had: the item's key, or an archive item's `previous_symbol`."""
    if not is_archive_key(key):
        return key
    ticker = text(image.get("previous_symbol"))
    if ticker is None:
        raise StreamRecordError(f"archive item {key!r} names no `previous_symbol`")
    return ticker


def _edit_version(record: Mapping[str, Any], stream: Mapping[str, Any], image: Image) -> str:
    """A hand edit's version: after the run that last wrote the item, ordered (within the
    item's shard of the stream) by the record's sequence number."""
    after = integer(image.get("sync_run_seq")) or 0
    sequence = str(stream.get("SequenceNumber") or record.get("eventID") or "")
    if not sequence:
        raise StreamRecordError("stream record has neither SequenceNumber nor eventID")
    return f"{after:0{RUN_DIGITS}d}m{sequence.zfill(40)}"


def _recorded_at(record: Mapping[str, Any], stream: Mapping[str, Any]) -> str:
    """When the stream recorded the write (a hand edit's time: no run started it)."""
    created = stream.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        return timestamp(created)
    if isinstance(created, int | float) and not isinstance(created, bool):
        return timestamp(datetime.fromtimestamp(float(created), UTC))
    raise StreamRecordError(
        f"stream record {record.get('eventID')!r} has no ApproximateCreationDateTime"
    )

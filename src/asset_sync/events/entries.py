"""PutEvents entries: the detail types, the size EventBridge counts, and request batches.

EventBridge counts an entry's size as the UTF-8 bytes of `Source`, `DetailType`, `Detail` and
each of `Resources`, plus 14 bytes if `Time` is set ("Calculating PutEvents event entry size",
EventBridge User Guide). An entry, and the sum of the entries of one request, must stay under
256 KiB; one request carries at most 10 entries.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from asset_sync.contract import EVENT_SOURCE, DetailType

SOURCE: str = EVENT_SOURCE
DETAIL_TYPES: tuple[str, ...] = tuple(DetailType)  # contract.DetailType, under their old names:
ASSET_LISTED, ASSET_UPDATED, ASSET_DELISTED, ASSET_REACTIVATED, ASSET_RENAMED, ASSET_REMOVED = (
    DETAIL_TYPES
)

MAX_ENTRIES_PER_REQUEST = 10
MAX_REQUEST_BYTES = 256 * 1024  # entries of one PutEvents request, summed as EventBridge counts
# An entry above this is truncated (see `transform.truncate`): 256 KiB less 8 KiB left for the
# envelope EventBridge wraps around the detail (id, time, account, region, resources, version).
MAX_ENTRY_BYTES = MAX_REQUEST_BYTES - 8 * 1024
TIME_FIELD_BYTES = 14

Entry = dict[str, Any]


def entry_size(entry: Mapping[str, Any]) -> int:
    """The size of one PutEvents entry as EventBridge counts it."""
    size = TIME_FIELD_BYTES if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        value = entry.get(name)
        if value is not None:
            size += len(str(value).encode("utf-8"))
    for resource in entry.get("Resources") or ():
        size += len(str(resource).encode("utf-8"))
    return size


def detail_json(detail: Mapping[str, Any]) -> str:
    """The `Detail` string: compact, keys sorted, non-ASCII kept as UTF-8 (fewer bytes)."""
    return json.dumps(detail, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def make_entry(detail_type: str, detail: Mapping[str, Any], time: int | None = None) -> Entry:
    """A PutEvents entry without `EventBusName` (the publisher adds it).

    `time` (epoch seconds) is the event's `Time`: when the change happened, not when it is
    published, so the archive's replay windows select changes by when they happened.
    """
    entry: Entry = {"Source": SOURCE, "DetailType": detail_type, "Detail": detail_json(detail)}
    if time is not None:
        entry["Time"] = time
    return entry


def request_batches(
    indexed: Iterable[tuple[int, Mapping[str, Any]]],
) -> Iterator[list[tuple[int, Mapping[str, Any]]]]:
    """Group (index, entry) pairs, in order, into requests of <= 10 entries and < 256 KiB."""
    batch: list[tuple[int, Mapping[str, Any]]] = []
    batch_bytes = 0
    for index, entry in indexed:
        size = entry_size(entry)
        if batch and (
            len(batch) == MAX_ENTRIES_PER_REQUEST or batch_bytes + size >= MAX_REQUEST_BYTES
        ):
            yield batch
            batch, batch_bytes = [], 0
        batch.append((index, entry))
        batch_bytes += size
    if batch:
        yield batch

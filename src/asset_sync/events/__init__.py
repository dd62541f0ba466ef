"""Change events: the assets table's stream turned into EventBridge events (docs/events.md).

`to_events` is pure; `asset_sync.events.handler.lambda_handler` publishes its output.
"""

from asset_sync.events.entries import (
    ASSET_DELISTED,
    ASSET_LISTED,
    ASSET_REACTIVATED,
    ASSET_REMOVED,
    ASSET_RENAMED,
    ASSET_UPDATED,
    DETAIL_TYPES,
    SOURCE,
)
from asset_sync.events.transform import StreamRecordError, to_events

__all__ = [
    "ASSET_DELISTED",
    "ASSET_LISTED",
    "ASSET_REACTIVATED",
    "ASSET_REMOVED",
    "ASSET_RENAMED",
    "ASSET_UPDATED",
    "DETAIL_TYPES",
    "SOURCE",
    "StreamRecordError",
    "to_events",
]

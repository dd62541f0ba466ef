"""Point-in-time history of every asset, kept from the assets table's stream (docs/history.md).

`universe_as_of` and `asset_history` answer from Python what `asset-sync universe --as-of` and
`asset-sync show SYMBOL --history` answer on the command line. (They are imported on first use:
the data layer imports this package's pure modules.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asset_sync.history.model import Asset, HistoryError, HistoryNotBegunError, Moment, Step
from asset_sync.history.versions import Version

if TYPE_CHECKING:
    from asset_sync.history.api import History, asset_history, universe_as_of

_API = frozenset({"History", "asset_history", "universe_as_of"})


def __getattr__(name: str) -> Any:
    if name in _API:
        from asset_sync.history import api  # noqa: PLC0415 - the data layer imports us

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Asset",
    "History",
    "HistoryError",
    "HistoryNotBegunError",
    "Moment",
    "Step",
    "Version",
    "asset_history",
    "universe_as_of",
]

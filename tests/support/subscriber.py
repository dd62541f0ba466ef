"""A downstream service that follows docs/events.md ("Order, duplicates and replays").

It keeps, per item, the highest `order` it applied and ignores any event whose `order` is not
higher (a duplicate, a replay, or an older event delivered late); `Asset Removed` leaves a
tombstone that keeps its order, so a late event from before the delete cannot revive the item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REMOVED = "Asset Removed"


@dataclass
class Subscriber:
    """A copy of the announced state of each item, built from events only."""

    assets: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    applied: dict[str, tuple[int, int]] = field(default_factory=dict)
    ignored: int = 0

    def apply(self, event: dict[str, Any]) -> None:
        """Apply one delivered event (as EventBridge delivers it to a target)."""
        detail = event["detail"]
        item = detail.get("archived_as") or detail["symbol"]
        order = (detail["order"][0], detail["order"][1])
        if order <= self.applied.get(item, (-1, -1)):
            self.ignored += 1
            return
        self.applied[item] = order
        if event["detail-type"] == REMOVED:
            self.assets[item] = None
        elif "asset" in detail:
            self.assets[item] = dict(detail["asset"])
        else:
            state = dict(self.assets.get(item) or {})
            state.update({name: change["new"] for name, change in detail["changes"].items()})
            self.assets[item] = state

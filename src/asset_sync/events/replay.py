"""Publishing quarantined records again, once the cause is fixed (`asset-sync events replay`).

Each quarantined stream record is turned into its event by today's code (a transform bug fixed
since is then fixed for it too), with the same `event_id`, and published; each object whose
event was published, or that no longer announces anything, is deleted. What still cannot be
read, is refused, or is not published before the deadline remains, with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from asset_sync.events.clock import Deadline
from asset_sync.events.entries import Entry
from asset_sync.events.publisher import Publisher
from asset_sync.events.quarantine import Quarantine, Quarantined
from asset_sync.events.transform import events_of

PUBLISHED, WOULD_PUBLISH, NO_EVENT, REMAINS = "published", "would publish", "no event", "remains"


@dataclass
class ReplayItem:
    """One quarantined record and what the replay did with it."""

    key: str
    reason: str
    quarantined_at: str
    outcome: str = REMAINS
    detail_type: str | None = None
    symbol: str | None = None
    event_id: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The report form."""
        return {
            "key": self.key,
            "reason": self.reason,
            "quarantined_at": self.quarantined_at,
            "outcome": self.outcome,
            "detail_type": self.detail_type,
            "symbol": self.symbol,
            "event_id": self.event_id,
            "error": self.error,
        }


@dataclass
class ReplayReport:
    """What one replay found and did."""

    dry_run: bool
    items: list[ReplayItem] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        """How many items ended with `outcome`."""
        return sum(item.outcome == outcome for item in self.items)

    @property
    def remaining(self) -> int:
        """Objects still in the quarantine after this replay."""
        if self.dry_run:
            return len(self.items)
        return self.count(REMAINS)

    def to_json(self) -> dict[str, Any]:
        """The counts and every item."""
        return {
            "dry_run": self.dry_run,
            "quarantined": len(self.items),
            "published": self.count(PUBLISHED),
            "would_publish": self.count(WOULD_PUBLISH),
            "no_event": self.count(NO_EVENT),
            "remaining": self.remaining,
            "items": [item.to_json() for item in self.items],
        }


def replay(
    quarantine: Quarantine, publisher: Publisher, deadline: Deadline, dry_run: bool
) -> ReplayReport:
    """Publish every quarantined record's event (or, with `dry_run`, say what would happen)."""
    kept_records = (quarantine.get(key) for key in quarantine.object_keys())
    stored = sorted(kept_records, key=Quarantined.sort_key)
    report = ReplayReport(dry_run=dry_run)
    ready: list[tuple[ReplayItem, Entry]] = []
    for kept in stored:
        item = ReplayItem(kept.key, kept.reason, kept.quarantined_at)
        report.items.append(item)
        try:
            entries = events_of(kept.record) if kept.record else _stored_entries(kept)
        except Exception as error:  # today's code still cannot read it
            item.error = f"{type(error).__name__}: {error}"
            continue
        if not entries:
            item.outcome = NO_EVENT if dry_run else _deleted(quarantine, kept.key, NO_EVENT)
            continue
        entry = entries[0]
        detail = json.loads(entry["Detail"])
        item.detail_type, item.symbol = entry["DetailType"], detail.get("symbol")
        item.event_id = detail.get("event_id")
        if dry_run:
            item.outcome = WOULD_PUBLISH
        else:
            ready.append((item, entry))
    if ready:
        outcome = publisher.publish([entry for _, entry in ready], deadline)
        for index, (item, _) in enumerate(ready):
            if index in outcome.published:
                item.outcome = _deleted(quarantine, item.key, PUBLISHED)
            else:
                item.error = outcome.refused.get(index) or outcome.pending.get(index)
    return report


def _stored_entries(kept: Quarantined) -> list[Entry]:
    """The entry as quarantined, for an object that holds no stream record."""
    if kept.entry is None:
        raise ValueError("the object holds neither a stream record nor an event entry")
    return [kept.entry]


def _deleted(quarantine: Quarantine, key: str, outcome: str) -> str:
    quarantine.delete(key)
    return outcome

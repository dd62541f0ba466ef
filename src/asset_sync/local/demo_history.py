"""The demo's history: the real history writer on the stream records the demo reads, and the
difference between the universe as of day 1 and as of day 2.

The demo's "days" are minutes apart, so "as of day N" is the moment day N's versions were
written (an ISO time to the microsecond), the question `asset-sync universe --as-of TIME` asks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from asset_sync.config import SyncSettings
from asset_sync.dal.client import dynamodb_client
from asset_sync.dal.history import HistoryTable
from asset_sync.events.clock import Deadline, SystemClock
from asset_sync.history.api import History
from asset_sync.history.backfill import backfill
from asset_sync.history.model import Asset, difference, parse_moment
from asset_sync.history.versions import now, timestamp
from asset_sync.history.writer import Writer, process
from asset_sync.logic.models import CONTENT_ATTRIBUTES

SHOWN = 3  # examples per kind of difference
Describe = Callable[..., str]


@dataclass
class DemoHistory:
    """The history table beside the demo's tables, and the moment each day ended."""

    reader: History
    writer: Writer
    ends: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, settings: SyncSettings) -> DemoHistory:
        """Create the history table and let history begin (a backfill of the empty table)."""
        client = dynamodb_client(settings.region, settings.dynamodb_endpoint_url)
        table = HistoryTable(client, f"{settings.assets_table}_history")
        table.create()
        backfill(client, settings.assets_table, table, timestamp(now()))
        return cls(History(table), Writer(table, SystemClock()))

    def day(self, records: Sequence[Mapping[str, Any]], describe: Describe) -> str:
        """The day's events (`describe`), then its versions, written by the history writer."""
        outcome = process(records, self.writer, Deadline.after(self.writer.clock, 600))
        self.ends.append(timestamp(now()))
        return (
            f"{describe(records, label='events')}\n"
            f"history: {outcome.written:,} versions written, {outcome.ignored:,} records make "
            f"none (the departures of renames, other services' writes)"
            + (f", {outcome.failed + outcome.quarantined} NOT written" if outcome.failed else "")
        )

    def universe(self, end: str) -> list[Asset]:
        return self.reader.universe(parse_moment(end, now()))

    def describe_difference(self) -> str:
        """`universe --as-of` day 1 and day 2, and what differs (a few of each kind)."""
        day1, day2 = self.universe(self.ends[0]), self.universe(self.ends[1])
        change = difference(day1, day2)
        lines = [
            f"\n== the universe as of day 1 ({self.ends[0]}): {len(day1):,} active assets; "
            f"as of day 2 ({self.ends[1]}): {len(day2):,}",
            f"  entered {len(change.entered):,}, left {len(change.left):,}, moved to another "
            f"ticker {len(change.moved):,}, changed otherwise "
            f"{sum(1 for _, f in change.changed if f):,}",
        ]
        lines += [f"  + {a.symbol} ({a.name})" for a in change.entered[:SHOWN]]
        lines += [f"  - {a.symbol} ({a.name})" for a in change.left[:SHOWN]]
        lines += [f"  ~ {a.symbol} -> {b.symbol} (same asset)" for a, b in change.moved]
        edits = [(a, f) for a, f in change.changed if set(f) & set(CONTENT_ATTRIBUTES)]
        lines += [f"  * {a.symbol}: {', '.join(f)}" for a, f in edits[:SHOWN]]
        return "\n".join(lines)

    def check(self, active: set[str]) -> list[str]:
        """The universe as of now is the table's active assets."""
        tickers = {asset.symbol for asset in self.universe(timestamp(now()))}
        if tickers != active:
            return [
                f"the history's universe differs from the table: {len(tickers - active)} "
                f"more, {len(active - tickers)} fewer"
            ]
        return []

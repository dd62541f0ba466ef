"""Days of real syncs with the real history writer, for issue 24's tests.

Each day a real sync runs against moto's server and the Alpaca stand-in on a simulated clock
(`time.time()` reads the day, as `tests/support/skewed_clock.py` shifts it for a child), the
table's stream records (read from moto's stream, `TableStream`) go through a double of Lambda's
event source mapping (`StreamMapping`) to the real history handler, and other writers may edit
items by hand in between. `table_universe` is the oracle: each asset's home item in a snapshot
of the assets table (docs/identity.md's rule), independent of the history code.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools.metrics.provider import cold_start
from tests.support import Env
from tests.support.sim_clock import SimClock
from tests.support.stream_mapping import StreamMapping

from asset_sync.dal.client import dynamodb_client
from asset_sync.dal.history import HistoryTable
from asset_sync.dal.serialization import deserialize
from asset_sync.history import handler
from asset_sync.history.api import History
from asset_sync.history.backfill import BackfillReport, backfill
from asset_sync.history.model import Asset
from asset_sync.history.versions import STATE_ATTRIBUTES, timestamp
from asset_sync.history.writer import Writer
from asset_sync.local.stream import TableStream
from asset_sync.logic.models import ACTIVE, ARCHIVE_PREFIX
from asset_sync.logic.report import RunReport
from asset_sync.wiring import build_run

FIRST_DAY = date(2026, 11, 2)  # a Monday, before today on any machine running this
SYNC_HOUR = 4

# An asset as the oracle and the universe describe it: its ticker, then its owned state.
Seen = tuple[str, dict[str, Any]]


def at(day: date, hour: int = SYNC_HOUR, minute: int = 0) -> float:
    """Epoch seconds of `day` at hh:mm UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC).timestamp()


@dataclass
class Days:
    """The tables, the stream, the mapping double running the history handler, the clock."""

    env: Env
    history: HistoryTable
    stream: TableStream
    clock: SimClock
    mapping: StreamMapping
    snapshots: dict[date, dict[str, Seen]] = field(default_factory=dict)
    day: date = FIRST_DAY

    def at(self, day: date, hour: int = SYNC_HOUR, minute: int = 0) -> None:
        """Move the clock forward to `day` hh:mm UTC."""
        self.day = day
        self.clock.advance(at(day, hour, minute) - self.clock.time())

    def backfill(self) -> BackfillReport:
        """`asset-sync history backfill` (in process) at the clock's time."""
        started = timestamp(datetime.fromtimestamp(time.time(), UTC))
        return backfill(
            self.env.assets.client, self.env.settings.assets_table, self.history, started
        )

    def sync(self, catalog: list[dict[str, Any]], **settings: Any) -> RunReport:
        """One real sync of `catalog` (the guard forced: the test's days delist freely)."""
        self.env.stand_in.set_assets(catalog)
        return build_run(replace(self.env.settings, force=True, **settings)).run()

    def deliver(self) -> list[dict[str, Any]]:
        """The new stream records, through the mapping to the history handler, until done."""
        records = self.stream.read_new()
        self.mapping.put(records)
        self.mapping.run()
        return records

    def redeliver(self, count: int) -> None:
        """Lambda hands the last `count` records over again, exactly as they were."""
        self.mapping.records.extend(copy.deepcopy(self.mapping.records[-count:]))
        self.mapping.run()

    def hand_edit(self, symbol: str, **values: Any) -> None:
        """A person sets owned attributes and bumps `sync_version`, as the writer rules ask."""
        names = {f"#n{i}": name for i, name in enumerate(values)}
        sets = [f"#n{i} = :v{i}" for i in range(len(values))]
        self.env.assets.client.update_item(
            TableName=self.env.settings.assets_table,
            Key={"symbol": {"S": symbol}},
            UpdateExpression="SET " + ", ".join([*sets, "sync_version = sync_version + :one"]),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                **{f":v{i}": _attribute(v) for i, v in enumerate(values.values())},
                ":one": {"N": "1"},
            },
        )

    def end_of_day(self) -> dict[str, Seen]:
        """The table as it stands, kept as this day's snapshot."""
        self.snapshots[self.day] = table_universe(self.env.snapshot())
        return self.snapshots[self.day]

    def reader(self) -> History:
        return History(self.history)

    def universe(self, when: date | datetime, *, all_statuses: bool = True) -> dict[str, Seen]:
        """The history's universe as of `when`, in the oracle's terms."""
        assets = self.reader().universe_as_of(when, all_statuses=all_statuses)
        return {asset.asset_id: seen(asset) for asset in assets}

    def version_count(self) -> int:
        return len(self.history.versions())


def _attribute(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    return {"S": str(value)}


def seen(asset: Asset) -> Seen:
    """An Asset of the universe as (ticker, owned state), absent attributes left out."""
    state = {name: getattr(asset, name) for name in STATE_ATTRIBUTES}
    state = {n: v for n, v in state.items() if v is not None and v != ()}
    return asset.symbol, state


def table_universe(items: Mapping[str, Mapping[str, Any]]) -> dict[str, Seen]:
    """Each asset's home in a snapshot of the assets table (raw items by key): its active item,
    else the one it did not leave (no `renamed_to`); the ticker is the key, or an archive
    item's `previous_symbol`."""
    holders: dict[str, list[str]] = {}
    for key, item in items.items():
        if "sync_hash" in item and "S" in item.get("asset_id", {}):
            holders.setdefault(item["asset_id"]["S"], []).append(key)
    out: dict[str, Seen] = {}
    for asset_id, keys in holders.items():
        active = [k for k in keys if items[k].get("status", {}).get("S") == ACTIVE]
        homes = active or [k for k in keys if "renamed_to" not in items[k]]
        assert len(homes) == 1, f"{asset_id}: homes {homes} among {keys}"
        key = homes[0]
        home = items[key]
        ticker = home["previous_symbol"]["S"] if key.startswith(ARCHIVE_PREFIX) else key
        state = {name: deserialize(home[name]) for name in STATE_ATTRIBUTES if name in home}
        out[asset_id] = (ticker, {n: v for n, v in state.items() if v != ()})
    return out


def start(
    env: Env,
    monkeypatch: pytest.MonkeyPatch,
    *,
    writer_endpoint: str | None = None,
    create: bool = True,
) -> Days:
    """A history table beside `env`'s tables (unless not `create`), the stream read from its
    start, the handler behind the mapping double (its writer's requests to `writer_endpoint`,
    a fault proxy, when given), and every clock on the first day."""
    clock = SimClock(start=at(FIRST_DAY, 3))
    monkeypatch.setattr(time, "time", clock.time)
    name = f"{env.settings.assets_table}_history"
    history = HistoryTable(dynamodb_client("us-east-1", env.settings.dynamodb_endpoint_url), name)
    if create:
        history.create()
    endpoint = writer_endpoint or env.settings.dynamodb_endpoint_url
    writer = Writer(HistoryTable(handler.writer_client(endpoint), name), clock, random.Random(24))
    handler.writer.cache_clear()
    monkeypatch.setattr(handler, "writer", lambda: writer)
    cold_start.is_cold_start = True
    stream = TableStream(env.settings.assets_table, env.settings.dynamodb_endpoint_url)
    env.settings = replace(env.settings, full_reconcile_days=0)  # full only when asked
    return Days(env, history, stream, clock, StreamMapping(handler.lambda_handler, clock))


def next_day(day: date) -> date:
    return day + timedelta(days=1)

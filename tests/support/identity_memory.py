"""The identity harness over the in-memory store: the real planning, identity rule and applier,
with every write recorded as a DynamoDB stream record and turned into events by the consumer's
own transform. Fast enough for property tests; tests/integration drives the same rules through
the CLI, moto's server and the Alpaca stand-in.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from tests.support.memory_store import MemoryStore

from asset_sync.dal.assets import state_from_item
from asset_sync.dal.serialization import serialize_item
from asset_sync.events.transform import to_events
from asset_sync.logic.apply import PlanApplier, RunIdentity
from asset_sync.logic.identity import block_unconfirmed, resolve_identity
from asset_sync.logic.identity_reads import read_for_identity
from asset_sync.logic.models import StoredValue
from asset_sync.logic.planning import build_plan
from asset_sync.logic.validation import validate_catalog

Event = tuple[str, dict[str, Any]]


class StreamedStore(MemoryStore):
    """A MemoryStore whose every landed write appends stream records (NEW_AND_OLD_IMAGES)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict[str, Any]] = []

    @contextmanager
    def _streamed(self) -> Iterator[None]:
        before = copy.deepcopy(self.items)
        yield
        for symbol in sorted(set(before) | set(self.items)):
            old, new = before.get(symbol), self.items.get(symbol)
            if old != new:
                self._record(symbol, old, new)

    def _record(
        self,
        symbol: str,
        old: Mapping[str, StoredValue] | None,
        new: Mapping[str, StoredValue] | None,
    ) -> None:
        sequence = f"{len(self.records) + 1:021d}"
        stream: dict[str, Any] = {
            "Keys": {"symbol": {"S": symbol}},
            "SequenceNumber": sequence,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
            "ApproximateCreationDateTime": 1_790_000_000 + len(self.records),
        }
        if new is not None:
            stream["NewImage"] = serialize_item(new)
        if old is not None:
            stream["OldImage"] = serialize_item(old)
        name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        self.records.append({"eventID": f"event-{sequence}", "eventName": name, "dynamodb": stream})

    def put_new(self, item: Mapping[str, StoredValue]) -> None:
        with self._streamed():
            super().put_new(item)

    def update_owned(self, *args: Any, **kwargs: Any) -> None:
        with self._streamed():
            super().update_owned(*args, **kwargs)

    def transact(self, *args: Any, **kwargs: Any) -> None:
        with self._streamed():
            super().transact(*args, **kwargs)


class MemoryIdentityHarness:
    """`IdentityHarness` (tests/support/identity_harness.py) over a StreamedStore."""

    def __init__(self) -> None:
        self.store = StreamedStore()
        self.run_seq = 0

    def sync(self, records: Sequence[Mapping[str, Any]]) -> list[Event]:
        """One run: plan, apply the identity rule, confirm every delisting, apply (forced)."""
        self.run_seq += 1
        seq, store = self.run_seq, self.store
        catalog = validate_catalog(json.dumps(list(records)).encode())
        plan = build_plan(catalog, store.states(), seq)
        items = read_for_identity(store, plan)
        resolution = resolve_identity(plan, catalog, items)
        plan = resolution.plan
        confirmed = [i.symbol for i in plan.delists]
        confirmed += [m.source or "" for g in plan.groups for m in g.delistings]
        plan = block_unconfirmed(plan, confirmed)
        first = len(store.records)
        run = RunIdentity(seq, f"2026-12-{seq:02d}T04:00:00.000000Z")
        applier = PlanApplier(store, state_from_item, run, concurrency=1, writes_per_second=1e9)
        outcome = applier.apply(plan.writes, items, plan.groups)
        assert not outcome.failures, outcome.failures
        return [
            (entry["DetailType"], json.loads(entry["Detail"]))
            for entry in to_events(store.records[first:])
        ]

    def put_foreign(self, symbol: str, name: str, value: str) -> None:
        """Another service's UpdateItem SET of one attribute (no sync attribute changes)."""
        with self.store._streamed():
            self.store.items[symbol][name] = value

    def table(self) -> dict[str, dict[str, Any]]:
        """Every item, plain values."""
        return copy.deepcopy(self.store.items)  # type: ignore[return-value]

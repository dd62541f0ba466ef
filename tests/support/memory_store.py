"""An in-memory AssetStore as strict as DynamoDB, for pure tests of planning and applying.

Every write goes through the data layer's serializer (so a value DynamoDB would reject, such as
None, a float or a list, fails here too) and every condition is evaluated the way the real data
layer phrases it: expected values compared exactly (numbers by value, other types by type and
value), absent means absent, and the run-number fence on `sync_run_seq`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal

from asset_sync.dal.assets import state_from_item
from asset_sync.dal.errors import ConditionFailedError
from asset_sync.dal.serialization import deserialize_item, serialize_item
from asset_sync.logic.models import ACTIVE, INACTIVE, CurrentState, OwnedValue, StoredValue

PLAN_READ = ("symbol", "status", "sync_hash", "asset_class")  # dal.assets' projection


def _stored_equal(stored: StoredValue | None, expected: StoredValue | None) -> bool:
    if expected is None or stored is None:
        return expected is None and stored is None
    if isinstance(stored, Decimal) or isinstance(expected, Decimal):
        return type(stored) is type(expected) and stored == expected
    return type(stored) is type(expected) and stored == expected


class MemoryStore:
    """Items by symbol; writes follow the same conditions the real data layer sends."""

    def __init__(self, items: Mapping[str, Mapping[str, StoredValue]] | None = None) -> None:
        self.items: dict[str, dict[str, StoredValue]] = {
            symbol: deserialize_item(serialize_item(item)) for symbol, item in (items or {}).items()
        }
        self.writes = 0

    def states(self) -> dict[str, CurrentState]:
        """What a plain run's read returns: the same projection, no whole values."""
        return {
            symbol: state_from_item(
                symbol, {k: v for k, v in item.items() if k in PLAN_READ}, whole=False
            )
            for symbol, item in self.items.items()
            if item.get("status") in (ACTIVE, INACTIVE)
        }

    def whole_states(self) -> dict[str, CurrentState]:
        """What a full reconciliation's read returns (every stored value)."""
        return {
            symbol: state_from_item(symbol, item)
            for symbol, item in self.items.items()
            if item.get("status") in (ACTIVE, INACTIVE)
        }

    def get_item(self, symbol: str) -> dict[str, StoredValue] | None:
        item = self.items.get(symbol)
        return copy.deepcopy(item) if item is not None else None

    def get_items(self, symbols: list[str]) -> dict[str, dict[str, StoredValue]]:
        return {s: copy.deepcopy(self.items[s]) for s in symbols if s in self.items}

    def put_new(self, item: Mapping[str, OwnedValue]) -> None:
        self.writes += 1
        stored = deserialize_item(serialize_item(item))
        symbol = str(stored["symbol"])
        if symbol in self.items:
            raise ConditionFailedError(symbol)
        self.items[symbol] = stored

    def update_owned(
        self,
        symbol: str,
        set_values: Mapping[str, OwnedValue],
        remove: list[str] | tuple[str, ...],
        expected: Mapping[str, StoredValue | None],
        run_seq: int,
    ) -> None:
        self.writes += 1
        new_values = deserialize_item(serialize_item(set_values))
        item = self.items.get(symbol)
        if item is None:
            raise ConditionFailedError(symbol)
        for name, old in expected.items():
            if not _stored_equal(item.get(name), old):
                raise ConditionFailedError(symbol)
        stored_seq = item.get("sync_run_seq")
        if isinstance(stored_seq, Decimal) and stored_seq > run_seq:
            raise ConditionFailedError(symbol)
        item.update(new_values)
        for name in remove:
            item.pop(name, None)

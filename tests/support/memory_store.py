"""An in-memory AssetStore with DynamoDB's conditional-write semantics, for pure tests."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal

from asset_sync.dal.assets import state_from_item
from asset_sync.dal.errors import ConditionFailedError
from asset_sync.logic.models import ACTIVE, INACTIVE, CurrentState, OwnedValue


class MemoryStore:
    """Items by symbol; writes follow the same conditions the real data layer sends."""

    def __init__(self, items: Mapping[str, dict[str, OwnedValue]] | None = None) -> None:
        self.items: dict[str, dict[str, OwnedValue]] = copy.deepcopy(dict(items or {}))
        self.writes = 0

    def states(self) -> dict[str, CurrentState]:
        """What the status-index query would return."""
        return {
            symbol: state_from_item(symbol, item)
            for symbol, item in self.items.items()
            if item.get("status") in (ACTIVE, INACTIVE)
        }

    def get_item(self, symbol: str) -> dict[str, OwnedValue] | None:
        item = self.items.get(symbol)
        return copy.deepcopy(item) if item is not None else None

    def get_items(self, symbols: list[str]) -> dict[str, dict[str, OwnedValue]]:
        return {s: copy.deepcopy(self.items[s]) for s in symbols if s in self.items}

    def put_new(self, item: Mapping[str, OwnedValue]) -> None:
        self.writes += 1
        symbol = str(item["symbol"])
        if symbol in self.items:
            raise ConditionFailedError(symbol)
        self.items[symbol] = {**item, "sync_version": Decimal(1)}

    def update_owned(
        self,
        symbol: str,
        set_values: Mapping[str, OwnedValue],
        remove: list[str] | tuple[str, ...],
        expected: Mapping[str, OwnedValue | None],
        expected_version: int,
    ) -> None:
        self.writes += 1
        item = self.items.get(symbol)
        if item is None:
            raise ConditionFailedError(symbol)
        version = item.get("sync_version")
        if (int(version) if isinstance(version, Decimal) else 0) != expected_version:
            raise ConditionFailedError(symbol)
        for name, old in expected.items():
            if item.get(name) != old:
                raise ConditionFailedError(symbol)
        item.update(set_values)
        for name in remove:
            item.pop(name, None)
        item["sync_version"] = Decimal(expected_version + 1)

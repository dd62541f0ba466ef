"""An in-memory AssetStore (logic.ports) as strict as DynamoDB, for pure tests of planning,
applying and whole runs (`SyncRun` with tests/support/memory_state.py).

Every write goes through the data layer's serializer (so a value DynamoDB would reject, such as
None, a float or a list, fails here too) and then through DynamoDB's own validation rules: a
number must be finite, have at most 38 significant digits and lie within DynamoDB's range; the
key must be a non-empty string and an update may not set it; one update may not SET and REMOVE
the same attribute, nor write nothing. Every condition is evaluated the way the real data layer
phrases it: expected values compared exactly (numbers by value, other types by type and value),
absent means absent, and the run-number fence on `sync_run_seq`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Context, Decimal
from typing import Any

from asset_sync.dal.assets import PLAN_PROJECTION
from asset_sync.dal.serialization import deserialize_item, serialize_item
from asset_sync.logic.item_writes import GroupWrite, NewItem
from asset_sync.logic.models import ACTIVE, INACTIVE, CurrentState, StoredValue, state_from_item
from asset_sync.logic.ports import ConditionFailedError

PLAN_READ = ("symbol", "status", "sync_hash", "asset_class")  # what states() keeps
ACTIVE_READ = ("symbol", "sync_hash", "asset_class")  # dal.assets' status-index projection
KEY = "symbol"
MAX_NUMBER_DIGITS = 38
SMALLEST_NUMBER, LARGEST_NUMBER = (
    Decimal("1E-130"),
    Decimal("9.9999999999999999999999999999999999999E+125"),
)


class ValidationError(ValueError):
    """What DynamoDB answers with `ValidationException`: the request is malformed."""


def _check_value(name: str, value: Mapping[str, Any]) -> None:
    """Raise ValidationError for an attribute value DynamoDB would refuse."""
    if not name:
        raise ValidationError("an attribute name is empty")
    numbers = [value["N"]] if "N" in value else list(value.get("NS", []))
    for text in numbers:
        number = Decimal(text)
        if not number.is_finite():
            raise ValidationError(f"{name}: {text!r} is not a number DynamoDB stores")
        digits = len(number.normalize(Context(prec=100)).as_tuple().digits)
        if not number.is_zero() and (
            digits > MAX_NUMBER_DIGITS or not SMALLEST_NUMBER <= abs(number) <= LARGEST_NUMBER
        ):
            raise ValidationError(f"{name}: {text!r} is outside DynamoDB's number range")
    for inner in value.get("L", []):
        _check_value(name, inner)


def _validated(item: Mapping[str, StoredValue]) -> dict[str, StoredValue]:
    """The item as DynamoDB would store it, or ValidationError."""
    serialized = serialize_item(item)
    for name, value in serialized.items():
        _check_value(name, value)
    return deserialize_item(serialized)


def _no_check() -> None:
    """No lease applies (outside `guard_writes`)."""


def _stored_equal(stored: StoredValue | None, expected: StoredValue | None) -> bool:
    """`attribute_not_exists` for None, else DynamoDB's `=` (numbers by value, same type)."""
    if expected is None or stored is None:
        return expected is None and stored is None
    return type(stored) is type(expected) and stored == expected


class MemoryStore:
    """Items by symbol; writes follow the same conditions the real data layer sends."""

    def __init__(self, items: Mapping[str, Mapping[str, StoredValue]] | None = None) -> None:
        self.items: dict[str, dict[str, StoredValue]] = {
            symbol: _validated(item) for symbol, item in (items or {}).items()
        }
        self.writes = 0
        self.requests = 0  # every call (there are no retries in memory)
        self.retries = 0
        self.guard: Callable[[], None] = _no_check

    @property
    def stats(self) -> MemoryStore:
        """The request counts (the store counts its own calls)."""
        return self

    @contextmanager
    def guard_writes(self, check: Callable[[], None]) -> Iterator[None]:
        """`check` before every write while the block runs (dal's before-send)."""
        self.guard = check
        try:
            yield
        finally:
            self.guard = _no_check

    def read_active(
        self,
        *,
        whole: bool = False,
        keep_values: Callable[[str, Mapping[str, StoredValue]], bool] | None = None,
    ) -> dict[str, CurrentState]:
        """The status index: active items, projected as dal.assets projects them."""
        self.requests += 1
        states = {}
        for symbol, item in sorted(self.items.items()):
            if item.get("status") != ACTIVE:
                continue
            seen = dict(item) if whole else {k: v for k, v in item.items() if k in ACTIVE_READ}
            keep = whole and (keep_values is None or keep_values(symbol, seen))
            states[symbol] = state_from_item(symbol, {**seen, "status": ACTIVE}, whole=keep)
        return states

    def states_of(self, symbols: Iterable[str], *, whole: bool = False) -> dict[str, CurrentState]:
        """The planning view of the named items (dal.assets' projection unless `whole`)."""
        wanted = list(dict.fromkeys(symbols))
        self.requests += 1 if wanted else 0  # BatchGetItem: no keys, no request
        found = {}
        for symbol in wanted:
            item = self.items.get(symbol)
            if item is not None:
                seen = item if whole else {k: v for k, v in item.items() if k in PLAN_PROJECTION}
                found[symbol] = state_from_item(symbol, copy.deepcopy(seen), whole=whole)
        return found

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
        self.requests += 1
        item = self.items.get(symbol)
        return copy.deepcopy(item) if item is not None else None

    def get_items(self, symbols: Iterable[str]) -> dict[str, dict[str, StoredValue]]:
        symbols = list(symbols)
        self.requests += 1 if symbols else 0  # BatchGetItem: no keys, no request
        return {s: copy.deepcopy(self.items[s]) for s in symbols if s in self.items}

    def holders_of(self, asset_ids: Collection[str]) -> dict[str, list[str]]:
        """The asset-id index: the symbols of the items storing each id (a Query per id)."""
        self.requests += len(set(asset_ids))
        found: dict[str, list[str]] = {}
        for symbol, item in sorted(self.items.items()):
            if item.get("asset_id") in asset_ids:
                found.setdefault(str(item["asset_id"]), []).append(symbol)
        return found

    def put_new(self, item: Mapping[str, StoredValue]) -> None:
        self.guard()
        self.requests += 1
        self.writes += 1
        self._put(self.items, item)

    def update_owned(
        self,
        symbol: str,
        set_values: Mapping[str, StoredValue],
        remove: list[str] | tuple[str, ...],
        expected: Mapping[str, StoredValue | None],
        run_seq: int,
    ) -> None:
        self.guard()
        self.requests += 1
        self.writes += 1
        self._update(self.items, symbol, set_values, remove, expected, run_seq)

    def transact(self, writes: Sequence[GroupWrite], run_seq: int) -> None:
        """All of the writes or none (TransactWriteItems): one item at most once."""
        self.guard()
        self.requests += 1
        self.writes += 1
        symbols = [write.symbol for write in writes]
        if len(set(symbols)) != len(symbols):
            raise ValidationError(
                "Transaction request cannot include multiple operations on one item"
            )
        staged = copy.deepcopy(self.items)
        try:
            for write in writes:
                if isinstance(write, NewItem):
                    self._put(staged, write.item)
                else:
                    change = write.write
                    self._update(
                        staged,
                        write.symbol,
                        change.set_values,
                        change.remove,
                        change.expected,
                        run_seq,
                    )
        except ConditionFailedError:
            raise ConditionFailedError(", ".join(symbols)) from None
        self.items = staged

    @staticmethod
    def _put(items: dict[str, dict[str, StoredValue]], item: Mapping[str, StoredValue]) -> None:
        stored = _validated(item)
        symbol = stored.get(KEY)
        if not isinstance(symbol, str) or not symbol:
            raise ValidationError("the key `symbol` must be a non-empty string")
        if symbol in items:
            raise ConditionFailedError(symbol)
        items[symbol] = stored

    @staticmethod
    def _update(
        items: dict[str, dict[str, StoredValue]],
        symbol: str,
        set_values: Mapping[str, StoredValue],
        remove: list[str] | tuple[str, ...],
        expected: Mapping[str, StoredValue | None],
        run_seq: int,
    ) -> None:
        new_values = _validated(set_values)
        if KEY in new_values or KEY in remove:
            raise ValidationError(
                "Cannot update attribute symbol. This attribute is part of the key"
            )
        if set(new_values) & set(remove):
            raise ValidationError("Two document paths overlap (SET and REMOVE of one attribute)")
        if not new_values:  # the data layer always sends a SET clause
            raise ValidationError("Invalid UpdateExpression: an empty SET")
        item = items.get(symbol)
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

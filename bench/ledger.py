"""A shadow of the benchmark's tables, kept from the requests seen on the wire.

The proxy hands over every request body in the order the requests completed (with the response
of reads and of failed or batch writes); the ledger applies each write to its copy of the items
so that the write is billed on the item before and after it, and bills each read on the whole
items it read as the table held them at that moment (on a keys-only index, on their entries),
as DynamoDB bills them (see `bench.units`). A read's response may be projected
(`ProjectionExpression`), so the sizes come from the shadow, not from the response. Only the
update-expression forms the implementations under test send are understood: `SET a = :v`,
`SET a = if_not_exists(a, :v) + :w`, `SET a = a + :v` and `REMOVE a, b`.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from asset_sync.dal.schema import IndexSpec
from bench.units import (
    AttributeValue,
    Item,
    base_write_units,
    bulk_read_units,
    index_write_units,
    item_size,
    per_item_read_units,
)

READ_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan"})

_SECTION = re.compile(r"\b(SET|REMOVE|ADD|DELETE)\b")


@dataclass
class Capture:
    """One request as it went over the wire (`response`: kept for reads and some writes)."""

    operation: str
    body: bytes
    status: int
    response: bytes


@dataclass
class ShadowTable:
    """The items of one table, keyed by its partition key's value, and its indexes."""

    key: str
    indexes: tuple[IndexSpec, ...] = ()
    items: dict[str, Item] = field(default_factory=dict)

    def index_units(self, before: Item | None, after: Item | None) -> Counter[str]:
        """What one item write costs on each of the table's indexes."""
        units: Counter[str] = Counter()
        for index in self.indexes:
            projected = (self.key, index.key) if index.projection == "KEYS_ONLY" else ()
            units[index.name] += index_write_units(before, after, index.key, projected)
        return units


@dataclass
class Bill:
    """What a batch of write requests cost."""

    requests: Counter[str] = field(default_factory=Counter)
    item_writes: int = 0
    failed_item_writes: int = 0
    conditional_puts: int = 0
    base_units: int = 0
    index_units: int = 0
    index_units_by_name: Counter[str] = field(default_factory=Counter)
    by_table: Counter[str] = field(default_factory=Counter)
    units_by_table: Counter[str] = field(default_factory=Counter)  # table write units
    transact_units: int = 0  # write units of TransactWriteItems (included above, doubled)
    read_units: float = 0.0
    read_units_by_op: dict[str, float] = field(default_factory=dict)
    items_read: int = 0

    @property
    def total_units(self) -> int:
        """Table plus index write units."""
        return self.base_units + self.index_units


def _split_top(text: str, separator: str = ",") -> list[str]:
    """Split at `separator` outside parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == separator and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


class Ledger:
    """Applies write requests to shadow tables and bills them."""

    def __init__(self) -> None:
        self.tables: dict[str, ShadowTable] = {}

    def add_table(self, name: str, key: str, indexes: tuple[IndexSpec, ...] = ()) -> ShadowTable:
        """Track a table (empty)."""
        table = ShadowTable(key, indexes)
        self.tables[name] = table
        return table

    def put(self, name: str, item: Item) -> None:
        """Record an item written outside the measured window (setup or restore)."""
        table = self.tables[name]
        table.items[str(item[table.key]["S"])] = copy.deepcopy(item)

    def bill(self, captures: list[Capture]) -> Bill:
        """Apply every captured write in order; return what they cost."""
        bill = Bill()
        for capture in captures:
            bill.requests[capture.operation] += 1
            request = json.loads(capture.body)
            ok = capture.status == 200
            if capture.operation in READ_OPERATIONS:
                if ok:
                    self._read(bill, capture.operation, request, json.loads(capture.response))
                continue
            if capture.operation == "PutItem":
                bill.conditional_puts += int("ConditionExpression" in request)
            if capture.operation == "PutItem":
                self._write(bill, request["TableName"], request["Item"], None, request, ok)
            elif capture.operation == "UpdateItem":
                self._write(bill, request["TableName"], None, request["Key"], request, ok)
            elif capture.operation == "DeleteItem":
                self._delete(bill, request["TableName"], request["Key"], ok)
            elif capture.operation == "BatchWriteItem":
                unprocessed: dict[str, Any] = {}
                if ok:
                    unprocessed = json.loads(capture.response or b"{}").get("UnprocessedItems", {})
                for table_name, entries in request["RequestItems"].items():
                    skipped = [
                        json.dumps(e, sort_keys=True) for e in unprocessed.get(table_name, [])
                    ]
                    for entry in entries:
                        if not ok or json.dumps(entry, sort_keys=True) in skipped:
                            continue  # not applied, not billed
                        if "PutRequest" in entry:
                            item = entry["PutRequest"]["Item"]
                            self._write(bill, table_name, item, None, {}, True)
                        else:
                            self._delete(bill, table_name, entry["DeleteRequest"]["Key"], True)
            elif capture.operation == "TransactWriteItems":
                self._transact(bill, request["TransactItems"], ok)
            else:
                raise ValueError(f"the ledger does not bill {capture.operation}")
        return bill

    def _transact(self, bill: Bill, entries: list[dict[str, Any]], ok: bool) -> None:
        """All or nothing; DynamoDB bills each item of a transaction twice (prepare, commit)."""
        if not ok:
            return
        base, index = bill.base_units, bill.index_units
        by_table = Counter(bill.units_by_table)
        by_index = Counter(bill.index_units_by_name)
        for entry in entries:
            if "Put" in entry:
                put = entry["Put"]
                self._write(bill, put["TableName"], put["Item"], None, put, True)
            elif "Update" in entry:
                update = entry["Update"]
                self._write(bill, update["TableName"], None, update["Key"], update, True)
            elif "Delete" in entry:
                self._delete(bill, entry["Delete"]["TableName"], entry["Delete"]["Key"], True)
        bill.transact_units += 2 * (bill.base_units - base + bill.index_units - index)
        bill.base_units += bill.base_units - base
        bill.index_units += bill.index_units - index
        for name, units in list(bill.units_by_table.items()):
            bill.units_by_table[name] += units - by_table[name]
        for name, units in list(bill.index_units_by_name.items()):
            bill.index_units_by_name[name] += units - by_index[name]

    def _write(
        self,
        bill: Bill,
        name: str,
        item: Item | None,
        key: Item | None,
        request: dict[str, Any],
        ok: bool,
    ) -> None:
        table = self.tables[name]
        symbol = str((item or key or {})[table.key]["S"])
        before = table.items.get(symbol)
        if item is not None:
            after: Item = copy.deepcopy(item)
        else:
            assert key is not None
            after = apply_update(before or copy.deepcopy(key), request)
        bill.item_writes += 1
        bill.by_table[name] += 1
        if not ok:  # a failed conditional write is billed on the item's size, changes nothing
            bill.failed_item_writes += 1
            failed = base_write_units(before, None) if before else 1
            bill.base_units += failed
            bill.units_by_table[name] += failed
            return
        units = base_write_units(before, after)
        bill.base_units += units
        bill.units_by_table[name] += units
        self._bill_indexes(bill, table.index_units(before, after))
        table.items[symbol] = after

    def _delete(self, bill: Bill, name: str, key: Item, ok: bool) -> None:
        table = self.tables[name]
        symbol = str(key[table.key]["S"])
        before = table.items.get(symbol)
        bill.item_writes += 1
        bill.by_table[name] += 1
        units = base_write_units(before, None)
        bill.base_units += units
        bill.units_by_table[name] += units
        if ok and before is not None:
            self._bill_indexes(bill, table.index_units(before, None))
            del table.items[symbol]

    @staticmethod
    def _bill_indexes(bill: Bill, units: Counter[str]) -> None:
        bill.index_units += units.total()
        bill.index_units_by_name.update(units)

    def forget(self, name: str, key: str) -> None:
        """Record an item deleted outside the measured window (restore)."""
        self.tables[name].items.pop(key, None)

    def _size(self, name: str, raw: Item) -> int | None:
        """The whole item's size as the table holds it now (None: no such item).

        `raw` is what the response returned (or the requested key): when the shadow does not
        know the item, a whole returned item is sized as it came.
        """
        table = self.tables.get(name)
        if table is not None:
            held = table.items.get(str(raw.get(table.key, {}).get("S")))
            if held is not None:
                return item_size(held)
        return item_size(raw) if len(raw) > 1 else None

    def _entry_size(self, request: dict[str, Any], raw: Item) -> int:
        """The size a Query or Scan is billed on for one item: the whole item, or on a keys-only
        index its entry (the table's and the index's keys)."""
        table = self.tables.get(request["TableName"])
        index = next(
            (i for i in (table.indexes if table else ()) if i.name == request.get("IndexName")),
            None,
        )
        if table is None or index is None or index.projection != "KEYS_ONLY":
            return self._size(request["TableName"], raw) or 0
        return item_size({k: v for k, v in raw.items() if k in (table.key, index.key)})

    def _read(
        self, bill: Bill, operation: str, request: dict[str, Any], response: dict[str, Any]
    ) -> None:
        """Bill one read request on the whole items it read (see `bench.units`)."""
        units = 0.0
        if operation in ("Query", "Scan"):
            items = list(response.get("Items", []))
            read = [self._entry_size(request, item) for item in items]
            consistent = bool(request.get("ConsistentRead")) and "IndexName" not in request
            units = bulk_read_units(read, consistent)
            bill.items_read += len(items)
        elif operation == "GetItem":
            item = response.get("Item")
            size = self._size(request["TableName"], {**request["Key"], **item}) if item else None
            units = per_item_read_units([size], bool(request.get("ConsistentRead")))
            bill.items_read += int(item is not None)
        else:  # BatchGetItem: every requested key that was processed, found or not
            for name, spec in request["RequestItems"].items():
                key_name = self.tables[name].key if name in self.tables else "symbol"
                found = {
                    json.dumps({key_name: item[key_name]}, sort_keys=True): item
                    for item in response.get("Responses", {}).get(name, [])
                    if key_name in item
                }
                skipped = {
                    json.dumps(key, sort_keys=True)
                    for key in response.get("UnprocessedKeys", {}).get(name, {}).get("Keys", [])
                }
                sizes: list[int | None] = []
                for key in spec["Keys"]:
                    text = json.dumps(key, sort_keys=True)
                    if text in skipped:
                        continue
                    item = found.get(text)
                    sizes.append(self._size(name, {**key, **item}) if item else None)
                    bill.items_read += int(item is not None)
                units += per_item_read_units(sizes, bool(spec.get("ConsistentRead")))
        bill.read_units += units
        bill.read_units_by_op[operation] = bill.read_units_by_op.get(operation, 0.0) + units


def apply_update(item: Item, request: dict[str, Any]) -> Item:
    """The item after an UpdateItem's `UpdateExpression` (the forms listed in the module doc)."""
    out = copy.deepcopy(item)
    names: dict[str, str] = request.get("ExpressionAttributeNames", {})
    values: dict[str, AttributeValue] = request.get("ExpressionAttributeValues", {})
    expression: str = request["UpdateExpression"]
    pieces = _SECTION.split(expression)
    for index in range(1, len(pieces), 2):
        section, body = pieces[index], pieces[index + 1]
        for clause in _split_top(body):
            if section == "SET":
                target, operand = (part.strip() for part in clause.split("=", 1))
                value = _evaluate(operand, item, names, values)
                if value is not None:
                    out[names.get(target, target)] = value
            elif section == "REMOVE":
                out.pop(names.get(clause, clause), None)
            else:
                raise ValueError(f"the ledger does not evaluate {section}")
    return out


def _evaluate(
    operand: str, item: Item, names: dict[str, str], values: dict[str, AttributeValue]
) -> AttributeValue | None:
    terms = _split_top(operand.replace(" - ", " + -"), "+")
    if len(terms) > 1:
        total = Decimal(0)
        for term in terms:
            negative = term.startswith("-")
            value = _evaluate(term.lstrip("-").strip(), item, names, values)
            number = Decimal(value["N"]) if value else Decimal(0)
            total += -number if negative else number
        return {"N": format(total.normalize(), "f")}
    operand = operand.strip()
    if operand.startswith(":"):
        return values[operand]
    if operand.startswith("if_not_exists("):
        path, fallback = _split_top(operand[len("if_not_exists(") : -1])
        current = item.get(names.get(path, path))
        return current if current is not None else values[fallback]
    return item.get(names.get(operand, operand))

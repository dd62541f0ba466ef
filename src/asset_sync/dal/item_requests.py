"""The DynamoDB requests of the sync's item writes (pure: values in, request shapes out).

One builder per write kind, shared by the single writes (PutItem, UpdateItem) and the identity
changes (the same shapes inside one TransactWriteItems), so a write is conditioned the same way
whichever way it is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from asset_sync.dal.serialization import AttributeValue, serialize, serialize_item
from asset_sync.logic.models import StoredValue, Unrecognized


def put_request(table: str, item: Mapping[str, StoredValue]) -> dict[str, Any]:
    """A create: fails its condition if an item with that symbol appeared."""
    return {
        "TableName": table,
        "Item": serialize_item(item),
        "ConditionExpression": "attribute_not_exists(#symbol)",
        "ExpressionAttributeNames": {"#symbol": "symbol"},
    }


def update_request(
    table: str,
    symbol: str,
    set_values: Mapping[str, StoredValue],
    remove: Iterable[str],
    expected: Mapping[str, StoredValue | None],
    run_seq: int,
) -> dict[str, Any]:
    """SET/REMOVE attributes if the item still holds exactly `expected`.

    `expected` maps every attribute about to change (`sync_version` and `sync_run_seq`
    included), and every other one the write depends on, to the value read, `None` if it was
    absent; a value of a type the sync never writes is compared as stored. The run-number fence:
    a stored `sync_run_seq` higher than `run_seq` (a newer run wrote the item) fails the write.
    """
    names: dict[str, str] = {"#symbol": "symbol"}
    values: dict[str, AttributeValue] = {}
    sets = []
    conditions = ["attribute_exists(#symbol)"]
    for i, (name, value) in enumerate(sorted(set_values.items())):
        names[f"#s{i}"] = name
        values[f":s{i}"] = serialize(value)
        sets.append(f"#s{i} = :s{i}")
    removes = []
    for i, name in enumerate(sorted(remove)):
        names[f"#r{i}"] = name
        removes.append(f"#r{i}")
    for i, (name, old) in enumerate(sorted(expected.items())):
        names[f"#e{i}"] = name
        if old is None:
            conditions.append(f"attribute_not_exists(#e{i})")
        elif isinstance(old, Unrecognized) and old.type_code == "NULL":
            values[f":e{i}"] = {"S": "NULL"}
            conditions.append(f"attribute_type(#e{i}, :e{i})")
        else:
            values[f":e{i}"] = serialize(old)
            conditions.append(f"#e{i} = :e{i}")
    seq = expected.get("sync_run_seq")
    if seq is None or isinstance(seq, Decimal):  # never compare a number with another type
        names["#seq"] = "sync_run_seq"
        values[":run_seq"] = {"N": str(run_seq)}
        conditions.append("(attribute_not_exists(#seq) OR #seq <= :run_seq)")
    expression = "SET " + ", ".join(sets)
    if removes:
        expression += " REMOVE " + ", ".join(removes)
    return {
        "TableName": table,
        "Key": {"symbol": {"S": symbol}},
        "UpdateExpression": expression,
        "ConditionExpression": " AND ".join(conditions),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }

"""Exact conversion between stored values and DynamoDB's attribute-value JSON.

Written by hand (rather than boto3's TypeSerializer) so a decimal goes out as the exact text
the API sent (`"0.000000001"`, not `"1E-9"`). The sync writes four types; a value of any other
type that another writer left is kept as `Unrecognized` with its raw form, never dropped, so a
write that replaces it can be conditioned on exactly what is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from asset_sync.logic.models import StoredValue, Unrecognized

AttributeValue = Mapping[str, Any]


def serialize(value: StoredValue | int) -> dict[str, Any]:
    """One value as a DynamoDB attribute value (an `Unrecognized` one as it was read)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, Decimal):
        return {"N": format(value, "f")}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, Unrecognized):
        return dict(value.raw)
    if isinstance(value, tuple) and all(isinstance(element, str) for element in value):
        return {"L": [{"S": element} for element in value]}
    raise TypeError(f"the sync never writes a {type(value).__name__} ({value!r})")


def serialize_item(item: Mapping[str, StoredValue]) -> dict[str, dict[str, Any]]:
    """A whole item."""
    return {name: serialize(value) for name, value in item.items()}


def deserialize(value: AttributeValue) -> StoredValue:
    """An attribute value: one of the sync's types, or `Unrecognized` for any other."""
    if "S" in value:
        return str(value["S"])
    if "BOOL" in value:
        return bool(value["BOOL"])
    if "N" in value:
        return Decimal(value["N"])
    if "L" in value and all("S" in element for element in value["L"]):
        return tuple(str(element["S"]) for element in value["L"])
    return Unrecognized(dict(value))


def deserialize_item(item: Mapping[str, AttributeValue]) -> dict[str, StoredValue]:
    """Every attribute of an item (nothing is dropped)."""
    return {name: deserialize(raw) for name, raw in item.items()}

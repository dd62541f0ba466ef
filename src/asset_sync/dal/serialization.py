"""Exact conversion between owned values and DynamoDB's attribute-value JSON.

Written by hand (rather than boto3's TypeSerializer) so a decimal goes out as the exact text
the API sent (`"0.000000001"`, not `"1E-9"`) and the only types are the four the sync writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from asset_sync.logic.models import OwnedValue

AttributeValue = Mapping[str, Any]


def serialize(value: OwnedValue | int) -> dict[str, Any]:
    """One owned value as a DynamoDB attribute value."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, Decimal):
        return {"N": format(value, "f")}
    if isinstance(value, int):
        return {"N": str(value)}
    return {"L": [{"S": element} for element in value]}


def serialize_item(item: Mapping[str, OwnedValue]) -> dict[str, dict[str, Any]]:
    """A whole item of owned values."""
    return {name: serialize(value) for name, value in item.items()}


def deserialize(value: AttributeValue) -> OwnedValue | None:
    """An attribute value the sync understands; None for types it never writes."""
    if "S" in value:
        return str(value["S"])
    if "BOOL" in value:
        return bool(value["BOOL"])
    if "N" in value:
        return Decimal(value["N"])
    if "L" in value:
        elements = value["L"]
        if all("S" in element for element in elements):
            return tuple(str(element["S"]) for element in elements)
    return None


def deserialize_item(item: Mapping[str, AttributeValue]) -> dict[str, OwnedValue]:
    """The values of an item that deserialize (foreign attributes of other types are dropped)."""
    out: dict[str, OwnedValue] = {}
    for name, raw in item.items():
        value = deserialize(raw)
        if value is not None:
            out[name] = value
    return out

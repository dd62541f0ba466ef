"""The one codec of DynamoDB's attribute values (no I/O): the sync's items, the run-state item and
the stream images of the change events all go through it.

- `serialize` / `deserialize`: the four types the sync writes, exactly. Written by hand (rather
  than boto3's TypeSerializer) so a decimal goes out as the exact text the API sent
  (`"0.000000001"`, not `"1E-9"`); a value of any other type that another writer left is kept as
  `Unrecognized` with its raw form, never dropped, so a write that replaces it can be
  conditioned on exactly what is stored.
- `plain`: a scalar as a plain value (numbers as int or float), for the run-state item.
- `to_json`, `same_value`, `text`, `integer`: any value of a stream image, in the events' JSON
  form (numbers as their exact text, sets sorted) and compared by value (`30` = `30.00`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, TypeAlias

from asset_sync.logic.models import StoredValue, Unrecognized

AttributeValue: TypeAlias = Mapping[str, Any]
Image: TypeAlias = Mapping[str, AttributeValue]
JsonValue: TypeAlias = str | bool | int | Sequence["JsonValue"] | Mapping[str, "JsonValue"] | None


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


def plain(value: AttributeValue) -> str | bool | int | float | None:
    """A scalar as a plain value: text, a bool, a number (int when whole); None otherwise."""
    decoded = deserialize(value)
    if isinstance(decoded, Decimal):
        return int(decoded) if decoded == decoded.to_integral() else float(decoded)
    return decoded if isinstance(decoded, str | bool) else None


def _kind(value: AttributeValue) -> tuple[str, Any]:
    """The one (type, payload) pair of an attribute value."""
    if len(value) != 1:
        raise ValueError(f"not a DynamoDB attribute value: {value!r}")
    return next(iter(value.items()))


def _binary_text(raw: object) -> str:
    """Binary as base64 text (the Lambda event already holds it as text)."""
    if isinstance(raw, bytes | bytearray):
        return base64.b64encode(raw).decode("ascii")
    return str(raw)


def _decimal(text: object) -> Decimal:
    try:
        return Decimal(str(text))
    except InvalidOperation:
        raise ValueError(f"not a DynamoDB number: {text!r}") from None


def to_json(value: AttributeValue | None) -> JsonValue:
    """An attribute value as JSON: numbers as their exact text, sets sorted, absent as None."""
    if value is None:
        return None
    kind, raw = _kind(value)
    if kind in ("S", "N"):
        return str(raw)
    if kind == "BOOL":
        return bool(raw)
    if kind == "NULL":
        return None
    if kind == "L":
        return [to_json(element) for element in raw]
    if kind == "M":
        return {name: to_json(element) for name, element in sorted(raw.items())}
    if kind == "SS":
        return sorted(str(element) for element in raw)
    if kind == "NS":
        return [str(element) for element in sorted(raw, key=_decimal)]
    if kind == "B":
        return _binary_text(raw)
    if kind == "BS":
        return sorted(_binary_text(element) for element in raw)
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def comparable(value: AttributeValue | None) -> object:
    """A hashable form in which values equal in DynamoDB's sense compare equal."""
    if value is None:
        return None
    kind, raw = _kind(value)
    if kind == "N":
        return ("N", _decimal(raw))
    if kind == "NS":
        return ("NS", frozenset(_decimal(element) for element in raw))
    if kind == "L":
        return ("L", tuple(comparable(element) for element in raw))
    if kind == "M":
        return ("M", tuple(sorted((name, comparable(v)) for name, v in raw.items())))
    if kind in ("SS", "BS"):
        return (kind, frozenset(_binary_text(element) for element in raw))
    if kind == "NULL":
        return ("NULL",)
    return (kind, to_json(value))


def same_value(old: AttributeValue | None, new: AttributeValue | None) -> bool:
    """Whether two attribute values (None: absent) are the same value."""
    return comparable(old) == comparable(new)


def text(value: AttributeValue | None) -> str | None:
    """A string attribute's text; None if absent or not a string."""
    if value is None or "S" not in value:
        return None
    return str(value["S"])


def integer(value: AttributeValue | None) -> int | None:
    """A whole-number attribute as int; None if absent, not a number or not whole."""
    if value is None or "N" not in value:
        return None
    number = _decimal(value["N"])
    if number != number.to_integral_value():
        return None
    return int(number)

"""Attribute values of DynamoDB stream images: JSON forms and equality by value.

Stream images are DynamoDB JSON (``{"N": "30.00"}``). Events show a number as the exact text the
image holds, never through float; two numbers are the same value when they are equal as decimals
(``"30"`` and ``"30.00"``), so a rewrite of equal numbers is not a change.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, TypeAlias

JsonValue: TypeAlias = str | bool | int | Sequence["JsonValue"] | Mapping[str, "JsonValue"] | None
AttributeValue: TypeAlias = Mapping[str, Any]
Image: TypeAlias = Mapping[str, AttributeValue]


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

"""Write units as DynamoDB bills them, from item sizes computed by DynamoDB's rules.

Item size (Amazon DynamoDB Developer Guide, "Item sizes and formats", and
"Working with items: capacity unit consumption for writes"):

* an item's size is the sum, over its attributes, of the UTF-8 length of the attribute name
  plus the size of the value;
* String: its UTF-8 length in bytes; Binary: its length in bytes;
* Number: about one byte per two significant digits plus one byte (leading and trailing zeros
  are not significant; a negative number takes one byte more);
* Boolean and Null: 1 byte;
* List and Map: 3 bytes of overhead whatever the content, plus 1 byte per element, plus the
  elements' own sizes (a Map element's size includes its key);
* String/Number/Binary sets: the sum of their elements' sizes.

Write units (on-demand WRU / provisioned WCU): one unit per 1 KB (1,024 bytes) of the item,
rounded up, at least one per item written. PutItem that replaces an item and UpdateItem are
billed on the larger of the item before and after the write; a failed conditional write still
consumes the units of the item's size. Every item of a BatchWriteItem is billed as one PutItem
or DeleteItem.

Global secondary index writes ("Provisioned throughput considerations for GSIs"): writing a new
item that defines the index key costs one index write; changing the index key's value costs two
(a delete of the old index entry and a put of the new one); changing only projected attributes
costs one; a write that changes nothing projected costs none. `status-index` projects ALL, so
any change to an item is a change of a projected attribute, and its entry is sized as the whole
item; `asset-id-index` is KEYS_ONLY: its entry holds `symbol` and `asset_id`, so only a write
that sets, changes or removes `asset_id` costs it anything. The index's per-entry overhead is
ignored.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from decimal import Decimal
from typing import Any

KB = 1024

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]


def number_size(text: str) -> int:
    """Bytes DynamoDB counts for a Number given as its wire text (`"30"`, `"0.000000001"`)."""
    value = Decimal(text)
    digits = "".join(str(d) for d in value.as_tuple().digits).strip("0") or "0"
    size = math.ceil(len(digits) / 2) + 1
    return size + (1 if value < 0 else 0)


def value_size(value: AttributeValue) -> int:
    """Bytes DynamoDB counts for one attribute value in its wire (JSON) form."""
    (kind, raw), *_ = value.items()
    if kind == "S":
        return len(str(raw).encode("utf-8"))
    if kind == "N":
        return number_size(str(raw))
    if kind == "B":
        return len(raw) if isinstance(raw, bytes) else math.ceil(len(str(raw)) * 3 / 4)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + value_size(element) for element in raw)
    if kind == "M":
        return 3 + sum(
            1 + len(name.encode("utf-8")) + value_size(element) for name, element in raw.items()
        )
    if kind == "SS":
        return sum(len(str(element).encode("utf-8")) for element in raw)
    if kind == "NS":
        return sum(number_size(str(element)) for element in raw)
    if kind == "BS":
        return sum(math.ceil(len(str(element)) * 3 / 4) for element in raw)
    raise ValueError(f"unknown attribute value type {kind!r}")


def item_size(item: Item) -> int:
    """Bytes DynamoDB counts for a whole item: names (UTF-8) plus values."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def units(size: int) -> int:
    """Write units for an item of `size` bytes: 1 per KB, rounded up, at least 1."""
    return max(1, math.ceil(size / KB))


def base_write_units(before: Item | None, after: Item | None) -> int:
    """Units of one item write on the table: the larger of the item before and after."""
    return units(max(item_size(before) if before else 0, item_size(after) if after else 0))


def index_write_units(
    before: Item | None, after: Item | None, index_key: str, projected: Collection[str] = ()
) -> int:
    """Units the same write costs on a GSI keyed on `index_key`.

    `projected`: the attributes an index entry holds (the table's and the index's keys, for a
    KEYS_ONLY index); empty: every attribute (projection ALL).
    """
    old_key = before.get(index_key) if before else None
    new_key = after.get(index_key) if after else None
    if old_key is None and new_key is None:
        return 0  # not in the index before or after
    old_entry = _entry(before, projected)
    new_entry = _entry(after, projected)
    if old_key is None:
        return units(item_size(new_entry))  # put into the index
    if new_key is None:
        return units(item_size(old_entry))  # deleted from the index
    if old_key != new_key:
        return units(item_size(old_entry)) + units(item_size(new_entry))  # delete + put
    if old_entry == new_entry:
        return 0  # nothing projected changed
    return units(max(item_size(old_entry), item_size(new_entry)))


def _entry(item: Item | None, projected: Collection[str]) -> Item:
    """The index entry of `item`: the projected attributes (all of them when none is named)."""
    if item is None:
        return {}
    return {k: v for k, v in item.items() if k in projected} if projected else item


# -- reads ---------------------------------------------------------------------------------------
#
# Read units (Developer Guide, "Capacity unit consumption for read operations"): one unit reads
# up to 4 KB strongly consistent, half a unit eventually consistent. GetItem is billed on the
# item's size rounded up to 4 KB; BatchGetItem bills every item as its own GetItem (each rounded
# up, then summed); Query and Scan bill the total size of the items read in one request, rounded
# up to 4 KB once. A Query on a global secondary index is billed on the sizes of the index
# entries read (the index's projection: ALL here, so the whole item) and is always eventually
# consistent. The size is that of the item read, not of what comes back: a ProjectionExpression
# does not reduce it. A key that finds no item still costs the minimum (one unit strongly
# consistent, half eventually consistent).

READ_KB = 4 * KB


def read_blocks(size: int) -> int:
    """4 KB read blocks for `size` bytes read in one go: rounded up, at least one."""
    return max(1, math.ceil(size / READ_KB))


def consistency_factor(consistent: bool) -> float:
    """Read units per 4 KB block: 1 strongly consistent, 0.5 eventually consistent."""
    return 1.0 if consistent else 0.5


def per_item_read_units(sizes: Sequence[int | None], consistent: bool) -> float:
    """GetItem / BatchGetItem: each item rounded up on its own (None: no such item, minimum)."""
    blocks = sum(read_blocks(size or 0) for size in sizes)
    return blocks * consistency_factor(consistent)


def bulk_read_units(sizes: Sequence[int], consistent: bool) -> float:
    """Query / Scan: one request's items summed, then rounded up once."""
    return read_blocks(sum(sizes)) * consistency_factor(consistent)

"""Domain types shared by validation, planning and the data layer (no I/O)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal

# A value the sync writes: DynamoDB S, BOOL, N (exact Decimal) or L of S.
OwnedValue = str | bool | Decimal | tuple[str, ...]

ACTIVE = "active"
INACTIVE = "inactive"

# Numbers the API sends as decimal strings (or JSON numbers), stored exactly as DynamoDB N.
DECIMAL_ATTRIBUTES: tuple[str, ...] = (
    "min_order_size",
    "min_trade_increment",
    "price_increment",
    "maintenance_margin_requirement",
    "margin_requirement_long",
    "margin_requirement_short",
)
# Item attributes derived from the catalog record; `status` and the bookkeeping below are separate.
CONTENT_ATTRIBUTES: tuple[str, ...] = (
    "asset_id",
    "name",
    "exchange",
    "asset_class",
    "tradable",
    "marginable",
    "shortable",
    "easy_to_borrow",
    "borrow_status",
    "fractionable",
    "attributes",
    "cusip",
    *DECIMAL_ATTRIBUTES,
)
BOOKKEEPING_ATTRIBUTES: tuple[str, ...] = (
    "created_at",
    "updated_at",
    "last_sync_timestamp",
    "sync_version",
    "sync_hash",
    "sync_run_seq",  # the fencing token (run number) of the run that last wrote the item
)
# Links between the items of one asset across a ticker change (a rename): the new symbol's
# item names the old one, the old one names the new. Not catalog content (not hashed).
IDENTITY_ATTRIBUTES: tuple[str, ...] = ("previous_symbol", "renamed_to")
# Every attribute the sync may write or remove; anything else on an item belongs to others.
OWNED_ATTRIBUTES: frozenset[str] = frozenset(
    ("symbol", "status", *CONTENT_ATTRIBUTES, *IDENTITY_ATTRIBUTES, *BOOKKEEPING_ATTRIBUTES)
)


def canonical(value: OwnedValue) -> object:
    """A JSON-able form in which equal values (``Decimal('30')`` and ``'30.00'``) are equal."""
    if isinstance(value, Decimal):
        return {"N": format(value.normalize(), "f")}
    if isinstance(value, tuple):
        return list(value)
    return value


def content_hash(content: dict[str, OwnedValue]) -> str:
    """Digest of an asset's owned content, stored as `sync_hash` for cheap change detection."""
    payload = json.dumps(
        {name: canonical(value) for name, value in sorted(content.items())},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


def to_json_value(value: OwnedValue | None) -> object:
    """A value as it appears in reports: decimals as their exact text."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, tuple):
        return list(value)
    return value


@dataclass(frozen=True)
class CatalogAsset:
    """One valid catalog record, mapped to the item attributes the sync owns."""

    symbol: str
    status: str
    content: dict[str, OwnedValue]
    content_hash: str


@dataclass(frozen=True)
class InvalidRecord:
    """A catalog record that failed validation; never written, its item left as is."""

    index: int
    symbol: str | None
    reason: str


@dataclass(frozen=True)
class ValidatedCatalog:
    """The outcome of validating one fetched catalog."""

    assets: dict[str, CatalogAsset]
    invalid: tuple[InvalidRecord, ...] = ()
    duplicates: tuple[str, ...] = ()
    fetched: int = 0

    @property
    def protected_symbols(self) -> frozenset[str]:
        """Symbols seen in the catalog that must be neither written nor delisted."""
        invalid = {record.symbol for record in self.invalid if record.symbol is not None}
        return frozenset(invalid | set(self.duplicates))


@dataclass(frozen=True)
class CurrentState:
    """What the planner needs of an existing item (a cheap projection, not the whole item)."""

    symbol: str
    status: str
    sync_hash: str | None = None
    sync_version: int = 0
    asset_class: str | None = None
    last_sync_timestamp: str | None = None


@dataclass(frozen=True)
class FieldChange:
    """One owned attribute's old and new value."""

    old: OwnedValue | None
    new: OwnedValue | None


@dataclass
class ItemChange:
    """What one write does to one item, for the report."""

    action: str
    fields: dict[str, FieldChange] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The report form: ``{"action": ..., "fields": {name: {"old": ..., "new": ...}}}``."""
        out: dict[str, object] = {"action": self.action}
        if self.fields:
            out["fields"] = {
                name: {"old": to_json_value(change.old), "new": to_json_value(change.new)}
                for name, change in sorted(self.fields.items())
            }
        return out

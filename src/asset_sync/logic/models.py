"""Domain types shared by validation, planning and the data layer (no I/O)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Context, Decimal
from typing import Any

# A value the sync writes: DynamoDB S, BOOL, N (exact Decimal) or L of S.
OwnedValue = str | bool | Decimal | tuple[str, ...]

# Wide enough for every number DynamoDB can hold (38 significant digits, exponents -130..+125),
# so comparing or normalising a stored or fetched number never rounds it.
DECIMAL_CONTEXT = Context(prec=76, Emin=-400, Emax=400)


@dataclass(frozen=True)
class Unrecognized:
    """A stored value of a type the sync never writes (NULL, a set, a map, binary, a mixed list).

    Kept as DynamoDB sent it, so a write that replaces it can be conditioned on exactly it.
    """

    raw: Mapping[str, Any]

    @property
    def type_code(self) -> str:
        """DynamoDB's type descriptor (`NULL`, `SS`, `M`, ...)."""
        return next(iter(self.raw), "")


# A value as read from the table: what the sync writes, or something another writer left.
StoredValue = OwnedValue | Unrecognized

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
    "sync_action",  # what the sync write that last wrote the item did (SYNC_ACTIONS)
)
# Links between the items of one asset across a ticker change (docs/identity.md): an asset's
# home names the ticker it came from, its old items the ticker it went to, and an item whose
# holder changed the asset it replaced. Not catalog content (not hashed).
IDENTITY_ATTRIBUTES: tuple[str, ...] = ("previous_symbol", "renamed_to", "replaces_asset_id")
# `sync_action` values (docs/identity.md, "Writes"): the change events are made from them.
SYNC_ACTIONS: tuple[str, ...] = (
    "list",  # a new asset's first write on this item (over another holder: replaces_asset_id)
    "update",  # catalog content changed
    "repair",  # a full reconciliation put the catalog's values back
    "reactivate",  # inactive -> active, same asset, same item
    "delist",  # active -> inactive (on an archive item: the displaced asset's delisting)
    "rename",  # the asset arrived on this item from `previous_symbol`
    "depart",  # the asset left this item for `renamed_to`
    "archive",  # a displaced, already inactive asset moved to its archive item
)
# The home of an asset that is not listed and whose last ticker another asset took: the key
# `__asset/<asset_id>` (catalog symbols may not start with `__`, see logic.validation).
ARCHIVE_PREFIX = "__asset/"
# Every attribute the sync may write or remove; anything else on an item belongs to others.
OWNED_ATTRIBUTES: frozenset[str] = frozenset(
    ("symbol", "status", *CONTENT_ATTRIBUTES, *IDENTITY_ATTRIBUTES, *BOOKKEEPING_ATTRIBUTES)
)


def decimal_text(value: Decimal) -> str:
    """The one spelling of a number's value: `30` for `30.00`, `0` for `-0`, never rounded."""
    if value.is_zero():
        return "0"
    return format(value.normalize(DECIMAL_CONTEXT), "f")


def canonical(value: OwnedValue) -> object:
    """A JSON-able form in which equal values (``Decimal('30')`` and ``'30.00'``) are equal."""
    if isinstance(value, Decimal):
        return {"N": decimal_text(value)}
    if isinstance(value, tuple):
        return list(value)
    return value


def same_value(stored: StoredValue | None, wanted: OwnedValue | None) -> bool:
    """Whether a stored value is exactly what the sync would write (decimals by value)."""
    if stored is None or wanted is None:
        return stored is None and wanted is None
    if isinstance(stored, Unrecognized) or type(stored) is not type(wanted):
        return False
    return stored == wanted  # Decimal equality is exact, whatever the context's precision


def content_hash(content: dict[str, OwnedValue]) -> str:
    """Digest of an asset's owned content, stored as `sync_hash` for cheap change detection."""
    payload = json.dumps(
        {name: canonical(value) for name, value in sorted(content.items())},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


def to_json_value(value: StoredValue | None) -> object:
    """A value as it appears in reports: decimals as their exact text, foreign types as stored."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Unrecognized):
        return {key: _jsonable(inner) for key, inner in value.raw.items()}
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, Mapping):
        return {key: _jsonable(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(inner) for inner in value]
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
class IdConflict:
    """Several catalog symbols carrying one asset id: not a rename, left as they are."""

    asset_id: str
    symbols: tuple[str, ...]


@dataclass(frozen=True)
class ValidatedCatalog:
    """The outcome of validating one fetched catalog."""

    assets: dict[str, CatalogAsset]
    invalid: tuple[InvalidRecord, ...] = ()
    duplicates: tuple[str, ...] = ()
    fetched: int = 0
    id_conflicts: tuple[IdConflict, ...] = ()
    duplicate_records: int = 0  # valid records of a symbol that appears more than once
    id_conflict_records: int = 0  # valid records of distinct symbols sharing one asset id

    @property
    def protected_symbols(self) -> frozenset[str]:
        """Symbols seen in the catalog that must be neither written nor delisted."""
        invalid = {record.symbol for record in self.invalid if record.symbol is not None}
        conflicted = {symbol for conflict in self.id_conflicts for symbol in conflict.symbols}
        return frozenset(invalid | set(self.duplicates) | conflicted)


@dataclass(frozen=True)
class CurrentState:
    """What the planner knows of an existing item.

    A plain run reads a cheap projection (`values` is None); a full reconciliation, and the
    applier before it writes, read the whole item (`values` holds every stored attribute).
    `sync_run_seq` is the number of the run that last wrote the item (0: none recorded).
    """

    symbol: str
    status: str
    sync_hash: str | None = None
    asset_class: str | None = None
    sync_run_seq: int = 0
    values: Mapping[str, StoredValue] | None = None


@dataclass(frozen=True)
class FieldChange:
    """One attribute's old and new value (owned; or foreign, moved by an identity change)."""

    old: StoredValue | None
    new: StoredValue | None


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


def state_from_item(
    symbol: str, item: Mapping[str, StoredValue], *, whole: bool = True
) -> CurrentState:
    """The planner's view of a stored item (`whole`: every attribute was read)."""
    status = item.get("status")
    seq = item.get("sync_run_seq")
    return CurrentState(
        symbol=symbol,
        status=status if isinstance(status, str) else "",
        sync_hash=_text(item.get("sync_hash")),
        asset_class=_text(item.get("asset_class")),
        sync_run_seq=int(seq) if isinstance(seq, Decimal) and seq == seq.to_integral() else 0,
        values=dict(item) if whole else None,
    )


def _text(value: StoredValue | None) -> str | None:
    return value if isinstance(value, str) else None

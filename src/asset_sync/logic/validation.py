"""Validate a fetched catalog record by record (pure: bytes in, ValidatedCatalog out).

Enumerations (`class`, `exchange`, `status`, `attributes`, `borrow_status`) are open strings and
unknown fields are ignored, so a new value Alpaca introduces never breaks a sync. A record that
fails is skipped and reported; a symbol that appears twice is a conflict and neither is applied.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from decimal import Decimal, localcontext

import msgspec

from asset_sync.logic.models import (
    ACTIVE,
    DECIMAL_ATTRIBUTES,
    DECIMAL_CONTEXT,
    CatalogAsset,
    IdConflict,
    InvalidRecord,
    OwnedValue,
    ValidatedCatalog,
    content_hash,
)

MAX_SYMBOL_LENGTH = 64
MAX_NAME_LENGTH = 512
MAX_STRING_LENGTH = 128
MAX_ATTRIBUTES = 64
MAX_DECIMAL_DIGITS = 38  # DynamoDB's number precision
MAX_DECIMAL_EXPONENT = 30
RESERVED_SYMBOL_PREFIX = "__"
SHOWN_CHARACTERS = 40  # of an offending value, in a message

_SYMBOL = re.compile(r"[!-~]+")  # printable ASCII, no spaces (`BRK.B`, `BTC/USD`)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A decimal as text: optional sign, digits with at most one point, optional exponent. No
# spaces, no underscores, no `NaN`/`Infinity`, ASCII digits only (Python's Decimal() would
# accept all of those, `"١٢"` as 12).
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

# Decimal fields are read raw: a JSON number's exact text, or a JSON string checked above.
DecimalField = msgspec.Raw | msgspec.UnsetType
OptionalBool = bool | msgspec.UnsetType


class CatalogFormatError(ValueError):
    """The response body is not a complete JSON array of records."""


class ApiAsset(msgspec.Struct, rename={"asset_class": "class"}):
    """The fields of Alpaca's `Assets` schema the sync reads; unknown fields are ignored."""

    id: str
    symbol: str
    name: str
    asset_class: str
    exchange: str
    status: str
    tradable: bool
    marginable: OptionalBool = msgspec.UNSET
    shortable: OptionalBool = msgspec.UNSET
    easy_to_borrow: OptionalBool = msgspec.UNSET
    fractionable: OptionalBool = msgspec.UNSET
    borrow_status: str | msgspec.UnsetType | None = msgspec.UNSET
    attributes: list[str] | msgspec.UnsetType | None = msgspec.UNSET
    cusip: str | msgspec.UnsetType | None = msgspec.UNSET
    min_order_size: DecimalField = msgspec.UNSET
    min_trade_increment: DecimalField = msgspec.UNSET
    price_increment: DecimalField = msgspec.UNSET
    maintenance_margin_requirement: DecimalField = msgspec.UNSET
    margin_requirement_long: DecimalField = msgspec.UNSET
    margin_requirement_short: DecimalField = msgspec.UNSET


_BOOL_FIELDS = ("marginable", "shortable", "easy_to_borrow", "fractionable")

_RECORD_DECODER = msgspec.json.Decoder(ApiAsset)
_LOOSE_DECODER = msgspec.json.Decoder()
_ARRAY_DECODER = msgspec.json.Decoder(list[msgspec.Raw])


class RecordError(ValueError):
    """One record breaks a rule; the message says which."""


def shown(value: str) -> str:
    """An offending value for a message: quoted, escaped (`'\\x1b'`), at most 40 characters."""
    return repr(value if len(value) <= SHOWN_CHARACTERS else value[:SHOWN_CHARACTERS] + "…")


def _check_text(name: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise RecordError(f"`{name}` is {len(value)} characters, more than {limit}: {shown(value)}")
    control = _CONTROL.search(value)
    if control:
        raise RecordError(
            f"`{name}` {shown(value)} contains the control character {control.group()!r}"
        )


def _check_symbol(symbol: str) -> None:
    """Printable ASCII without spaces (`BRK.B`, `BTC/USD`), 1 to 64 characters, not `__...`."""
    if not symbol:
        raise RecordError("`symbol` is empty")
    if len(symbol) > MAX_SYMBOL_LENGTH:
        raise RecordError(
            f"`symbol` is {len(symbol)} characters, more than {MAX_SYMBOL_LENGTH}: {shown(symbol)}"
        )
    bad = next((char for char in symbol if not _SYMBOL.fullmatch(char)), None)
    if bad is not None:
        raise RecordError(
            f"`symbol` {shown(symbol)} contains {bad!r}: a symbol is 1 to {MAX_SYMBOL_LENGTH} "
            "printable ASCII characters, no spaces"
        )
    if symbol.startswith(RESERVED_SYMBOL_PREFIX):
        raise RecordError(f"`symbol` {shown(symbol)} may not start with {RESERVED_SYMBOL_PREFIX!r}")


def parse_decimal(name: str, raw: bytes) -> Decimal:
    """A decimal field from its raw JSON: a number literal, or a string in the strict form."""
    text = raw.decode()
    if text.startswith('"'):
        text = json.loads(text)
        if not _DECIMAL_TEXT.fullmatch(text):
            raise RecordError(f"`{name}` is not a decimal number: {shown(text)}")
    elif not _DECIMAL_TEXT.fullmatch(text):  # null, true, an object, ...
        raise RecordError(
            f"`{name}` must be a decimal number or a decimal string, not {shown(text)}"
        )
    return _check_decimal(name, Decimal(text))


def _check_decimal(name: str, value: Decimal) -> Decimal:
    sign_digits_exponent = value.as_tuple()
    exponent = int(sign_digits_exponent.exponent)
    if len(sign_digits_exponent.digits) > MAX_DECIMAL_DIGITS:
        raise RecordError(f"`{name}` has more than {MAX_DECIMAL_DIGITS} significant digits")
    if not value.is_zero() and abs(value.adjusted()) > MAX_DECIMAL_EXPONENT:
        raise RecordError(f"`{name}` is out of range (|exponent| > {MAX_DECIMAL_EXPONENT})")
    if exponent > 0:  # "1E+2": keep the value, spell it without an exponent
        with localcontext(DECIMAL_CONTEXT):
            return value.quantize(Decimal(1))
    return value


def to_catalog_asset(record: ApiAsset) -> CatalogAsset:
    """Check one decoded record's rules and map it to the item attributes the sync owns."""
    _check_symbol(record.symbol)
    if not record.id:
        raise RecordError("`id` is empty")
    _check_text("id", record.id, MAX_STRING_LENGTH)
    _check_text("name", record.name, MAX_NAME_LENGTH)
    for name in ("asset_class", "exchange", "status"):
        _check_text(name, getattr(record, name), MAX_STRING_LENGTH)
    if record.status != ACTIVE:  # only a confirmed delisting turns an asset inactive
        raise RecordError(
            f"`status` is {shown(record.status)}, not 'active': a response to ?status=active "
            "may hold only active records"
        )

    content: dict[str, OwnedValue] = {
        "asset_id": record.id,
        "name": record.name,
        "exchange": record.exchange,
        "asset_class": record.asset_class,
        "tradable": record.tradable,
    }
    for name in _BOOL_FIELDS:
        value = getattr(record, name)
        if value is not msgspec.UNSET:
            content[name] = value
    for name in ("borrow_status", "cusip"):
        text = getattr(record, name)
        if isinstance(text, str):
            _check_text(name, text, MAX_STRING_LENGTH)
            content[name] = text
    if isinstance(record.attributes, list):
        if len(record.attributes) > MAX_ATTRIBUTES:
            raise RecordError(f"`attributes` has more than {MAX_ATTRIBUTES} entries")
        for attribute in record.attributes:
            _check_text("attributes", attribute, MAX_STRING_LENGTH)
        content["attributes"] = tuple(record.attributes)
    for name in DECIMAL_ATTRIBUTES:
        raw = getattr(record, name)
        if isinstance(raw, msgspec.Raw):
            content[name] = parse_decimal(name, bytes(raw))

    return CatalogAsset(record.symbol, ACTIVE, content, content_hash(content))


def _symbol_of(raw: msgspec.Raw) -> str | None:
    """Best-effort symbol of a record that failed validation, to protect its item.

    Bytes that are not UTF-8 are replaced first, so a record broken elsewhere still names its
    symbol; a symbol that itself is not valid text cannot be read and protects nothing.
    """
    try:
        loose = _LOOSE_DECODER.decode(raw)
    except RecursionError:
        return None
    except msgspec.DecodeError:
        try:
            loose = _LOOSE_DECODER.decode(bytes(raw).decode("utf-8", "replace").encode())
        except (msgspec.DecodeError, RecursionError):
            return None
    if isinstance(loose, dict):
        symbol = loose.get("symbol")
        if (
            isinstance(symbol, str)
            and 0 < len(symbol) <= MAX_SYMBOL_LENGTH
            and "\ufffd" not in symbol
        ):
            return symbol
    return None


def _validate_record(index: int, raw: msgspec.Raw) -> CatalogAsset | InvalidRecord:
    """One record, valid or invalid on its own: nothing it contains can fail the run."""
    try:
        return to_catalog_asset(_RECORD_DECODER.decode(raw))
    except (msgspec.ValidationError, msgspec.DecodeError, RecordError) as error:
        return InvalidRecord(index, _symbol_of(raw), str(error))
    except RecursionError:
        return InvalidRecord(index, None, "the record nests deeper than the decoder allows")
    except (ValueError, ArithmeticError) as error:  # anything else a value can break
        return InvalidRecord(index, _symbol_of(raw), f"{type(error).__name__}: {error}")


def validate_catalog(body: bytes) -> ValidatedCatalog:
    """Validate a `/v2/assets` body; raise CatalogFormatError unless it is one JSON array."""
    try:
        raws = _ARRAY_DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as error:
        raise CatalogFormatError(f"catalog is not a complete JSON array: {error}") from None
    return validate_records(raws)


def validate_records(raws: list[msgspec.Raw]) -> ValidatedCatalog:
    """Validate each raw record on its own, then set aside symbols that appear twice and
    symbols that share one asset id (a conflict, not a rename)."""
    results = [_validate_record(index, raw) for index, raw in enumerate(raws)]
    valid = [result for result in results if isinstance(result, CatalogAsset)]
    invalid = tuple(result for result in results if isinstance(result, InvalidRecord))
    counts = Counter(asset.symbol for asset in valid)
    counts.update(record.symbol for record in invalid if record.symbol is not None)
    duplicates = tuple(sorted(symbol for symbol, count in counts.items() if count > 1))
    duplicate_set = set(duplicates)
    assets = {asset.symbol: asset for asset in valid if asset.symbol not in duplicate_set}
    by_id: dict[str, list[str]] = {}
    for asset in assets.values():
        by_id.setdefault(str(asset.content["asset_id"]), []).append(asset.symbol)
    conflicts = tuple(
        IdConflict(asset_id, tuple(sorted(symbols)))
        for asset_id, symbols in sorted(by_id.items())
        if len(symbols) > 1
    )
    for conflict in conflicts:
        for symbol in conflict.symbols:
            del assets[symbol]
    return ValidatedCatalog(
        assets,
        invalid,
        duplicates,
        fetched=len(raws),
        id_conflicts=conflicts,
        # every record is exactly one of: valid, invalid, duplicate, id conflict
        duplicate_records=sum(1 for asset in valid if asset.symbol in duplicate_set),
        id_conflict_records=sum(len(conflict.symbols) for conflict in conflicts),
    )

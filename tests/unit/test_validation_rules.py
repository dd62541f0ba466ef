"""Every validation rule at its limit (one under passes, one over fails), every field mapped.

Issue 15: off-by-one limits and dropped bool fields went unnoticed by the unit tests.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from asset_sync.logic.models import ACTIVE, content_hash
from asset_sync.logic.validation import (
    MAX_ATTRIBUTES,
    MAX_NAME_LENGTH,
    MAX_STRING_LENGTH,
    MAX_SYMBOL_LENGTH,
    SHOWN_CHARACTERS,
    validate_catalog,
    validate_records,
)

FULL: dict[str, Any] = {
    "id": "id-1",
    "class": "us_equity",
    "exchange": "NASDAQ",
    "symbol": "AAPL",
    "name": "Apple",
    "status": "active",
    "tradable": True,
    "marginable": False,
    "shortable": True,
    "easy_to_borrow": False,
    "fractionable": True,
    "borrow_status": "easy",
    "attributes": ["b", "a"],
    "cusip": "037833100",
    "min_order_size": "0.001",
    "min_trade_increment": 0.01,
    "price_increment": "0.0100",
    "maintenance_margin_requirement": 30,
    "margin_requirement_long": "50",
    "margin_requirement_short": "1E+2",
}


def one(record: Any) -> Any:
    catalog = validate_catalog(json.dumps([record]).encode())
    return catalog.assets.get(record.get("symbol") if isinstance(record, dict) else None), catalog


def reason(record: Any) -> str:
    asset, catalog = one(record)
    assert asset is None and len(catalog.invalid) == 1, catalog
    return str(catalog.invalid[0].reason)


def test_every_field_is_mapped_to_its_owned_attribute() -> None:
    asset, _ = one(FULL)
    assert asset.symbol == "AAPL" and asset.status == ACTIVE
    assert asset.content == {
        "asset_id": "id-1",
        "name": "Apple",
        "exchange": "NASDAQ",
        "asset_class": "us_equity",
        "tradable": True,
        "marginable": False,
        "shortable": True,
        "easy_to_borrow": False,
        "fractionable": True,
        "borrow_status": "easy",
        "attributes": ("b", "a"),
        "cusip": "037833100",
        "min_order_size": Decimal("0.001"),
        "min_trade_increment": Decimal("0.01"),
        "price_increment": Decimal("0.0100"),
        "maintenance_margin_requirement": Decimal(30),
        "margin_requirement_long": Decimal(50),
        "margin_requirement_short": Decimal(100),
    }
    assert [type(v) for v in asset.content.values()].count(bool) == 5
    assert asset.content_hash == content_hash(asset.content)


@pytest.mark.parametrize("flag", ["marginable", "shortable", "easy_to_borrow", "fractionable"])
@pytest.mark.parametrize("value", [True, False])
def test_each_bool_field_is_kept_as_sent(flag: str, value: bool) -> None:
    asset, _ = one({**FULL, flag: value})
    assert asset.content[flag] is value


def test_absent_and_null_optional_fields_stay_absent() -> None:
    optional = [
        "marginable",
        "shortable",
        "easy_to_borrow",
        "fractionable",
        "borrow_status",
        "attributes",
        "cusip",
        "min_order_size",
        "min_trade_increment",
        "price_increment",
        "maintenance_margin_requirement",
        "margin_requirement_long",
        "margin_requirement_short",
    ]
    bare = {k: v for k, v in FULL.items() if k not in optional}
    asset, _ = one(bare)
    assert set(asset.content) == {"asset_id", "name", "exchange", "asset_class", "tradable"}
    nulls, _ = one({**bare, "borrow_status": None, "attributes": None, "cusip": None})
    assert nulls.content == asset.content
    assert one({**FULL, "attributes": []})[0].content["attributes"] == ()


LONG = repr("x" * 40 + "…")  # an offending value is shown quoted, cut at 40 characters


def test_an_offending_value_is_cut_only_beyond_the_shown_length() -> None:
    for length, shown in (
        (SHOWN_CHARACTERS, repr("x" * SHOWN_CHARACTERS)),
        (SHOWN_CHARACTERS + 1, LONG),
    ):
        assert reason({**FULL, "status": "x" * length}).startswith(f"`status` is {shown}, not")


def test_only_an_active_record_is_valid_in_an_active_only_response() -> None:
    assert one({**FULL, "status": "active"})[0].status == ACTIVE
    for status, shown in (("inactive", "'inactive'"), ("", "''"), ("x" * 128, LONG)):
        assert reason({**FULL, "status": status}) == (
            f"`status` is {shown}, not 'active': a response to ?status=active may hold "
            "only active records"
        )


@pytest.mark.parametrize(
    ("field", "limit", "message"),
    [
        ("name", MAX_NAME_LENGTH, "`name` is 513 characters, more than 512: " + LONG),
        ("id", MAX_STRING_LENGTH, "`id` is 129 characters, more than 128: " + LONG),
        ("class", MAX_STRING_LENGTH, "`asset_class` is 129 characters, more than 128: " + LONG),
        ("exchange", MAX_STRING_LENGTH, "`exchange` is 129 characters, more than 128: " + LONG),
        (
            "borrow_status",
            MAX_STRING_LENGTH,
            "`borrow_status` is 129 characters, more than 128: " + LONG,
        ),
        ("cusip", MAX_STRING_LENGTH, "`cusip` is 129 characters, more than 128: " + LONG),
    ],
)
def test_text_limits_are_exact(field: str, limit: int, message: str) -> None:
    assert one({**FULL, field: "x" * limit})[0] is not None
    assert reason({**FULL, field: "x" * (limit + 1)}) == message


def test_attribute_limits_are_exact() -> None:
    assert one({**FULL, "attributes": ["a"] * MAX_ATTRIBUTES})[0] is not None
    assert reason({**FULL, "attributes": ["a"] * (MAX_ATTRIBUTES + 1)}) == (
        "`attributes` has more than 64 entries"
    )
    assert one({**FULL, "attributes": ["x" * MAX_STRING_LENGTH]})[0] is not None
    assert reason({**FULL, "attributes": ["ok", "x" * 129]}) == (
        "`attributes` is 129 characters, more than 128: " + LONG
    )
    assert reason({**FULL, "attributes": ["ok", "a\x00"]}) == (
        "`attributes` 'a\\x00' contains the control character '\\x00'"
    )


def test_symbol_limits_are_exact() -> None:
    symbol = "S" * MAX_SYMBOL_LENGTH
    assert one({**FULL, "symbol": symbol})[0] is not None
    rule = "a symbol is 1 to 64 printable ASCII characters, no spaces"
    assert reason({**FULL, "symbol": "S" * (MAX_SYMBOL_LENGTH + 1)}) == (
        f"`symbol` is 65 characters, more than 64: {'S' * 40 + '…'!r}"
    )
    assert reason({**FULL, "symbol": ""}) == "`symbol` is empty"
    for bad, char in (("A B", " "), ("A\tB", "\t"), ("Ä", "Ä"), ("A\x7f", "\x7f")):
        assert reason({**FULL, "symbol": bad}) == f"`symbol` {bad!r} contains {char!r}: {rule}"
    for good in ("!", "~", "BRK.B", "BTC/USD", "_X", "A__"):
        assert one({**FULL, "symbol": good})[0] is not None, good
    assert reason({**FULL, "symbol": "__X"}) == "`symbol` '__X' may not start with '__'"


@pytest.mark.parametrize("char", ["\x00", "\x1f", "\x7f", "\x80", "\x9f"])
def test_control_characters_are_refused(char: str) -> None:
    for field, name in (("name", "name"), ("class", "asset_class"), ("cusip", "cusip")):
        assert reason({**FULL, field: f"a{char}b"}) == (
            f"`{name}` {f'a{char}b'!r} contains the control character {char!r}"
        )


@pytest.mark.parametrize("char", [" ", "~", "\xa0", "é", "\u2028", "😀"])
def test_printable_characters_are_kept(char: str) -> None:
    asset, _ = one({**FULL, "name": f"a{char}b"})
    assert asset.content["name"] == f"a{char}b"


def test_an_empty_id_is_refused() -> None:
    assert reason({**FULL, "id": ""}) == "`id` is empty"


@pytest.mark.parametrize(
    ("record", "symbol"),
    [
        ({**FULL, "tradable": "yes"}, "AAPL"),
        ({**FULL, "name": "x" * 600}, "AAPL"),
        ({**FULL, "symbol": "S" * 64, "name": None}, "S" * 64),
        ({**FULL, "symbol": "S" * 65}, None),
        ({**FULL, "symbol": ""}, None),
        ({**FULL, "symbol": 5}, None),
        ([1, 2], None),
        ("AAPL", None),
    ],
)
def test_an_invalid_record_names_the_symbol_it_protects(record: Any, symbol: str | None) -> None:
    catalog = validate_catalog(json.dumps([record]).encode())
    assert [(r.index, r.symbol) for r in catalog.invalid] == [(0, symbol)]
    assert catalog.protected_symbols == ({symbol} if symbol else set())


def test_a_record_broken_by_invalid_utf8_elsewhere_still_protects_its_symbol() -> None:
    raw = json.dumps({**FULL, "name": "@@"}).encode().replace(b"@@", b"\xff\xfe")
    catalog = validate_records([msgspec.Raw(raw)])
    assert [(r.index, r.symbol) for r in catalog.invalid] == [(0, "AAPL")]
    assert "UTF-8" in catalog.invalid[0].reason
    bad_symbol = raw.replace(b'"AAPL"', b'"AA\xffPL"')
    catalog = validate_records([msgspec.Raw(bad_symbol)])
    assert [(r.index, r.symbol) for r in catalog.invalid] == [(0, None)]


def test_a_record_nested_too_deep_is_invalid_without_a_symbol() -> None:
    deep = b'{"symbol": "DEEP", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    catalog = validate_records([msgspec.Raw(json.dumps(FULL).encode()), msgspec.Raw(deep)])
    assert [(r.index, r.symbol, r.reason) for r in catalog.invalid] == [
        (1, None, "the record nests deeper than the decoder allows")
    ]


def test_undecodable_text_inside_a_decimal_field_is_invalid_and_protects_the_symbol() -> None:
    raw = json.dumps({**FULL, "margin_requirement_long": "@@"}).encode().replace(b"@@", b"3\xff0")
    catalog = validate_records([msgspec.Raw(json.dumps(FULL).encode()), msgspec.Raw(raw)])
    assert [(r.index, r.symbol, r.reason) for r in catalog.invalid] == [
        (
            1,
            "AAPL",
            "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 2: "
            "invalid start byte",
        )
    ]


def test_duplicates_and_id_conflicts_are_sorted_and_set_aside() -> None:
    records = [
        {**FULL, "symbol": "Z", "id": "z"},
        {**FULL, "symbol": "B", "id": "shared"},
        {**FULL, "symbol": "Z", "id": "z2"},
        {**FULL, "symbol": "A", "id": "shared"},
        {**FULL, "symbol": "C", "id": "c"},
        {**FULL, "symbol": "Y", "id": "y", "tradable": "bad"},
        {**FULL, "symbol": "Y", "id": "y"},
    ]
    catalog = validate_catalog(json.dumps(records).encode())
    assert catalog.fetched == 7
    assert catalog.duplicates == ("Y", "Z")
    assert [(c.asset_id, c.symbols) for c in catalog.id_conflicts] == [("shared", ("A", "B"))]
    assert list(catalog.assets) == ["C"]
    assert catalog.protected_symbols == {"A", "B", "Y", "Z"}


def test_every_fetched_record_is_counted_exactly_once() -> None:
    """valid + invalid + duplicate_records + id_conflict_records = fetched (docs/identity.md)."""
    records = [
        {**FULL, "symbol": "Z", "id": "z"},
        {**FULL, "symbol": "Z", "id": "z2"},
        {**FULL, "symbol": "B", "id": "shared"},
        {**FULL, "symbol": "A", "id": "shared"},
        {**FULL, "symbol": "C", "id": "c"},
        {**FULL, "symbol": "D", "id": "d"},
        {**FULL, "symbol": "Y", "id": "y", "tradable": "bad"},
        {**FULL, "symbol": "Y", "id": "y"},
    ]
    catalog = validate_catalog(json.dumps(records).encode())
    valid, invalid = len(catalog.assets), len(catalog.invalid)
    assert (valid, invalid, catalog.duplicate_records, catalog.id_conflict_records) == (2, 1, 3, 2)
    assert catalog.fetched == 8 == valid + invalid + 3 + 2

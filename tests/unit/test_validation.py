"""Validation: each record on its own, open enums, exact decimals, clear reasons."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.support import shared_file

from asset_sync.logic.models import ACTIVE
from asset_sync.logic.validation import CatalogFormatError, validate_catalog


def record(**overrides: Any) -> dict[str, Any]:
    """AAPL's record; another symbol gets its own asset id (two symbols of one id conflict)."""
    symbol = overrides.get("symbol", "AAPL")
    base: dict[str, Any] = {
        "id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415" if symbol == "AAPL" else f"id-{symbol}",
        "class": "us_equity",
        "exchange": "NASDAQ",
        "symbol": "AAPL",
        "name": "Apple Inc. Common Stock",
        "status": "active",
        "tradable": True,
        "marginable": True,
        "shortable": True,
        "easy_to_borrow": True,
        "fractionable": True,
        "attributes": ["fractional_eh_enabled", "has_options"],
        "margin_requirement_long": "30",
        "margin_requirement_short": "30",
        "maintenance_margin_requirement": 30,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def body(*records: dict[str, Any]) -> bytes:
    return json.dumps(list(records)).encode()


def test_a_complete_record_maps_to_owned_attributes() -> None:
    catalog = validate_catalog(body(record()))
    asset = catalog.assets["AAPL"]
    assert asset.status == ACTIVE
    assert asset.content["asset_id"] == "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415"
    assert asset.content["asset_class"] == "us_equity"
    assert asset.content["attributes"] == ("fractional_eh_enabled", "has_options")
    assert asset.content["maintenance_margin_requirement"] == Decimal(30)
    assert "cusip" not in asset.content  # absent stays absent, never null


def test_decimal_strings_are_kept_exactly() -> None:
    crypto = record(
        symbol="BTC/USD",
        **{"class": "crypto"},
        exchange="CRYPTO",
        min_order_size="0.000000001",
        min_trade_increment="0.000000001",
        price_increment="0.10",
    )
    asset = validate_catalog(body(crypto)).assets["BTC/USD"]
    assert format(asset.content["min_order_size"], "f") == "0.000000001"
    assert format(asset.content["price_increment"], "f") == "0.10"


def test_unknown_enum_values_and_fields_are_accepted() -> None:
    odd = record(
        **{"class": "crypto_perp"},
        exchange="ASCX",
        attributes=["brand_new_flag"],
        borrow_status="maybe_later",
        some_future_field={"nested": [1, 2]},
    )
    asset = validate_catalog(body(odd, record(symbol="X", exchange="", **{"class": ""}))).assets
    assert asset["AAPL"].content["asset_class"] == "crypto_perp"
    assert asset["AAPL"].content["exchange"] == "ASCX"
    assert asset["AAPL"].content["borrow_status"] == "maybe_later"
    assert asset["X"].content["exchange"] == ""


def test_a_record_that_is_not_active_is_invalid_and_protects_its_item() -> None:
    catalog = validate_catalog(body(record(status="inactive"), record(symbol="B", status="")))
    assert catalog.assets == {}
    assert [r.symbol for r in catalog.invalid] == ["AAPL", "B"]
    assert catalog.protected_symbols == {"AAPL", "B"}


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (record(tradable="true"), "tradable"),
        (record(marginable=1), "marginable"),
        (record(symbol=...), "symbol"),
        (record(id=...), "id"),
        (record(name=None), "name"),
        (record(margin_requirement_long="thirty"), "margin_requirement_long"),
        (record(price_increment="NaN"), "price_increment"),
        (record(name="x" * 10_000), "name"),
        (record(symbol="A" * 1000), "symbol"),
        (record(name="evil\x00name"), "control"),
        (record(symbol="AA PL"), "symbol"),
        (record(symbol="__asset_sync"), "symbol"),
        (record(attributes=["ok", 3]), "attributes"),
    ],
)
def test_a_bad_record_is_skipped_with_its_reason(bad: dict[str, Any], reason: str) -> None:
    catalog = validate_catalog(body(bad, record(symbol="MSFT")))
    assert list(catalog.assets) == ["MSFT"]
    assert len(catalog.invalid) == 1
    assert catalog.invalid[0].index == 0
    assert reason in catalog.invalid[0].reason


def test_an_invalid_record_protects_its_symbol() -> None:
    catalog = validate_catalog(body(record(tradable="yes"), record(symbol="MSFT")))
    assert catalog.protected_symbols == {"AAPL"}


def test_a_symbol_twice_is_a_conflict_and_neither_record_applies() -> None:
    catalog = validate_catalog(body(record(), record(name="Other"), record(symbol="MSFT")))
    assert catalog.duplicates == ("AAPL",)
    assert set(catalog.assets) == {"MSFT"}
    assert "AAPL" in catalog.protected_symbols


@pytest.mark.parametrize(
    "payload",
    [b'[{"symbol": "AAPL"', b"<html>502 Bad Gateway</html>", b'{"message": "x"}', b"", b"null"],
)
def test_a_body_that_is_not_a_complete_array_is_an_error(payload: bytes) -> None:
    with pytest.raises(CatalogFormatError, match="not a complete JSON array"):
        validate_catalog(payload)


def test_real_nasdaq_sample_validates_completely() -> None:
    catalog = validate_catalog(
        shared_file("phoobynet_assets_nasdaq_active_filtered_2022-06-21.json").read_bytes()
    )
    assert catalog.fetched == 878
    assert len(catalog.assets) == 878
    assert not catalog.invalid


def test_real_otc_inactive_sample_keeps_numbers_and_strings() -> None:
    raw = shared_file("yuelirex_list_otc_inactive.json").read_bytes()
    assert len(validate_catalog(raw).invalid) == 2  # inactive: never in an active-only response
    active = raw.replace(b'"inactive"', b'"active"')
    catalog = validate_catalog(active)
    assert len(catalog.assets) == 2
    for asset in catalog.assets.values():
        assert format(asset.content["margin_requirement_long"], "f") == "100"
        assert asset.content["attributes"] == ()


def test_real_single_asset_sample_validates() -> None:
    raw = shared_file("yuelirex_get_aapl_with_attributes.json").read_bytes()
    catalog = validate_catalog(b"[" + raw + b"]")
    assert catalog.assets["AAPL"].content["cusip"] == "987654321"


decimal_text = st.decimals(
    allow_nan=False, allow_infinity=False, min_value=-(10**20), max_value=10**20, places=9
).map(lambda d: format(d, "f"))


@given(value=decimal_text)
def test_any_decimal_string_round_trips_exactly(value: str) -> None:
    asset = validate_catalog(body(record(margin_requirement_long=value))).assets["AAPL"]
    assert format(asset.content["margin_requirement_long"], "f") == value


@given(
    name=st.text(min_size=0, max_size=300).filter(
        lambda s: not any(ord(c) < 32 or 127 <= ord(c) <= 159 for c in s)
    )
)
def test_any_printable_name_is_kept(name: str) -> None:
    asset = validate_catalog(body(record(name=name))).assets["AAPL"]
    assert asset.content["name"] == name

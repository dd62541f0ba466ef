"""Tests of the synthetic Alpaca asset catalog generator."""

from __future__ import annotations

import copy
import json
import uuid
from collections import Counter
from decimal import Decimal

import pytest

from asset_sync.local.catalog import (
    Asset,
    CatalogChanges,
    dumps_catalog,
    evolve_catalog,
    generate_catalog,
)

# components.schemas.Assets.required in Alpaca's Trading API OpenAPI spec (2026-06).
REQUIRED = (
    "id",
    "class",
    "exchange",
    "symbol",
    "name",
    "status",
    "tradable",
    "marginable",
    "shortable",
    "easy_to_borrow",
    "fractionable",
)
BOOLEANS = ("tradable", "marginable", "shortable", "easy_to_borrow", "fractionable")
CRYPTO_DECIMALS = ("min_order_size", "min_trade_increment", "price_increment")
SPEC_EXCHANGES = {"AMEX", "ARCA", "BATS", "NYSE", "NASDAQ", "NYSEARCA", "OTC"}
SPEC_ATTRIBUTES = {
    "ptp_no_exception",
    "ptp_with_exception",
    "ipo",
    "has_options",
    "options_late_close",
    "fractional_eh_enabled",
    "overnight_tradable",
    "overnight_halted",
}
KNOWN_FIELDS = {
    *REQUIRED,
    "attributes",
    "borrow_status",
    "cusip",
    "maintenance_margin_requirement",
    "margin_requirement_long",
    "margin_requirement_short",
    *CRYPTO_DECIMALS,
}


@pytest.fixture(scope="module")
def catalog() -> list[Asset]:
    return generate_catalog(2000, seed=3)


@pytest.fixture(scope="module")
def big() -> list[Asset]:
    return generate_catalog(35_000)


def test_deterministic_for_a_seed() -> None:
    assert generate_catalog(500, seed=7) == generate_catalog(500, seed=7)
    assert dumps_catalog(generate_catalog(500, seed=7)) == dumps_catalog(
        generate_catalog(500, seed=7)
    )
    assert generate_catalog(500, seed=7) != generate_catalog(500, seed=8)


def test_sizes() -> None:
    assert generate_catalog(0) == []
    assert len(generate_catalog(1)) == 1
    assert len(generate_catalog(37, seed=5)) == 37
    with pytest.raises(ValueError):
        generate_catalog(-1)


def test_unique_symbols_and_ids(catalog: list[Asset]) -> None:
    assert len({a["symbol"] for a in catalog}) == len(catalog)
    assert len({a["id"] for a in catalog}) == len(catalog)


def test_common_shapes(catalog: list[Asset]) -> None:
    for a in catalog:
        for key in REQUIRED:
            assert key in a, (key, a)
        assert str(uuid.UUID(str(a["id"]))) == a["id"]
        assert uuid.UUID(str(a["id"])).version == 4
        for key in ("class", "exchange", "symbol", "name", "status"):
            assert isinstance(a[key], str)
            assert a[key]
        assert a["status"] == "active"
        for key in BOOLEANS:
            assert type(a[key]) is bool, (key, a)
        mmr = a.get("maintenance_margin_requirement")
        assert mmr is None or (isinstance(mmr, int | float) and not isinstance(mmr, bool))
        for key in ("margin_requirement_long", "margin_requirement_short"):
            if key in a:
                assert isinstance(a[key], str)
                Decimal(str(a[key]))
        if "attributes" in a:
            attrs = a["attributes"]
            assert isinstance(attrs, list)
            assert all(isinstance(x, str) for x in attrs)
            assert len(set(attrs)) == len(attrs)
        if "cusip" in a:
            assert a["cusip"] is None or (isinstance(a["cusip"], str) and len(a["cusip"]) == 9)


def test_class_mix_and_symbol_styles(catalog: list[Asset]) -> None:
    classes = Counter(a["class"] for a in catalog)
    assert 0.90 <= classes["us_equity"] / len(catalog) <= 0.95
    assert classes["crypto"] == 60
    assert classes["crypto_perp"] > 0
    assert classes["us_option"] > 0
    symbols = [str(a["symbol"]) for a in catalog]
    assert any("." in s for s in symbols)  # BRK.B style
    assert any("/" in s for s in symbols)  # BTC/USD style
    assert all("/" in str(a["symbol"]) for a in catalog if a["class"] == "crypto")


def test_equity_fields(catalog: list[Asset]) -> None:
    equities = [a for a in catalog if a["class"] == "us_equity"]
    exchanges = Counter(a["exchange"] for a in equities)
    assert {"NASDAQ", "NYSE", "ARCA", "BATS", "AMEX", "OTC"} <= set(exchanges)
    assert set(exchanges) - SPEC_EXCHANGES  # open strings such as ASCX appear
    for a in equities:
        assert a["borrow_status"] in {
            "easy_to_borrow",
            "hard_to_borrow",
            "locate_required",
            "threshold_list",
        }
        assert isinstance(a["maintenance_margin_requirement"], int)
        assert a["margin_requirement_long"] == str(a["maintenance_margin_requirement"])
        assert not any(k in a for k in CRYPTO_DECIMALS)
    assert any(a.get("cusip") is None and "cusip" in a for a in equities)
    assert any("cusip" not in a for a in equities)
    assert any(a.get("attributes") == [] for a in equities)
    assert any(a.get("attributes") for a in equities)
    assert any(a["margin_requirement_long"] == "30" for a in equities)
    assert any(a["margin_requirement_long"] == "100" for a in equities)


def test_crypto_fields(catalog: list[Asset]) -> None:
    crypto = [a for a in catalog if a["class"] in ("crypto", "crypto_perp")]
    assert crypto
    for a in crypto:
        assert a["exchange"] == "CRYPTO"
        assert "borrow_status" not in a
        for key in CRYPTO_DECIMALS:
            value = a[key]
            assert isinstance(value, str), (key, a)
            assert Decimal(value) > 0
            assert "e" not in value.lower()
    assert any(a["min_trade_increment"] == "0.000000001" for a in crypto)


def test_open_values_at_scale(big: list[Asset]) -> None:
    assert len(big) == 35_000
    assert len({a["symbol"] for a in big}) == 35_000
    assert len({a["id"] for a in big}) == 35_000
    attrs = {x for a in big for x in a.get("attributes", [])}  # type: ignore[attr-defined]
    assert attrs >= SPEC_ATTRIBUTES
    assert attrs - SPEC_ATTRIBUTES  # unknown attribute values
    assert {a.get("borrow_status") for a in big} - {None, "easy_to_borrow", "hard_to_borrow"}
    assert any(set(a) - KNOWN_FIELDS for a in big)  # unknown extra fields
    assert any("attributes" not in a for a in big)


def test_inactive_share() -> None:
    cat = generate_catalog(1000, seed=2, inactive=0.2)
    assert Counter(a["status"] for a in cat) == {"active": 800, "inactive": 200}


def test_dumps_catalog_is_compact_json(catalog: list[Asset]) -> None:
    body = dumps_catalog(catalog)
    assert isinstance(body, bytes)
    assert json.loads(body) == catalog
    assert body == json.dumps(catalog, separators=(",", ":")).encode()  # no padding
    assert body.startswith(b'[{"id":')
    assert dumps_catalog([]) == b"[]"


def test_evolve_counts_and_contents(catalog: list[Asset]) -> None:
    before = copy.deepcopy(catalog)
    after, changes = evolve_catalog(catalog, seed=11)
    assert catalog == before  # input untouched
    assert isinstance(changes, CatalogChanges)
    assert len(changes.listed) == 20
    assert len(changes.delisted) == 20
    assert len(changes.flipped) == 20
    assert len(changes.renamed) == 4
    assert set(changes.changed) == set(changes.flipped) | set(changes.renamed)
    assert len(changes.changed) == 24
    assert len(after) == len(catalog) - 20 + 20

    old = {a["symbol"]: a for a in catalog}
    new = {a["symbol"]: a for a in after}
    assert len(new) == len(after)  # still unique
    assert set(changes.listed) == set(new) - set(old)
    assert set(changes.delisted) == set(old) - set(new)
    assert not set(changes.changed) & (set(changes.listed) | set(changes.delisted))
    differing = {s for s in set(old) & set(new) if old[s] != new[s]}
    assert differing == set(changes.changed)
    for s in changes.renamed:
        assert new[s]["name"] != old[s]["name"]
    for s in changes.flipped:
        assert {k for k in old[s] if old[s][k] != new[s].get(k)} - {
            "tradable",
            "shortable",
            "easy_to_borrow",
            "borrow_status",
            "attributes",
            "margin_requirement_long",
            "margin_requirement_short",
            "maintenance_margin_requirement",
        } == set()
    ids = [a["id"] for a in after]
    assert len(set(ids)) == len(ids)
    assert not {new[s]["id"] for s in changes.listed} & {a["id"] for a in catalog}


def test_evolve_returns_independent_records(catalog: list[Asset]) -> None:
    before = copy.deepcopy(catalog)
    after, _ = evolve_catalog(catalog, seed=1)
    for a in after:
        a["name"] = "mutated"
        if isinstance(a.get("attributes"), list):
            a["attributes"].append("mutated")  # type: ignore[attr-defined]
    assert catalog == before


def test_evolve_is_deterministic_and_chains(catalog: list[Asset]) -> None:
    assert evolve_catalog(catalog, seed=5) == evolve_catalog(catalog, seed=5)
    day2, _ = evolve_catalog(catalog, seed=5)
    day3, changes = evolve_catalog(day2, seed=6)
    assert len({a["symbol"] for a in day3}) == len(day3)
    assert len(changes.listed) == len(changes.delisted) == round(0.01 * len(day2))


def test_evolve_minimums_and_rounding() -> None:
    small = generate_catalog(100, seed=4)
    _, changes = evolve_catalog(small, seed=0, renames=0.002, flips=0.001)
    assert len(changes.renamed) == 1  # at least 1 when fraction > 0 and n >= 100
    assert len(changes.flipped) == 1
    tiny = generate_catalog(40, seed=4)
    _, changes = evolve_catalog(tiny, seed=0)
    assert changes == CatalogChanges((), (), (), (), ())
    unchanged, changes = evolve_catalog(small, seed=0, listings=0, delistings=0, flips=0, renames=0)
    assert unchanged == small
    assert unchanged is not small
    _, changes = evolve_catalog(small, seed=0, listings=0.5, delistings=0.25)
    assert (len(changes.listed), len(changes.delisted)) == (50, 25)


def test_evolve_rejects_bad_fractions(catalog: list[Asset]) -> None:
    with pytest.raises(ValueError):
        evolve_catalog(catalog, seed=0, listings=-0.1)
    with pytest.raises(ValueError):
        evolve_catalog(catalog, seed=0, delistings=1.5)

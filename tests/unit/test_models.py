"""models.py: exact comparison of stored and wanted values, report forms, protection."""

from __future__ import annotations

from decimal import Decimal

import pytest

from asset_sync.logic.models import (
    BOOKKEEPING_ATTRIBUTES,
    CONTENT_ATTRIBUTES,
    DECIMAL_ATTRIBUTES,
    IDENTITY_ATTRIBUTES,
    OWNED_ATTRIBUTES,
    CatalogAsset,
    FieldChange,
    IdConflict,
    InvalidRecord,
    ItemChange,
    Unrecognized,
    ValidatedCatalog,
    content_hash,
    same_value,
    state_from_item,
    to_json_value,
)


@pytest.mark.parametrize(
    ("stored", "wanted", "same"),
    [
        (None, None, True),
        (None, "a", False),
        ("a", None, False),
        ("a", "a", True),
        ("a", "b", False),
        (Decimal("30.00"), Decimal(30), True),
        (Decimal("-0"), Decimal(0), True),
        (Decimal(1), True, False),  # a number is not a bool, though 1 == True
        (True, Decimal(1), False),
        (Decimal(30), "30", False),
        ("30", Decimal(30), False),
        (True, True, True),
        (False, True, False),
        (("a",), ("a",), True),
        (("a", "b"), ("b", "a"), False),
        (Unrecognized({"S": "a"}), "a", False),
        (Unrecognized({"NULL": True}), None, False),
    ],
)
def test_same_value_is_exact_and_typed(stored: object, wanted: object, same: bool) -> None:
    assert same_value(stored, wanted) is same  # type: ignore[arg-type]


def test_unrecognized_type_code() -> None:
    assert Unrecognized({"NULL": True}).type_code == "NULL"
    assert Unrecognized({"SS": ["a"]}).type_code == "SS"
    assert Unrecognized({}).type_code == ""


def test_report_values() -> None:
    assert to_json_value(Decimal("0.10")) == "0.10"  # as stored, not normalised
    assert to_json_value(Decimal("1E+2")) == "100"
    assert to_json_value(("a", "b")) == ["a", "b"]
    assert to_json_value(None) is None and to_json_value(True) is True
    assert to_json_value(Unrecognized({"BS": [b"\x01", bytearray(b"\x02")]})) == {
        "BS": ["01", "02"]
    }
    assert to_json_value(Unrecognized({"L": [{"N": "1"}, {"B": b"\xff"}]})) == {
        "L": [{"N": "1"}, {"B": "ff"}]
    }


def test_item_change_to_json() -> None:
    assert ItemChange("create").to_json() == {"action": "create"}
    change = ItemChange("update", {"z": FieldChange(1, 2), "a": FieldChange(None, "x")})  # type: ignore[arg-type]
    assert list(change.to_json()["fields"]) == ["a", "z"]  # type: ignore[call-overload]


def test_protected_symbols() -> None:
    catalog = ValidatedCatalog(
        assets={},
        invalid=(InvalidRecord(0, "A", "r"), InvalidRecord(1, None, "r")),
        duplicates=("B",),
        id_conflicts=(IdConflict("i", ("C", "D")),),
    )
    assert catalog.protected_symbols == {"A", "B", "C", "D"}
    assert ValidatedCatalog(assets={}).protected_symbols == frozenset()
    assert ValidatedCatalog(assets={}).fetched == 0


def test_owned_attributes_are_the_documented_ones() -> None:
    documented = [
        "symbol",
        "asset_id",
        "name",
        "exchange",
        "asset_class",
        "status",
        "tradable",
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
        "created_at",
        "updated_at",
        "last_sync_timestamp",
        "sync_version",
        "sync_hash",
        "sync_run_seq",
        "previous_symbol",
        "renamed_to",
        "replaces_asset_id",
        "sync_action",
    ]
    assert set(documented) == OWNED_ATTRIBUTES
    assert set(DECIMAL_ATTRIBUTES) == set(documented[14:20])
    assert set(CONTENT_ATTRIBUTES).isdisjoint({"symbol", "status", *BOOKKEEPING_ATTRIBUTES})
    assert set(IDENTITY_ATTRIBUTES).isdisjoint(CONTENT_ATTRIBUTES)


def test_content_hash_is_order_free_and_type_sensitive() -> None:
    a = content_hash({"name": "x", "tradable": True})
    assert a == content_hash({"tradable": True, "name": "x"})
    assert a != content_hash({"name": "x", "tradable": False})
    assert content_hash({"name": "é"}) != content_hash({"name": "e"})
    assert len(a) == 32 and int(a, 16) >= 0
    assert content_hash({"n": ("a", "b")}) != content_hash({"n": ("a,b",)})
    assert content_hash({"n": "1"}) != content_hash({"n": Decimal(1)})


def test_the_digest_is_stable_across_releases() -> None:
    """Every stored item carries it: a different digest would rewrite every item once."""
    content = {
        "name": "Société Générale",
        "tradable": True,
        "attributes": ("a", "b"),
        "margin_requirement_long": Decimal("30.00"),
    }
    assert content_hash(content) == "95c1095aa6e1e0bd626083e7a6cf8dcd"  # type: ignore[arg-type]


def test_catalog_asset_is_frozen() -> None:
    asset = CatalogAsset("A", "active", {}, "h")
    with pytest.raises(AttributeError):
        asset.symbol = "B"  # type: ignore[misc]


def test_the_planners_view_of_an_item_keeps_only_values_of_the_types_it_reads() -> None:
    # Another service's item: no run number, a status and a hash of other types.
    foreign = {"symbol": "F", "status": Decimal(1), "sync_hash": Decimal(2), "asset_class": True}
    state = state_from_item("F", foreign, whole=False)
    assert (state.status, state.sync_hash, state.asset_class) == ("", None, None)
    assert state.sync_run_seq == 0 and state.values is None
    written = {"status": "active", "sync_hash": "h", "asset_class": "crypto"}
    state = state_from_item("W", {**written, "sync_run_seq": Decimal(4)})
    assert (state.status, state.sync_hash, state.asset_class, state.sync_run_seq) == (
        "active",
        "h",
        "crypto",
        4,
    )
    assert state_from_item("X", {"sync_run_seq": Decimal("4.5")}).sync_run_seq == 0

"""The in-memory store refuses what DynamoDB refuses, so a unit test cannot pass on a write
the real table would reject."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from tests.support.memory_store import MemoryStore, ValidationError

from asset_sync.dal.errors import ConditionFailedError
from asset_sync.logic.models import Unrecognized

ITEM: dict[str, Any] = {"symbol": "A", "status": "active", "sync_version": Decimal(1)}


def store() -> MemoryStore:
    return MemoryStore({"A": ITEM})


@pytest.mark.parametrize(
    "value",
    [
        None,
        1.5,
        ["a"],
        {"a": "b"},
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("1" * 39),
        Decimal("1E+126"),
        Decimal("1E-131"),
        ("a", 1),
    ],
)
def test_a_value_dynamodb_refuses_fails_the_write(value: Any) -> None:
    with pytest.raises((TypeError, ValidationError)):
        store().update_owned("A", {"name": value}, (), {}, 1)
    with pytest.raises((TypeError, ValidationError)):
        MemoryStore().put_new({**ITEM, "name": value})


@pytest.mark.parametrize(
    "value", [Decimal("1" * 38), Decimal("1E+125"), Decimal("1E-130"), Decimal("-0")]
)
def test_numbers_dynamodb_stores_are_accepted(value: Decimal) -> None:
    s = store()
    s.update_owned("A", {"margin": value}, (), {}, 1)
    assert s.items["A"]["margin"] == value


def test_the_key_cannot_be_updated_and_must_be_a_string() -> None:
    with pytest.raises(ValidationError, match="part of the key"):
        store().update_owned("A", {"symbol": "B"}, (), {}, 1)
    with pytest.raises(ValidationError, match="part of the key"):
        store().update_owned("A", {"name": "x"}, ("symbol",), {}, 1)
    with pytest.raises(ValidationError, match="non-empty string"):
        MemoryStore().put_new({"symbol": "", "status": "active"})
    with pytest.raises(ValidationError, match="non-empty string"):
        MemoryStore().put_new({"status": "active"})


def test_set_and_remove_of_one_attribute_overlap() -> None:
    with pytest.raises(ValidationError, match="overlap"):
        store().update_owned("A", {"name": "x"}, ("name",), {}, 1)


def test_an_update_that_sets_nothing_is_malformed() -> None:
    with pytest.raises(ValidationError, match="empty SET"):
        store().update_owned("A", {}, ("name",), {}, 1)


def test_conditions_compare_exactly() -> None:
    s = store()
    with pytest.raises(ConditionFailedError):
        s.update_owned("A", {"name": "x"}, (), {"sync_version": Decimal(2)}, 1)
    with pytest.raises(ConditionFailedError):
        s.update_owned("A", {"name": "x"}, (), {"sync_version": "1"}, 1)  # S is not N
    with pytest.raises(ConditionFailedError):
        s.update_owned("A", {"name": "x"}, (), {"cusip": Unrecognized({"NULL": True})}, 1)
    with pytest.raises(ConditionFailedError):
        s.update_owned("B", {"name": "x"}, (), {}, 1)  # attribute_exists(symbol)
    s.update_owned("A", {"name": "x"}, (), {"sync_version": Decimal("1.0"), "name": None}, 1)
    assert s.items["A"]["name"] == "x"


def test_the_run_number_fence() -> None:
    s = store()
    s.update_owned("A", {"sync_run_seq": Decimal(5)}, (), {}, 5)
    with pytest.raises(ConditionFailedError):
        s.update_owned("A", {"name": "x"}, (), {}, 4)
    s.update_owned("A", {"name": "y"}, (), {}, 5)
    assert s.items["A"]["name"] == "y"


def test_a_create_over_an_existing_item_fails_its_condition() -> None:
    with pytest.raises(ConditionFailedError):
        store().put_new(ITEM)

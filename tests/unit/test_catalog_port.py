"""The catalog port (logic/catalog.py): fetching and validating, the scope check, and the paced
lookups that confirm delistings."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support import minimal_record as rec
from tests.support.memory_catalog import MemoryCatalog

from asset_sync.logic.catalog import (
    CatalogAssetNotFoundError,
    CatalogAuthError,
    CatalogError,
    fetch_catalog,
    paced_lookup,
    unknown_class_message,
)
from asset_sync.logic.confirmation import LookupFailedError
from asset_sync.logic.models import ACTIVE, INACTIVE, CurrentState
from asset_sync.logic.validation import CatalogFormatError


def test_each_class_is_fetched_and_counted_and_all_are_validated_together() -> None:
    source = MemoryCatalog([rec("A"), rec("B"), rec("C", **{"class": "crypto"}), rec("A")])
    fetched = fetch_catalog(source, ("us_equity", "crypto", "us_option"))
    assert fetched.records_per_class == {"us_equity": 3, "crypto": 1, "us_option": 0}
    assert sorted(fetched.catalog.assets) == ["B", "C"]
    assert list(fetched.catalog.duplicates) == ["A"]  # across the bodies


class Bodies:
    attempts = 0

    def __init__(self, body: bytes) -> None:
        self.body = body

    def list_assets_bodies(self, asset_classes: Any = ()) -> list[bytes]:
        return [self.body for _ in asset_classes]

    def get_asset(self, _key: str) -> dict[str, Any]:
        raise AssertionError("not looked up")


@pytest.mark.parametrize("body", [b'[{"symbol": "A"}', b'{"symbol": "A"}', b"[" * 100_000])
def test_a_body_that_is_not_a_whole_json_array_fails_the_fetch(body: bytes) -> None:
    with pytest.raises(CatalogFormatError) as failed:
        fetch_catalog(Bodies(body), ("us_equity",))
    assert str(failed.value).startswith(
        f"the catalog response is not a complete JSON array ({len(body):,} bytes): "
    )


def state(symbol: str, asset_class: str, status: str = ACTIVE) -> CurrentState:
    return CurrentState(symbol, status, asset_class=asset_class)


def test_a_class_neither_the_catalog_nor_the_table_knows_is_named_with_the_known_ones() -> None:
    fetched = fetch_catalog(MemoryCatalog([rec("A")]), ("us_equity", "bogus", "crypto"))
    current = {"X": state("X", "crypto_perp"), "Y": state("Y", "weird", INACTIVE)}
    assert unknown_class_message(fetched, current) == (
        "Alpaca returned no assets of class 'bogus'; known classes: crypto, crypto_perp, "
        "us_equity, us_option (class names are lower case; the table holds none either)"
    )
    held = {"X": state("X", "bogus"), "Z": state("Z", "crypto")}
    assert unknown_class_message(fetched, held) is None  # the table holds both: news, not typos
    empty = fetch_catalog(MemoryCatalog([rec("A")]), ("us_equity",))
    assert unknown_class_message(empty, {}) is None


class Waits:
    def __init__(self, stop_after: int = 10**6) -> None:
        self.seconds: list[float] = []
        self.stop_after = stop_after

    def __call__(self, seconds: float) -> bool:
        self.seconds.append(seconds)
        return len(self.seconds) > self.stop_after


def test_lookups_answer_the_asset_none_for_unknown_and_fail_softly_otherwise() -> None:
    listed = {**rec("A", id="id-a"), "status": INACTIVE}
    answers: dict[str, Any] = {
        "denied": CatalogAuthError("HTTP 403"),
        "down": CatalogError("HTTP 500 after 5 retries"),
        "gone": CatalogAssetNotFoundError("404"),
    }
    source = MemoryCatalog([listed], answers)
    lookup = paced_lookup(source, 1e6, Waits())

    assert lookup("id-a") == listed
    assert lookup("gone") is None and lookup("nobody") is None
    with pytest.raises(LookupFailedError, match=r"^HTTP 500 after 5 retries$"):
        lookup("down")
    with pytest.raises(CatalogAuthError):
        lookup("denied")
    assert source.looked_up == ["id-a", "gone", "nobody", "down", "denied"]


def test_lookups_are_paced_and_stop_when_the_run_must() -> None:
    waits = Waits(stop_after=4)
    lookup = paced_lookup(MemoryCatalog(), 2.0, waits)
    assert lookup("a") is None  # the first goes at once
    assert lookup("b") is None  # the second waits about half a second
    with pytest.raises(LookupFailedError, match=r"^the run was asked to stop$"):
        lookup("c")
    # each later lookup waits one interval more (the fake wait does not advance the clock);
    # between them, wait(0) asks whether the run must stop
    assert [s for s in waits.seconds if s > 0] == pytest.approx([0.5, 1.0], abs=0.05)
    assert waits.seconds.count(0) == 3


class OneBody(Bodies):
    """A source that answers one body whatever it was asked (a broken port)."""

    def list_assets_bodies(self, asset_classes: Any = ()) -> list[bytes]:
        return [self.body]


def test_a_class_without_its_body_fails_the_fetch_instead_of_reading_as_empty() -> None:
    # Counted as absent, its items would look delisted and the scope check could not see it.
    with pytest.raises(ValueError, match="shorter"):
        fetch_catalog(OneBody(b"[]"), ("us_equity", "crypto"))

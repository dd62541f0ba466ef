"""Property: a decimal the catalog sends comes back from DynamoDB (moto's server) as exactly
the same value, and the item read back hashes as the catalog record does.

The oracle is `Decimal(text)` of the generated text, compared exactly (no context involved).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from tests.support import CREDENTIALS, minimal_record
from tests.support.examples import examples

from asset_sync.config import SyncSettings
from asset_sync.dal.assets import AssetTable
from asset_sync.logic.item_writes import new_item
from asset_sync.logic.models import CONTENT_ATTRIBUTES, DECIMAL_ATTRIBUTES, content_hash
from asset_sync.logic.validation import (
    MAX_DECIMAL_DIGITS,
    MAX_DECIMAL_EXPONENT,
    validate_catalog,
)
from asset_sync.wiring import tables


@pytest.fixture(scope="module")
def table(moto_url: str) -> Iterator[AssetTable]:
    name = f"decimals_{uuid.uuid4().hex[:10]}"
    settings = SyncSettings(
        assets_table=name,
        state_table=f"{name}_sync_state",
        dynamodb_endpoint_url=moto_url,
        credentials=CREDENTIALS,
    )
    assets, _state = tables(settings)
    assets.create()
    yield assets


@st.composite
def decimal_texts(draw: st.DrawFn) -> str:
    """Text of a number validation accepts: up to 38 digits, |exponent| <= 30, any spelling."""
    digits = draw(st.integers(1, MAX_DECIMAL_DIGITS))
    coefficient = draw(st.integers(0, 10**digits - 1))
    exponent = draw(st.integers(-2 * MAX_DECIMAL_EXPONENT, MAX_DECIMAL_EXPONENT))
    sign = draw(st.sampled_from(["", "-"]))
    value = Decimal(f"{sign}{coefficient}E{exponent}")
    assume(value.is_zero() or abs(value.adjusted()) <= MAX_DECIMAL_EXPONENT)
    return draw(st.sampled_from([format(value, "f"), f"{sign}{coefficient}E{exponent}"]))


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(texts=st.lists(decimal_texts(), min_size=1, max_size=len(DECIMAL_ATTRIBUTES)))
def test_a_decimal_round_trips_through_dynamodb_exactly(
    table: AssetTable, texts: list[str]
) -> None:
    symbol = f"R{uuid.uuid4().hex[:12]}"
    fields = dict(zip(DECIMAL_ATTRIBUTES, texts, strict=False))
    catalog = validate_catalog(json.dumps([minimal_record(symbol, **fields)]).encode())
    assert not catalog.invalid, catalog.invalid
    asset = catalog.assets[symbol]

    table.put_new(new_item(asset, "2026-12-02T04:00:00.000000Z", 1))
    stored = table.get_item(symbol)

    assert stored is not None
    for name, text in fields.items():
        assert stored[name] == Decimal(text), name  # exact, whatever the spelling
    content = {name: stored[name] for name in CONTENT_ATTRIBUTES if name in stored}
    assert content_hash(content) == asset.content_hash == stored["sync_hash"]  # type: ignore[arg-type]

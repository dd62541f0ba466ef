"""The lease's guard on the data layer's own client (dal/assets.py `guard_writes`): every kind of
write the sync makes (PutItem, UpdateItem, and an identity change's TransactWriteItems) first
passes the check, so a run whose lease ran out cannot land a write, over real HTTP to moto."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator

import pytest
from tests.support import CREDENTIALS, minimal_record

from asset_sync.config import SyncSettings
from asset_sync.dal.assets import AssetTable
from asset_sync.logic.item_writes import NewItem, new_item
from asset_sync.logic.models import ItemChange
from asset_sync.logic.validation import validate_catalog
from asset_sync.wiring import tables

TS = "2026-12-06T04:00:00.000000Z"


class LeaseExpiredError(Exception):
    """What the test's check raises: the lease ran out."""


@pytest.fixture
def table(moto_url: str) -> Iterator[AssetTable]:
    name = f"guard_{uuid.uuid4().hex[:10]}"
    settings = SyncSettings(
        assets_table=name,
        state_table=f"{name}_sync_state",
        dynamodb_endpoint_url=moto_url,
        credentials=CREDENTIALS,
    )
    assets, _state = tables(settings)
    assets.create()
    yield assets


def item_for(symbol: str) -> dict[str, object]:
    asset = validate_catalog(json.dumps([minimal_record(symbol)]).encode()).assets[symbol]
    return new_item(asset, TS, 1)


WRITES: dict[str, Callable[[AssetTable, str], None]] = {
    "PutItem": lambda t, s: t.put_new(item_for(s)),  # type: ignore[arg-type]
    "UpdateItem": lambda t, s: t.update_owned(s, {"name": "changed"}, [], {}, 1),
    "TransactWriteItems": lambda t, s: t.transact(
        [NewItem(s, item_for(s), ItemChange("list"))],  # type: ignore[arg-type]
        1,
    ),
}


@pytest.mark.parametrize("operation", sorted(WRITES))
def test_no_write_lands_once_the_lease_check_fails(table: AssetTable, operation: str) -> None:
    checks: list[str] = []

    def expired() -> None:
        checks.append(operation)
        raise LeaseExpiredError

    with table.guard_writes(expired), pytest.raises(LeaseExpiredError):
        WRITES[operation](table, "GUARDED")
    assert checks == [operation]
    assert table.get_item("GUARDED") is None


@pytest.mark.parametrize("operation", sorted(WRITES))
def test_a_write_whose_check_passes_lands_and_the_guard_ends_with_its_block(
    table: AssetTable, operation: str
) -> None:
    checks: list[str] = []
    if operation == "UpdateItem":
        table.put_new(item_for("KEPT"))  # type: ignore[arg-type]
    with table.guard_writes(lambda: checks.append(operation)):
        WRITES[operation](table, "KEPT")
    assert checks == [operation]
    assert table.get_item("KEPT") is not None
    table.put_new(item_for("AFTER"))  # type: ignore[arg-type]
    assert checks == [operation]  # no check outside the block

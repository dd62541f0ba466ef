"""`AssetTable._batch_get`: UnprocessedKeys are retried a bounded number of rounds (#15)."""

from __future__ import annotations

from typing import Any

import pytest

from asset_sync.dal import assets as assets_module
from asset_sync.dal.assets import BATCH_GET_LIMIT, MAX_UNPROCESSED_ROUNDS, AssetTable
from asset_sync.dal.errors import IncompleteReadError


class BatchClient:
    """A DynamoDB client stand-in for BatchGetItem: serves `found` symbols, leaves the first
    `unprocessed_rounds` answers' keys unprocessed."""

    def __init__(self, found: set[str], unprocessed_rounds: int) -> None:
        self.found = found
        self.unprocessed_rounds = unprocessed_rounds
        self.requests: list[list[str]] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        ((table, request),) = RequestItems.items()
        symbols = [key["symbol"]["S"] for key in request["Keys"]]
        self.requests.append(symbols)
        if len(self.requests) <= self.unprocessed_rounds:
            return {"Responses": {table: []}, "UnprocessedKeys": {table: {"Keys": request["Keys"]}}}
        items = [
            {"symbol": {"S": s}, "status": {"S": "active"}} for s in symbols if s in self.found
        ]
        return {"Responses": {table: items}, "UnprocessedKeys": {}}


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    rounds: list[int] = []
    monkeypatch.setattr(assets_module, "_backoff", rounds.append)
    return rounds


def table(client: BatchClient) -> AssetTable:
    return AssetTable(client, "assets")  # type: ignore[arg-type]


def test_unprocessed_keys_are_retried_until_served() -> None:
    client = BatchClient({"A", "C"}, unprocessed_rounds=MAX_UNPROCESSED_ROUNDS)
    items = table(client).get_items(["A", "B", "C", "A"])
    assert set(items) == {"A", "C"}
    assert len(client.requests) == MAX_UNPROCESSED_ROUNDS + 1
    assert client.requests[0] == ["A", "B", "C"]  # each symbol once


def test_unprocessed_keys_beyond_the_bound_fail_with_a_clear_error(_no_sleep: list[int]) -> None:
    client = BatchClient({"A"}, unprocessed_rounds=10**6)
    with pytest.raises(IncompleteReadError) as error:
        table(client).get_items(["A", "B"])
    assert len(client.requests) == MAX_UNPROCESSED_ROUNDS + 1
    assert _no_sleep == list(range(1, MAX_UNPROCESSED_ROUNDS + 1))
    assert str(error.value) == (
        f"assets: 2 keys were still unprocessed after {MAX_UNPROCESSED_ROUNDS} retries of "
        "BatchGetItem (throttled); try again later"
    )


def test_keys_go_in_batches_of_the_limit() -> None:
    client = BatchClient({f"S{i}" for i in range(250)}, unprocessed_rounds=0)
    items = table(client).get_items([f"S{i}" for i in range(250)])
    assert len(items) == 250
    assert [len(r) for r in client.requests] == [BATCH_GET_LIMIT, BATCH_GET_LIMIT, 50]

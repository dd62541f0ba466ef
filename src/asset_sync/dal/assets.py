"""Data access for the `signal9_assets` table: reads, conditional writes, table creation.

Every write is conditional (optimistic locking on `sync_version` plus the values it replaces)
and touches only attributes the sync owns, so other services' attributes are never erased.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from asset_sync.dal.errors import (
    ConditionFailedError,
    is_condition_failure,
    raise_if_missing,
)
from asset_sync.dal.schema import create_table
from asset_sync.dal.serialization import (
    AttributeValue,
    deserialize_item,
    serialize,
    serialize_item,
)
from asset_sync.dal.stats import IoStats
from asset_sync.logic.models import ACTIVE, CurrentState, OwnedValue

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

STATUS_INDEX = "status-index"
BATCH_GET_LIMIT = 100


def state_from_item(symbol: str, item: Mapping[str, OwnedValue]) -> CurrentState:
    """The planner's view of an item read from the table."""
    version = item.get("sync_version")
    status = item.get("status")
    return CurrentState(
        symbol=symbol,
        status=status if isinstance(status, str) else "",
        sync_hash=_text(item.get("sync_hash")),
        sync_version=int(version) if isinstance(version, Decimal) else 0,
        asset_class=_text(item.get("asset_class")),
        last_sync_timestamp=_text(item.get("last_sync_timestamp")),
    )


def _text(value: OwnedValue | None) -> str | None:
    return value if isinstance(value, str) else None


class AssetTable:
    """The assets table, through one boto3 client."""

    def __init__(self, client: DynamoDBClient, table_name: str, stats: IoStats | None = None):
        self.client = client
        self.table_name = table_name
        self.stats = stats or IoStats()

    # -- reads -------------------------------------------------------------------------------

    def read_active(self, with_class: bool = False) -> dict[str, CurrentState]:
        """Every active item, projected to what planning needs, from the status-index GSI.

        Only `symbol` and `sync_hash` (plus `asset_class` when the run is scoped to classes):
        reading is the dominant cost of a run that changes nothing, and it grows with the
        projection. Inactive items are never read in bulk (see `states_of`).
        """
        projection = ["symbol", "sync_hash", *(["asset_class"] if with_class else [])]
        names = {f"#p{i}": name for i, name in enumerate(projection)}
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": "#status = :status",
            "ProjectionExpression": ", ".join(names),
            "ExpressionAttributeNames": {**names, "#status": "status"},
            "ExpressionAttributeValues": {":status": {"S": ACTIVE}},
        }
        states: dict[str, CurrentState] = {}
        while True:
            try:
                response = self.stats.call(self.client.query, write=False, **request)
            except ClientError as error:
                raise_if_missing(error, self.table_name)
                raise
            for raw in response.get("Items", []):
                item = deserialize_item(raw)
                symbol = item.get("symbol")
                if isinstance(symbol, str):
                    states[symbol] = state_from_item(symbol, {**item, "status": ACTIVE})
            last_key = response.get("LastEvaluatedKey")
            if not last_key:
                return states
            request["ExclusiveStartKey"] = last_key

    def states_of(self, symbols: Iterable[str]) -> dict[str, CurrentState]:
        """The planning view of specific items (the catalog symbols not found active)."""
        items = self._batch_get(
            symbols, projection=("symbol", "status", "sync_hash", "asset_class")
        )
        return {symbol: state_from_item(symbol, item) for symbol, item in items.items()}

    def get_item(self, symbol: str) -> dict[str, OwnedValue] | None:
        """One whole item, strongly consistent."""
        response = self.stats.call(
            self.client.get_item,
            write=False,
            TableName=self.table_name,
            Key={"symbol": {"S": symbol}},
            ConsistentRead=True,
        )
        raw = response.get("Item")
        return deserialize_item(raw) if raw else None

    def get_items(self, symbols: Iterable[str]) -> dict[str, dict[str, OwnedValue]]:
        """Whole items by symbol (BatchGetItem, strongly consistent, UnprocessedKeys retried)."""
        return self._batch_get(symbols)

    def _batch_get(
        self, symbols: Iterable[str], projection: tuple[str, ...] = ()
    ) -> dict[str, dict[str, OwnedValue]]:
        found: dict[str, dict[str, OwnedValue]] = {}
        pending = list(dict.fromkeys(symbols))
        shape: dict[str, Any] = {"ConsistentRead": True}
        if projection:
            names = {f"#p{i}": name for i, name in enumerate(projection)}
            shape |= {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}
        for start in range(0, len(pending), BATCH_GET_LIMIT):
            keys: list[Any] = [
                {"symbol": {"S": s}} for s in pending[start : start + BATCH_GET_LIMIT]
            ]
            attempt = 0
            while keys:
                try:
                    response = self.stats.call(
                        self.client.batch_get_item,
                        write=False,
                        RequestItems={self.table_name: {"Keys": keys, **shape}},
                    )
                except ClientError as error:
                    raise_if_missing(error, self.table_name)
                    raise
                for raw in response.get("Responses", {}).get(self.table_name, []):
                    item = deserialize_item(raw)
                    symbol = item.get("symbol")
                    if isinstance(symbol, str):
                        found[symbol] = item
                unprocessed = response.get("UnprocessedKeys", {}).get(self.table_name)
                keys = list(unprocessed["Keys"]) if unprocessed else []
                if keys:
                    attempt += 1
                    _backoff(attempt)
        return found

    # -- writes ------------------------------------------------------------------------------

    def put_new(self, item: Mapping[str, OwnedValue]) -> None:
        """Create an item; fails (ConditionFailedError) if one with that symbol appeared."""
        try:
            self.stats.call(
                self.client.put_item,
                write=True,
                TableName=self.table_name,
                Item={**serialize_item(item), "sync_version": {"N": "1"}},
                ConditionExpression="attribute_not_exists(#symbol)",
                ExpressionAttributeNames={"#symbol": "symbol"},
            )
        except ClientError as error:
            if is_condition_failure(error):
                raise ConditionFailedError(str(item.get("symbol"))) from None
            raise

    def update_owned(
        self,
        symbol: str,
        set_values: Mapping[str, OwnedValue],
        remove: Iterable[str],
        expected: Mapping[str, OwnedValue | None],
        expected_version: int,
    ) -> None:
        """SET/REMOVE owned attributes if the item still holds `expected` at `expected_version`.

        `expected` maps each attribute about to change to the value read (None: was absent).
        """
        names: dict[str, str] = {"#symbol": "symbol", "#version": "sync_version"}
        values: dict[str, AttributeValue] = {":one": {"N": "1"}, ":zero": {"N": "0"}}
        sets = ["#version = if_not_exists(#version, :zero) + :one"]
        conditions = ["attribute_exists(#symbol)"]
        if expected_version:
            values[":version"] = {"N": str(expected_version)}
            conditions.append("#version = :version")
        else:
            conditions.append("attribute_not_exists(#version)")
        for i, (name, value) in enumerate(sorted(set_values.items())):
            names[f"#s{i}"] = name
            values[f":s{i}"] = serialize(value)
            sets.append(f"#s{i} = :s{i}")
        removes = []
        for i, name in enumerate(sorted(remove)):
            names[f"#r{i}"] = name
            removes.append(f"#r{i}")
        for i, (name, old) in enumerate(sorted(expected.items())):
            names[f"#e{i}"] = name
            if old is None:
                conditions.append(f"attribute_not_exists(#e{i})")
            else:
                values[f":e{i}"] = serialize(old)
                conditions.append(f"#e{i} = :e{i}")
        expression = "SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        try:
            self.stats.call(
                self.client.update_item,
                write=True,
                TableName=self.table_name,
                Key={"symbol": {"S": symbol}},
                UpdateExpression=expression,
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if is_condition_failure(error):
                raise ConditionFailedError(symbol) from None
            raise

    # -- schema ------------------------------------------------------------------------------

    def create(self) -> bool:
        """Create the table as specified (key, status-index, streams); False if it exists."""
        return create_table(
            self.client,
            self.table_name,
            KeySchema=[{"AttributeName": "symbol", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "symbol", "AttributeType": "S"},
                {"AttributeName": "status", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": STATUS_INDEX,
                    "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )


def _backoff(attempt: int, base: float = 0.05, cap: float = 5.0) -> None:
    """Full-jitter exponential backoff for UnprocessedKeys/Items."""
    time.sleep(random.uniform(0, min(cap, base * 2**attempt)))  # noqa: S311 - jitter, not crypto

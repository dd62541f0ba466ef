"""Data access for the `signal9_assets` table: reads, conditional writes, table creation.

Every write is conditional (optimistic locking on `sync_version`, the exact stored value of every
attribute it replaces, and the run-number fence on `sync_run_seq`) and touches only attributes the
sync owns, so other services' attributes are never erased.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from asset_sync.dal.errors import (
    ConditionFailedError,
    IncompleteReadError,
    is_condition_failure,
)
from asset_sync.dal.schema import IndexSpec, TableSpec, create_table, raise_table_problem
from asset_sync.dal.serialization import (
    AttributeValue,
    deserialize_item,
    serialize,
    serialize_item,
)
from asset_sync.dal.stats import IoStats
from asset_sync.logic.models import (
    ACTIVE,
    CurrentState,
    OwnedValue,
    StoredValue,
    Unrecognized,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

STATUS_INDEX = "status-index"
# The assets table as the sync needs it: `create-table` makes it so, and a request that fails
# on a table that is not so is explained from it (every index the sync queries belongs here).
ASSETS_SPEC = TableSpec(
    role="assets",
    source="--table / ASSETS_TABLE",
    key="symbol",
    indexes=(IndexSpec(STATUS_INDEX, "status", "ALL"),),
    stream=True,
)
BATCH_GET_LIMIT = 100
MAX_UNPROCESSED_ROUNDS = 8
PLAN_PROJECTION = ("symbol", "status", "sync_hash", "asset_class", "sync_run_seq")


def state_from_item(
    symbol: str, item: Mapping[str, StoredValue], *, whole: bool = True
) -> CurrentState:
    """The planner's view of an item read from the table (`whole`: every attribute was read)."""
    status = item.get("status")
    seq = item.get("sync_run_seq")
    return CurrentState(
        symbol=symbol,
        status=status if isinstance(status, str) else "",
        sync_hash=_text(item.get("sync_hash")),
        asset_class=_text(item.get("asset_class")),
        sync_run_seq=int(seq) if isinstance(seq, Decimal) and seq == seq.to_integral() else 0,
        values=dict(item) if whole else None,
    )


def _text(value: StoredValue | None) -> str | None:
    return value if isinstance(value, str) else None


class AssetTable:
    """The assets table, through one boto3 client."""

    def __init__(self, client: DynamoDBClient, table_name: str, stats: IoStats | None = None):
        self.client = client
        self.table_name = table_name
        self.stats = stats or IoStats()

    # -- reads -------------------------------------------------------------------------------

    def read_active(
        self,
        *,
        whole: bool = False,
        keep_values: Callable[[str, Mapping[str, StoredValue]], bool] | None = None,
    ) -> dict[str, CurrentState]:
        """Every active item, from the status-index GSI.

        A plain run projects to what planning needs (`symbol`, `sync_hash`, `asset_class`):
        reading is the dominant cost of a run that changes nothing, and it grows with the
        projection. A full reconciliation (`whole`) reads every attribute; `keep_values` decides,
        page by page, which items keep them (memory: the others are planned from the rest).
        Inactive items are never read in bulk (see `states_of`).
        """
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": "#status = :status",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":status": {"S": ACTIVE}},
        }
        if not whole:
            projection = ("symbol", "sync_hash", "asset_class")
            names = {f"#p{i}": name for i, name in enumerate(projection)}
            request["ProjectionExpression"] = ", ".join(names)
            request["ExpressionAttributeNames"].update(names)
        states: dict[str, CurrentState] = {}
        while True:
            try:
                response = self.client.query(**request)
            except ClientError as error:
                self._raise_table_problem(error)
                raise
            for raw in response.get("Items", []):
                item = deserialize_item(raw)
                symbol = item.get("symbol")
                if isinstance(symbol, str):
                    keep = whole and (keep_values is None or keep_values(symbol, item))
                    states[symbol] = state_from_item(symbol, {**item, "status": ACTIVE}, whole=keep)
            last_key = response.get("LastEvaluatedKey")
            if not last_key:
                return states
            request["ExclusiveStartKey"] = last_key

    def states_of(self, symbols: Iterable[str], *, whole: bool = False) -> dict[str, CurrentState]:
        """The planning view of specific items (the catalog symbols not found active)."""
        items = self._batch_get(symbols, projection=() if whole else PLAN_PROJECTION)
        return {
            symbol: state_from_item(symbol, item, whole=whole) for symbol, item in items.items()
        }

    def get_item(self, symbol: str) -> dict[str, StoredValue] | None:
        """One whole item, strongly consistent."""
        raw = self.get_raw_item(symbol)
        return deserialize_item(raw) if raw else None

    def get_raw_item(self, symbol: str) -> dict[str, Any] | None:
        """One whole item in DynamoDB's attribute-value form, strongly consistent."""
        try:
            response = self.client.get_item(
                TableName=self.table_name, Key={"symbol": {"S": symbol}}, ConsistentRead=True
            )
        except ClientError as error:
            self._raise_table_problem(error)
            raise
        raw = response.get("Item")
        return dict(raw) if raw else None

    def _raise_table_problem(self, error: ClientError) -> None:
        """The table's problem (missing, an index missing, another key) behind `error`."""
        raise_table_problem(self.client, self.table_name, ASSETS_SPEC, error)

    def get_items(self, symbols: Iterable[str]) -> dict[str, dict[str, StoredValue]]:
        """Whole items by symbol (BatchGetItem, strongly consistent, UnprocessedKeys retried)."""
        return self._batch_get(symbols)

    def _batch_get(
        self, symbols: Iterable[str], projection: tuple[str, ...] = ()
    ) -> dict[str, dict[str, StoredValue]]:
        found: dict[str, dict[str, StoredValue]] = {}
        pending = list(dict.fromkeys(symbols))
        shape: dict[str, Any] = {"ConsistentRead": True}
        if projection:
            names = {f"#p{i}": name for i, name in enumerate(projection)}
            shape |= {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}
        for start in range(0, len(pending), BATCH_GET_LIMIT):
            keys: list[Any] = [
                {"symbol": {"S": s}} for s in pending[start : start + BATCH_GET_LIMIT]
            ]
            for attempt in range(MAX_UNPROCESSED_ROUNDS + 1):
                if attempt:
                    _backoff(attempt)
                request: Any = {self.table_name: {"Keys": keys, **shape}}
                try:
                    response = self.client.batch_get_item(RequestItems=request)
                except ClientError as error:
                    self._raise_table_problem(error)
                    raise
                for raw in response.get("Responses", {}).get(self.table_name, []):
                    item = deserialize_item(raw)
                    symbol = item.get("symbol")
                    if isinstance(symbol, str):
                        found[symbol] = item
                unprocessed = response.get("UnprocessedKeys", {}).get(self.table_name)
                keys = list(unprocessed["Keys"]) if unprocessed else []
                if not keys:
                    break
            else:
                raise IncompleteReadError(
                    f"{self.table_name}: {len(keys)} keys were still unprocessed after "
                    f"{MAX_UNPROCESSED_ROUNDS} retries of BatchGetItem (throttled); try again later"
                )
        return found

    # -- writes ------------------------------------------------------------------------------

    def put_new(self, item: Mapping[str, OwnedValue]) -> None:
        """Create an item; fails (ConditionFailedError) if one with that symbol appeared."""
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=serialize_item(item),
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
        expected: Mapping[str, StoredValue | None],
        run_seq: int,
    ) -> None:
        """SET/REMOVE owned attributes if the item still holds exactly `expected`.

        `expected` maps every attribute about to change (`sync_version` and `sync_run_seq`
        included) to the value read, `None` if it was absent; a value of a type the sync never
        writes is compared as stored. The run-number fence: a stored `sync_run_seq` higher than
        `run_seq` (a newer run wrote the item) fails the write.
        """
        names: dict[str, str] = {"#symbol": "symbol"}
        values: dict[str, AttributeValue] = {}
        sets = []
        conditions = ["attribute_exists(#symbol)"]
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
            elif isinstance(old, Unrecognized) and old.type_code == "NULL":
                values[f":e{i}"] = {"S": "NULL"}
                conditions.append(f"attribute_type(#e{i}, :e{i})")
            else:
                values[f":e{i}"] = serialize(old)
                conditions.append(f"#e{i} = :e{i}")
        seq = expected.get("sync_run_seq")
        if seq is None or isinstance(seq, Decimal):  # never compare a number with another type
            names["#seq"] = "sync_run_seq"
            values[":run_seq"] = {"N": str(run_seq)}
            conditions.append("(attribute_not_exists(#seq) OR #seq <= :run_seq)")
        expression = "SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        try:
            self.client.update_item(
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
        """Create the table as specified (key, indexes, stream); False if it already exists
        as specified, TableSchemaError (with the fix) if it exists otherwise."""
        return create_table(self.client, self.table_name, ASSETS_SPEC)


def _backoff(attempt: int, base: float = 0.05, cap: float = 5.0) -> None:
    """Full-jitter exponential backoff for UnprocessedKeys."""
    time.sleep(random.uniform(0, min(cap, base * 2**attempt)))  # noqa: S311 - jitter, not crypto

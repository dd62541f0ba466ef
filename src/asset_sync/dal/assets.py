"""Data access for the `signal9_assets` table: reads, conditional writes, table creation.

Every write is conditional (optimistic locking on `sync_version`, the exact stored value of every
attribute it replaces, and the run-number fence on `sync_run_seq`) and touches only attributes the
sync owns, so other services' attributes are never erased.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from asset_sync.contract import (
    ASSET_ID_INDEX,
    ASSET_ID_INDEX_KEY,
    ASSETS_TABLE_KEY,
    STATUS_INDEX,
    STATUS_INDEX_KEY,
    WRITE_OPERATIONS,
    Env,
)
from asset_sync.dal.errors import (
    ConditionFailedError,
    IncompleteReadError,
    error_code,
    is_condition_failure,
    translated,
)
from asset_sync.dal.item_requests import put_request, update_request
from asset_sync.dal.schema import (
    Diagnosis,
    IndexSpec,
    TableSpec,
    check_table,
    create_table,
    describe,
    diagnose,
    paged_items,
    raise_table_problem,
)
from asset_sync.dal.serialization import deserialize_item
from asset_sync.dal.stats import IoStats
from asset_sync.logic.item_writes import GroupWrite, NewItem
from asset_sync.logic.models import ACTIVE, CurrentState, StoredValue, state_from_item
from asset_sync.logic.pacing import full_jitter

__all__ = ["ASSETS_SPEC", "AssetTable", "state_from_item"]  # state_from_item: imported here before

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# The assets table as the sync needs it: `create-table` makes it so, and a request that fails
# on a table that is not so is explained from it (every index the sync queries belongs here).
ASSETS_SPEC = TableSpec(
    role="assets",
    source=f"--table / {Env.ASSETS_TABLE}",
    key=ASSETS_TABLE_KEY,
    indexes=(
        IndexSpec(STATUS_INDEX, STATUS_INDEX_KEY, "ALL"),
        IndexSpec(ASSET_ID_INDEX, ASSET_ID_INDEX_KEY, "KEYS_ONLY"),  # the identity rule's lookups
    ),
    stream=True,
)
# Ids to look up one Query each; more (a first load) read the whole index with one paged Scan.
MAX_ID_QUERIES = 200
BATCH_GET_LIMIT = 100
MAX_UNPROCESSED_ROUNDS = 8
PLAN_PROJECTION = ("symbol", "status", "sync_hash", "asset_class", "sync_run_seq")


class AssetTable:
    """The assets table, through one boto3 client."""

    def __init__(self, client: DynamoDBClient, table_name: str, stats: IoStats | None = None):
        self.client = client
        self.table_name = table_name
        self.stats = stats or IoStats()
        self.added_indexes: list[str] = []  # by the last `create`: indexes an old table lacked

    # -- reads -------------------------------------------------------------------------------

    @translated
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
        for raw in paged_items(self.client.query, request, self._raise_table_problem):
            item = deserialize_item(raw)
            symbol = item.get("symbol")
            if isinstance(symbol, str):
                keep = whole and (keep_values is None or keep_values(symbol, item))
                states[symbol] = state_from_item(symbol, {**item, "status": ACTIVE}, whole=keep)
        return states

    @translated
    def states_of(self, symbols: Iterable[str], *, whole: bool = False) -> dict[str, CurrentState]:
        """The planning view of specific items (the catalog symbols not found active)."""
        items = self._batch_get(symbols, projection=() if whole else PLAN_PROJECTION)
        return {
            symbol: state_from_item(symbol, item, whole=whole) for symbol, item in items.items()
        }

    @translated
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

    @translated
    def diagnose(self) -> Diagnosis | None:
        """What keeps this table from serving the sync, with the fix (None: nothing)."""
        return diagnose(self.client, self.table_name, ASSETS_SPEC)

    def _raise_table_problem(self, error: ClientError) -> None:
        """The table's problem (missing, an index missing, another key) behind `error`."""
        raise_table_problem(self.client, self.table_name, ASSETS_SPEC, error)

    @translated
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

    @translated
    def holders_of(self, asset_ids: Collection[str]) -> dict[str, list[str]]:
        """The symbols of the items storing each asset id (the asset-id index: keys only)."""
        wanted = set(asset_ids)
        found: dict[str, list[str]] = {}
        if not wanted:
            return found
        if len(wanted) > MAX_ID_QUERIES:
            pages = self._index_pages({})
        else:
            pages = (
                page
                for asset_id in sorted(wanted)
                for page in self._index_pages(
                    {
                        "KeyConditionExpression": "asset_id = :id",
                        "ExpressionAttributeValues": {":id": {"S": asset_id}},
                    }
                )
            )
        for raw in pages:
            asset_id, symbol = raw.get("asset_id", {}).get("S"), raw.get("symbol", {}).get("S")
            if asset_id in wanted and symbol:
                found.setdefault(asset_id, []).append(symbol)
        return found

    def _index_pages(self, query: dict[str, Any]) -> Iterator[Mapping[str, Any]]:
        """Every entry of the asset-id index a Query (or, with no key condition, a Scan) returns."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": ASSET_ID_INDEX,
            **query,
        }
        call = self.client.query if query else self.client.scan
        return paged_items(call, request, self._raise_table_problem)

    # -- writes ------------------------------------------------------------------------------

    @translated
    def put_new(self, item: Mapping[str, StoredValue]) -> None:
        """Create an item; fails (ConditionFailedError) if one with that symbol appeared."""
        try:
            self.client.put_item(**put_request(self.table_name, item))
        except ClientError as error:
            if is_condition_failure(error):
                raise ConditionFailedError(str(item.get("symbol"))) from None
            raise

    @translated
    def update_owned(
        self,
        symbol: str,
        set_values: Mapping[str, StoredValue],
        remove: Iterable[str],
        expected: Mapping[str, StoredValue | None],
        run_seq: int,
    ) -> None:
        """SET/REMOVE attributes if the item still holds exactly `expected` (see
        `item_requests.update_request`); ConditionFailedError when it does not."""
        request = update_request(self.table_name, symbol, set_values, remove, expected, run_seq)
        try:
            self.client.update_item(**request)
        except ClientError as error:
            if is_condition_failure(error):
                raise ConditionFailedError(symbol) from None
            raise

    @translated
    def transact(self, writes: Sequence[GroupWrite], run_seq: int) -> None:
        """Apply the writes of one identity change together, or none of them.

        ConditionFailedError when any item no longer holds what was read (or another
        transaction holds one of them): the caller re-reads and re-plans the group. The token
        makes boto3's retry of a transaction whose reply was lost a no-op.
        """
        items: list[Any] = []
        for write in writes:
            if isinstance(write, NewItem):
                items.append({"Put": put_request(self.table_name, write.item)})
            else:
                change = write.write
                items.append(
                    {
                        "Update": update_request(
                            self.table_name,
                            write.symbol,
                            change.set_values,
                            change.remove,
                            change.expected,
                            run_seq,
                        )
                    }
                )
        try:
            self.client.transact_write_items(
                TransactItems=items, ClientRequestToken=str(uuid.uuid4())
            )
        except ClientError as error:
            if error_code(error) == "TransactionCanceledException":
                raise ConditionFailedError(
                    ", ".join(w.symbol for w in writes) + f": {_reasons(error)}"
                ) from None
            raise

    @contextmanager
    def guard_writes(self, check: Callable[[], None]) -> Iterator[None]:
        """While the block runs, every attempt of a write through this table's client (each of
        WRITE_OPERATIONS: an identity change's TransactWriteItems too) first passes `check`,
        boto3's own retries included (a botocore `before-send` hook; what `check` raises ends
        the call and is not retried): a write whose first attempt went out in time must not
        land after the lease ran out."""
        events = self.client.meta.events
        names = [f"before-send.dynamodb.{operation}" for operation in sorted(WRITE_OPERATIONS)]
        key = f"lease-{id(check)}"  # botocore keeps one registration per unique id

        def before_send(**_kwargs: object) -> None:
            check()

        for name in names:
            events.register(name, before_send, unique_id=f"{name}-{key}")
        try:
            yield
        finally:
            for name in names:
                events.unregister(name, unique_id=f"{name}-{key}")

    # -- schema ------------------------------------------------------------------------------

    def create(self) -> bool:
        """Create the table as specified (key, indexes, stream); False if it already exists as
        specified, after adding the indexes it lacks (`added_indexes`: a table made before an
        index existed); TableSchemaError (with the fix) if it exists otherwise."""
        self.added_indexes = self._add_missing_indexes()
        return create_table(self.client, self.table_name, ASSETS_SPEC)

    def _add_missing_indexes(self) -> list[str]:
        """Create the indexes of ASSETS_SPEC an existing table lacks, one at a time (DynamoDB
        adds one per UpdateTable), waiting for each; an index of another shape is left to
        `create_table`'s TableSchemaError."""
        table = describe(self.client, self.table_name)
        if table is None:
            return []
        present = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
        defined = list(table.get("AttributeDefinitions", []))  # all of them: moto replaces them
        added = []
        for index in ASSETS_SPEC.indexes:
            if index.name in present:
                continue
            if all(a["AttributeName"] != index.key for a in defined):
                defined.append({"AttributeName": index.key, "AttributeType": "S"})
            self.client.update_table(
                TableName=self.table_name,
                AttributeDefinitions=defined,
                GlobalSecondaryIndexUpdates=[{"Create": index.create_entry()}],  # type: ignore[typeddict-item]
            )
            self.client.get_waiter("table_exists").wait(TableName=self.table_name)
            added.append(index.name)
        if added:
            check_table(self.client, self.table_name, ASSETS_SPEC)
        return added


def _reasons(error: ClientError) -> str:
    """The per-item reasons DynamoDB gives for a cancelled transaction."""
    reasons = error.response.get("CancellationReasons") or []
    codes = [str(r.get("Code")) for r in reasons if r.get("Code") not in (None, "None")]
    return ", ".join(codes) or "TransactionCanceledException"


def _backoff(attempt: int) -> None:
    """Between rounds of UnprocessedKeys."""
    time.sleep(full_jitter(attempt, base=0.05, cap=5.0))

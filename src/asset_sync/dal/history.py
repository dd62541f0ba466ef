"""Data access for the history table (`<assets table>_history`): versions, where history
begins, and the stream records the writer could not turn into versions.

Layout (docs/history.md): partition key `shard`, sort key `key`. An asset's versions live in
partition `shard_of(asset_id)` under `<asset_id>#<version>`, so they are one contiguous range and
the whole history is SHARDS Queries read side by side; the index `symbol-index` (partition
`symbol`, sort `key`, keys only) finds the assets that held a ticker. Two reserved partitions:
`meta` (`begins`: where history begins) and `quarantine` (one item per unreadable stream record).
"""

from __future__ import annotations

import json
import random
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from asset_sync.contract import (
    HISTORY_PARTITION_KEY,
    HISTORY_SORT_KEY,
    HISTORY_SYMBOL_INDEX,
    Env,
    history_table_name,
)
from asset_sync.dal.errors import (
    TableMissingError,
    TableSchemaError,
    error_code,
    is_condition_failure,
    missing_message,
)
from asset_sync.dal.schema import SCHEMA_ERROR_CODES, describe, paged_items
from asset_sync.dal.stats import IoStats
from asset_sync.history.versions import SHARDS, Version, shard_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

META = "meta"
BEGINS = "begins"
QUARANTINE = "quarantine"
BATCH_WRITE_LIMIT = 25
MAX_UNPROCESSED_ROUNDS = 8
READ_THREADS = 8
# A quarantined record above this is stored compressed (an item holds at most 400 KB).
MAX_PLAIN_RECORD_BYTES = 300 * 1024
SHARD_NAMES = tuple(f"{n:02d}" for n in range(SHARDS))


class IncompleteWriteError(RuntimeError):
    """DynamoDB kept returning unprocessed items; the versions were not all written."""


@dataclass(frozen=True)
class QuarantinedRecord:
    """A stream record the writer could not turn into a version, kept whole."""

    key: str
    reason: str
    error: str
    quarantined_at: str
    record: dict[str, Any]


def history_table_for(assets_table: str, environ: Mapping[str, str]) -> tuple[str, str]:
    """The history table and where its name came from: HISTORY_TABLE, else the assets
    table's name plus `_history`."""
    named = environ.get(Env.HISTORY_TABLE)
    if named:
        return named, Env.HISTORY_TABLE
    return history_table_name(assets_table), "the assets table + '_history'"


class HistoryTable:
    """The history table, through one boto3 client."""

    def __init__(self, client: DynamoDBClient, table_name: str, stats: IoStats | None = None):
        self.client = client
        self.table_name = table_name
        self.stats = stats or IoStats()

    # -- schema ------------------------------------------------------------------------------

    def create(self) -> bool:
        """Create the table (on demand, its index) and wait for it; False if it exists as
        specified, TableSchemaError (with the fix) if it exists otherwise."""
        try:
            self.client.create_table(
                TableName=self.table_name,
                BillingMode="PAY_PER_REQUEST",
                KeySchema=[
                    {"AttributeName": HISTORY_PARTITION_KEY, "KeyType": "HASH"},
                    {"AttributeName": HISTORY_SORT_KEY, "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": name, "AttributeType": "S"}
                    for name in (HISTORY_PARTITION_KEY, HISTORY_SORT_KEY, "symbol")
                ],
                GlobalSecondaryIndexes=[
                    {
                        "IndexName": HISTORY_SYMBOL_INDEX,
                        "KeySchema": [
                            {"AttributeName": "symbol", "KeyType": "HASH"},
                            {"AttributeName": HISTORY_SORT_KEY, "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                    }
                ],
            )
        except ClientError as error:
            if error_code(error) == "ResourceInUseException":
                self.check()
                return False
            raise
        self.client.get_waiter("table_exists").wait(TableName=self.table_name)
        return True

    def check(self) -> None:
        """TableMissingError or TableSchemaError (with the fix) unless the table serves."""
        table = describe(self.client, self.table_name)
        if table is None:
            raise TableMissingError(missing_message(self.table_name))
        keys = [(k["AttributeName"], k["KeyType"]) for k in table.get("KeySchema", [])]
        wanted = [(HISTORY_PARTITION_KEY, "HASH"), (HISTORY_SORT_KEY, "RANGE")]
        indexes = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", [])}
        index = indexes.get(HISTORY_SYMBOL_INDEX)
        index_key = [k["AttributeName"] for k in (index or {}).get("KeySchema", [])]
        if keys != wanted or index_key[:1] != ["symbol"]:
            shown = ", ".join(f"{name} ({kind})" for name, kind in keys) or "none"
            raise TableSchemaError(
                f"table {self.table_name!r} is not an asset-sync history table (its key is "
                f"{shown}; a history table has {HISTORY_PARTITION_KEY} (HASH), "
                f"{HISTORY_SORT_KEY} (RANGE) and the index {HISTORY_SYMBOL_INDEX!r} on symbol): "
                "point HISTORY_TABLE at one, or at a new name and run `asset-sync create-table`"
            )

    def _raise_table_problem(self, error: ClientError) -> None:
        """After a failed request: the table's own problem, if that is the cause."""
        if error_code(error) in SCHEMA_ERROR_CODES:
            self.check()

    # -- versions ----------------------------------------------------------------------------

    def write(self, versions: Sequence[Version]) -> list[Version]:
        """One BatchWriteItem of at most 25 versions (one per key: the last wins); the ones
        DynamoDB left unprocessed. Raises what the request raised."""
        unique = {version.sort_key: version for version in versions}
        if len(unique) > BATCH_WRITE_LIMIT:
            raise ValueError(f"at most {BATCH_WRITE_LIMIT} versions per request")
        if not unique:
            return []
        request: Any = {
            self.table_name: [{"PutRequest": {"Item": v.to_item()}} for v in unique.values()]
        }
        try:
            response = self.client.batch_write_item(RequestItems=request)
        except ClientError as error:
            self._raise_table_problem(error)
            raise
        left = response.get("UnprocessedItems", {}).get(self.table_name, [])
        keys = {request["PutRequest"]["Item"][HISTORY_SORT_KEY]["S"] for request in left}
        return [version for key, version in unique.items() if key in keys]

    def put_versions(self, versions: Iterable[Version]) -> int:
        """Write every version (25 per request, unprocessed ones retried with backoff); how
        many were written. IncompleteWriteError when DynamoDB keeps leaving some."""
        pending = list(versions)
        written = 0
        for start in range(0, len(pending), BATCH_WRITE_LIMIT):
            chunk = pending[start : start + BATCH_WRITE_LIMIT]
            left = chunk
            for attempt in range(MAX_UNPROCESSED_ROUNDS + 1):
                if attempt:
                    _backoff(attempt)
                left = self.write(left)
                if not left:
                    break
            if left:
                raise IncompleteWriteError(
                    f"{self.table_name}: {len(left)} versions were still unprocessed after "
                    f"{MAX_UNPROCESSED_ROUNDS} retries of BatchWriteItem (throttled); run again"
                )
            written += len({version.sort_key for version in chunk})
        return written

    def versions(self) -> list[Version]:
        """Every version of every asset (the SHARDS partitions, read side by side)."""
        with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
            pages = pool.map(lambda shard: list(self._partition(shard)), SHARD_NAMES)
            return [Version.from_item(item) for page in pages for item in page]

    def version_keys(self) -> set[str]:
        """The key (`<asset_id>#<version>`) of every stored version."""
        with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
            pages = pool.map(lambda s: list(self._partition(s, keys_only=True)), SHARD_NAMES)
            return {str(item[HISTORY_SORT_KEY]["S"]) for page in pages for item in page}

    def versions_of(self, asset_id: str) -> list[Version]:
        """Every version of one asset, oldest (lowest version) first."""
        items = self._partition(shard_of(asset_id), prefix=f"{asset_id}#")
        versions = [Version.from_item(item) for item in items]
        return [version for version in versions if version.asset_id == asset_id]

    def asset_ids_of(self, symbol: str) -> list[str]:
        """The assets that held `symbol` in some version (the symbol index), in order seen."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": HISTORY_SYMBOL_INDEX,
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": "symbol"},
            "ExpressionAttributeValues": {":s": {"S": symbol}},
        }
        found: dict[str, None] = {}
        for item in self._pages(request):
            found[str(item[HISTORY_SORT_KEY]["S"]).rsplit("#", 1)[0]] = None
        return list(found)

    def _partition(
        self, partition: str, *, prefix: str | None = None, keys_only: bool = False
    ) -> Iterator[Mapping[str, Any]]:
        """Every item of one partition (whose sort key starts with `prefix`)."""
        names = {"#p": HISTORY_PARTITION_KEY}
        values: dict[str, Any] = {":p": {"S": partition}}
        condition = "#p = :p"
        if prefix is not None:
            names["#k"] = HISTORY_SORT_KEY
            values[":prefix"] = {"S": prefix}
            condition += " AND begins_with(#k, :prefix)"
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if keys_only:
            names["#k"] = HISTORY_SORT_KEY
            request["ProjectionExpression"] = "#k"
        request["ExpressionAttributeNames"] = names
        return self._pages(request)

    def _pages(self, request: dict[str, Any]) -> Iterator[Mapping[str, Any]]:
        """Every item a Query returns, page after page (a failed page explained first)."""
        return paged_items(self.client.query, request, self._raise_table_problem)

    # -- where history begins ----------------------------------------------------------------

    def begins_at(self) -> str | None:
        """When history became complete (a backfill's start), or None: not begun."""
        try:
            response = self.client.get_item(
                TableName=self.table_name,
                Key={HISTORY_PARTITION_KEY: {"S": META}, HISTORY_SORT_KEY: {"S": BEGINS}},
                ConsistentRead=True,
            )
        except ClientError as error:
            self._raise_table_problem(error)
            raise
        value = response.get("Item", {}).get("begins_at", {}).get("S")
        return str(value) if value else None

    def mark_begun(self, begins_at: str, run_seq: int | None) -> bool:
        """Record where history begins, once: False if it was already recorded."""
        item: dict[str, Any] = {
            HISTORY_PARTITION_KEY: {"S": META},
            HISTORY_SORT_KEY: {"S": BEGINS},
            "begins_at": {"S": begins_at},
        }
        if run_seq is not None:
            item["begins_after_run_seq"] = {"N": str(run_seq)}
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": HISTORY_SORT_KEY},
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            self._raise_table_problem(error)
            raise
        return True

    # -- the quarantine ----------------------------------------------------------------------

    def quarantine(
        self, name: str, record: Mapping[str, Any], reason: str, error: str, now: str
    ) -> None:
        """Keep a stream record whole under `name` (its eventID): writing it twice is one."""
        text = json.dumps(record, sort_keys=True, default=str)
        body: dict[str, Any] = (
            {"record": {"S": text}}
            if len(text.encode()) <= MAX_PLAIN_RECORD_BYTES
            else {"record_zlib": {"B": zlib.compress(text.encode())}}
        )
        self.client.put_item(
            TableName=self.table_name,
            Item={
                HISTORY_PARTITION_KEY: {"S": QUARANTINE},
                HISTORY_SORT_KEY: {"S": name},
                "reason": {"S": reason},
                "error": {"S": error[:2000]},
                "quarantined_at": {"S": now},
                **body,
            },
        )

    def quarantined(self) -> list[QuarantinedRecord]:
        """Every quarantined record, by name."""
        out = []
        for item in self._partition(QUARANTINE):
            if "record" in item:
                text = str(item["record"]["S"])
            else:
                text = zlib.decompress(item["record_zlib"]["B"]).decode()
            out.append(
                QuarantinedRecord(
                    key=str(item[HISTORY_SORT_KEY]["S"]),
                    reason=str(item.get("reason", {}).get("S", "")),
                    error=str(item.get("error", {}).get("S", "")),
                    quarantined_at=str(item.get("quarantined_at", {}).get("S", "")),
                    record=json.loads(text),
                )
            )
        return out

    def release(self, name: str) -> None:
        """Forget a quarantined record (its version was written, or it makes none)."""
        self.client.delete_item(
            TableName=self.table_name,
            Key={HISTORY_PARTITION_KEY: {"S": QUARANTINE}, HISTORY_SORT_KEY: {"S": name}},
        )


def _backoff(attempt: int, base: float = 0.05, cap: float = 5.0) -> None:
    """Full-jitter exponential backoff for UnprocessedItems."""
    time.sleep(random.uniform(0, min(cap, base * 2**attempt)))  # noqa: S311 - jitter, not crypto

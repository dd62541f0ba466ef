"""`asset-sync history backfill`: one initial version for every asset already in the table.

It reads the assets table whole (a consistent Scan) and records, for each item that is an
asset's home, the state the run that last wrote it left: the same key (asset, run number) the
stream writer gives that write, so a version already written by either is never written again.
Idempotent and resumable: it first reads which versions exist and writes only the others (25
per BatchWriteItem); a second run writes nothing. When every version is written it records
where history begins (`meta`/`begins`: the time this backfill started reading, once): the
universe is complete from then on, given that the stream writer ran before it started.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from asset_sync.dal.assets import ASSETS_SPEC
from asset_sync.dal.history import HistoryTable
from asset_sync.dal.schema import check_table, raise_table_problem
from asset_sync.history.versions import Version, version_of_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass
class BackfillReport:
    """What one backfill read and wrote."""

    assets_table: str
    history_table: str
    items: int = 0  # items read from the assets table
    assets: int = 0  # of them, assets' homes (one version each)
    present: int = 0  # versions already stored (by the stream writer or an earlier backfill)
    written: int = 0
    begins_at: str | None = None  # where history begins (this run's start, or an earlier one's)
    began_now: bool = False  # this run recorded it

    def to_json(self) -> dict[str, Any]:
        """The report as one JSON object."""
        return asdict(self)


def backfill(
    assets_client: DynamoDBClient, assets_table: str, history: HistoryTable, started: str
) -> BackfillReport:
    """Record every asset's current version that history lacks; `started` (now, as a stored
    time) becomes where history begins unless an earlier backfill recorded it."""
    report = BackfillReport(assets_table, history.table_name)
    check_table(assets_client, assets_table, ASSETS_SPEC)  # an assets table, or the fix
    stored = history.version_keys()
    missing: list[Version] = []
    last_run = 0
    for symbol, item in _items(assets_client, assets_table):
        report.items += 1
        version = version_of_item(symbol, item, started)
        if version is None:
            continue
        report.assets += 1
        last_run = max(last_run, version.run_seq or 0)
        if version.sort_key in stored:
            report.present += 1
        else:
            missing.append(version)
    report.written = history.put_versions(missing)
    report.begins_at = history.begins_at()
    if report.begins_at is None:
        report.began_now = history.mark_begun(started, last_run or None)
        report.begins_at = history.begins_at() or started
    return report


def _items(client: DynamoDBClient, table: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every item of the assets table, as stored (strongly consistent, page after page)."""
    request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        try:
            response = client.scan(**request)
        except ClientError as error:
            raise_table_problem(client, table, ASSETS_SPEC, error)
            raise
        for item in response.get("Items", []):
            symbol = item.get("symbol", {}).get("S")
            if isinstance(symbol, str):
                yield symbol, dict(item)
        last_key = response.get("LastEvaluatedKey")
        if not last_key:
            return
        request["ExclusiveStartKey"] = last_key

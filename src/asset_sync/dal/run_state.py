"""The run-state table: one item holding the run lease (lock) and the last run's record.

A sync takes the lease with one conditional write and gives it back with the run's record in a
second one, so a run that changes no asset makes exactly two write requests. A lease expires on
its own, so a crashed run never blocks the next one for longer than `lease_seconds`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from asset_sync.dal.errors import is_condition_failure, raise_if_missing
from asset_sync.dal.schema import create_table
from asset_sync.dal.stats import IoStats

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

STATE_KEY = {"pk": {"S": "asset-sync"}}


class LockHeldError(RuntimeError):
    """Another sync holds the run lease."""


class RunStateTable:
    """Lease and last-run record for the sync."""

    def __init__(self, client: DynamoDBClient, table_name: str, stats: IoStats | None = None):
        self.client = client
        self.table_name = table_name
        self.stats = stats or IoStats()

    def _update_state(self, update: str, condition: str, values: dict[str, Any]) -> bool:
        """One conditional UpdateItem of the state item; False if its condition failed."""
        try:
            self.stats.call(
                self.client.update_item,
                write=True,
                TableName=self.table_name,
                Key=STATE_KEY,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            raise_if_missing(error, self.table_name)
            if is_condition_failure(error):
                return False
            raise
        return True

    def acquire(self, run_id: str, lease_seconds: int, now: float | None = None) -> None:
        """Take the lease, or raise LockHeldError naming the holder and its expiry."""
        now = time.time() if now is None else now
        taken = self._update_state(
            "SET lock_owner = :me, lock_expires_at = :expires",
            # `lock_owner = :me`: boto3 retried an acquire whose reply was lost
            "attribute_not_exists(lock_owner) OR lock_expires_at < :now OR lock_owner = :me",
            {
                ":me": {"S": run_id},
                ":expires": {"N": str(int(now + lease_seconds))},
                ":now": {"N": str(int(now))},
            },
        )
        if not taken:
            holder = self.read()
            raise LockHeldError(
                f"another sync ({holder.get('lock_owner')}) holds the run lease until "
                f"{holder.get('lock_expires_at')} (unix time); not starting a second one"
            )

    def renew(self, run_id: str, lease_seconds: int, now: float | None = None) -> None:
        """Extend this run's lease; LockHeldError if another run has taken it."""
        now = time.time() if now is None else now
        renewed = self._update_state(
            "SET lock_expires_at = :expires",
            "lock_owner = :me",
            {":me": {"S": run_id}, ":expires": {"N": str(int(now + lease_seconds))}},
        )
        if not renewed:
            raise LockHeldError(
                "the run lease expired and another sync took it; this run stopped writing"
            )

    def release(self, run_id: str, record: Mapping[str, Any], succeeded: bool) -> None:
        """Give back the lease and store the run's record in one conditional write.

        `last_sync_timestamp` and `last_success` are only advanced by a successful run.
        """
        values: dict[str, Any] = {
            ":me": {"S": run_id},
            ":run": {"S": json.dumps(record, sort_keys=True, default=str)},
            ":outcome": {"S": str(record.get("outcome", ""))},
            ":started": {"S": str(record.get("last_sync_timestamp", ""))},
        }
        sets = ["last_run = :run", "last_run_outcome = :outcome", "last_run_started_at = :started"]
        if succeeded:
            sets += ["last_sync_timestamp = :started", "last_success = :run"]
        update = "SET " + ", ".join(sets) + " REMOVE lock_owner, lock_expires_at"
        if self._update_state(update, "lock_owner = :me", values):
            return
        if self.read().get("last_run", {}).get("run_id") == run_id:
            return  # boto3 retried a release whose reply was lost: it had applied
        raise LockHeldError(
            "the run lease expired and was taken by another sync before this run finished; "
            "its record was not stored (raise the lease or investigate the slow run)"
        )

    def read(self) -> dict[str, Any]:
        """The state item as plain values (empty if no run has happened)."""
        try:
            response = self.stats.call(
                self.client.get_item,
                write=False,
                TableName=self.table_name,
                Key=STATE_KEY,
                ConsistentRead=True,
            )
        except ClientError as error:
            raise_if_missing(error, self.table_name)
            raise
        item = response.get("Item", {})
        out: dict[str, Any] = {}
        for name, value in item.items():
            if "S" in value:
                text = value["S"]
                out[name] = json.loads(text) if name in ("last_run", "last_success") else text
            elif "N" in value:
                out[name] = int(value["N"])
        return out

    def create(self) -> bool:
        """Create the state table; False if it already exists."""
        return create_table(
            self.client,
            self.table_name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        )

"""The run-state table: the run lease with its run number, the last runs, and the run history.

The state item (`pk = "asset-sync"`) holds:

- `run_seq`: the last run number handed out. Taking the lease increments it in the same
  conditional write, so every run that holds the lease has a number greater than every earlier
  run's: the fencing token written on every asset item (`sync_run_seq`).
- the lease while held: `lock_owner` (run id), `lock_run_seq`, `lock_expires_at` (unix seconds),
  `lock_acquired_at`;
- `assets_table`: the assets table these runs sync (one state table serves one assets table);
- `last_run`, `last_run_seq`, `last_run_outcome`, `last_run_started_at`; `last_success` and
  `last_sync_timestamp` (successful runs only); `last_full_at`, `last_full_run_seq`.

History items (`pk = "run#<12-digit run_seq>"`) hold one run record each. A run gives the lease
back, stores its record and deletes the record `HISTORY_KEEP` runs older in one
`TransactWriteItems`, so an unchanged run still makes exactly two write requests; `expires_at`
(TTL) is a safety net for records whose deleter never ran.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from asset_sync.contract import (
    STATE_ITEM_KEY,
    STATE_TABLE_KEY,
    STATE_TTL_ATTRIBUTE,
    Env,
    state_table_name,
)
from asset_sync.dal.errors import (
    StateTableConflictError,
    error_code,
    is_condition_failure,
)
from asset_sync.dal.schema import TableSpec, create_table, raise_table_problem
from asset_sync.dal.stats import IoStats

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

STATE_PK = STATE_ITEM_KEY
STATE_KEY = {STATE_TABLE_KEY: {"S": STATE_PK}}
HISTORY_PREFIX = "run#"
HISTORY_KEEP = 400  # at least the last 365 runs
HISTORY_TTL_SECONDS = 3 * 366 * 86_400
RELEASE_ROUNDS = 4
STATE_SPEC = TableSpec(role="run-state", source=Env.SYNC_STATE_TABLE, key=STATE_TABLE_KEY)
# What a holder whose lease an operator cleared says (`asset-sync unlock --force`): also the
# reason its run stops, as a signal's name is.
FORCED_UNLOCK = "the run lease was cleared by an operator (`asset-sync unlock --force`)"


class LockHeldError(RuntimeError):
    """Another sync holds the run lease."""

    def __init__(self, message: str, holder: StateView | None = None) -> None:
        super().__init__(message)
        self.holder = holder


class LeaseLostError(RuntimeError):
    """This run no longer holds its lease: it must stop writing. `view`: the state that showed
    it (None when it was not read)."""

    def __init__(self, message: str, view: StateView | None = None) -> None:
        super().__init__(message)
        self.view = view


def lease_cleared(view: StateView, run_seq: int) -> bool:
    """Whether the lease of run `run_seq` was cleared (`asset-sync unlock`) rather than taken:
    no run holds it, and no run took a number after this one."""
    return view.lock_owner is None and view.run_seq <= run_seq


def lease_lost_message(view: StateView, run_seq: int) -> str:
    """Why run `run_seq` no longer holds its lease, as the state `view` shows it."""
    if lease_cleared(view, run_seq):
        return FORCED_UNLOCK
    if view.lock_owner is None:
        return f"the run lease was cleared and a newer run (number {view.run_seq}) has run since"
    holder = view.describe_lock()
    return f"a newer run (number {view.lock_run_seq}) took the run lease over ({holder})"


class StateWriteError(RuntimeError):
    """The run record could not be stored (DynamoDB kept failing); the lease will expire."""


def iso_time(unix_seconds: float) -> str:
    """A unix time as ISO 8601 UTC (`2026-12-02T04:00:00Z`)."""
    return datetime.fromtimestamp(unix_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def history_key(run_seq: int) -> dict[str, dict[str, str]]:
    """The key of one run's history record."""
    return {STATE_TABLE_KEY: {"S": f"{HISTORY_PREFIX}{run_seq:012d}"}}


@dataclass(frozen=True)
class StateView:
    """The state item as plain values (all empty before the first run)."""

    run_seq: int = 0
    assets_table: str | None = None
    lock_owner: str | None = None
    lock_run_seq: int | None = None
    lock_expires_at: int | None = None
    lock_acquired_at: str | None = None
    last_run: dict[str, Any] | None = None
    last_run_seq: int | None = None
    last_run_outcome: str | None = None
    last_run_started_at: str | None = None
    last_success: dict[str, Any] | None = None
    last_sync_timestamp: str | None = None  # the start of the last successful run
    last_full_at: str | None = None
    last_full_run_seq: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> StateView:
        """Parse a raw state item (attribute-value JSON)."""
        plain = {name: _plain(value) for name, value in item.items() if name != STATE_TABLE_KEY}
        for name in ("last_run", "last_success"):
            if isinstance(plain.get(name), str):
                plain[name] = json.loads(plain[name])
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        return cls(
            **{k: v for k, v in plain.items() if k in known},
            extra={k: v for k, v in plain.items() if k not in known},
        )

    def lock_seconds_left(self, now: float | None = None) -> int | None:
        """Seconds until the lease expires (negative: expired), None when no lease is held."""
        if self.lock_owner is None or self.lock_expires_at is None:
            return None
        return int(self.lock_expires_at - (time.time() if now is None else now))

    def describe_lock(self, now: float | None = None) -> str:
        """`run <id> (number N), lease until <ISO> (S s left)`, for messages."""
        left = self.lock_seconds_left(now)
        if left is None or self.lock_expires_at is None:
            return "no sync holds the run lease"
        state = f"{left} s left" if left >= 0 else f"expired {-left} s ago"
        return (
            f"run {self.lock_owner} (number {self.lock_run_seq}), lease until "
            f"{iso_time(self.lock_expires_at)} ({state})"
        )

    def to_json(self) -> dict[str, Any]:
        """Every field, JSON-able, with the lease expiry also as ISO time."""
        out = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "extra"}
        out["lock_expires_at_iso"] = (
            iso_time(self.lock_expires_at) if self.lock_expires_at is not None else None
        )
        out["lock_seconds_left"] = self.lock_seconds_left()
        return out


def _plain(value: Mapping[str, Any]) -> Any:
    if "S" in value:
        return value["S"]
    if "N" in value:
        number = Decimal(value["N"])
        return int(number) if number == number.to_integral() else float(number)
    if "BOOL" in value:
        return bool(value["BOOL"])
    return None


@dataclass(frozen=True)
class Lease:
    """The run lease as taken: this run's id and number, and the state as it was before.

    `taken_from`: the run whose lease this one took over (its expiry judged on this machine's
    clock), None when the lease was free.
    """

    run_id: str
    run_seq: int
    expires_at: int
    state: StateView
    taken_from: str | None = None


class RunStateTable:
    """Lease, run numbers, last-run records and history for the sync."""

    def __init__(self, client: DynamoDBClient, table_name: str, stats: IoStats | None = None):
        self.client = client
        self.table_name = table_name
        self.stats = stats or IoStats()

    # -- the lease ---------------------------------------------------------------------------

    def acquire(
        self, run_id: str, assets_table: str, expires_at: int, now: float | None = None
    ) -> Lease:
        """Take the lease and the next run number in one conditional write.

        Raises LockHeldError (naming the holder) or StateTableConflictError.
        """
        now = time.time() if now is None else now
        next_seq = "if_not_exists(run_seq, :zero) + :one"
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": STATE_KEY,
            "UpdateExpression": (
                f"SET run_seq = {next_seq}, lock_run_seq = {next_seq}, lock_owner = :me, "
                "lock_expires_at = :expires, lock_acquired_at = :acquired, assets_table = :table"
            ),
            # `lock_owner = :me`: boto3 retried an acquire whose reply was lost
            "ConditionExpression": (
                "(attribute_not_exists(lock_owner) OR lock_expires_at < :now OR lock_owner = :me)"
                " AND (attribute_not_exists(assets_table) OR assets_table = :table)"
            ),
            "ExpressionAttributeValues": {
                ":me": {"S": run_id},
                ":expires": {"N": str(expires_at)},
                ":now": {"N": str(int(now))},
                ":acquired": {"S": iso_time(now)},
                ":table": {"S": assets_table},
                ":zero": {"N": "0"},
                ":one": {"N": "1"},
            },
            "ReturnValues": "ALL_OLD",  # the state before: who held the lease, the last run
        }
        try:
            response = self.client.update_item(**request)
        except ClientError as error:
            self._raise_table_problem(error)
            if not is_condition_failure(error):
                return self._lease_if_mine(run_id, error)
            view = self.read()
            self.check_serves(view, assets_table)
            raise LockHeldError(
                f"another sync holds the run lease: {view.describe_lock(now)}; not starting a "
                "second one (if its holder is dead, `asset-sync unlock` clears an expired lease)",
                view,
            ) from None
        except BotoCoreError as error:
            return self._lease_if_mine(run_id, error)
        before = StateView.from_item(response.get("Attributes", {}))
        taken_from = before.lock_owner if before.lock_owner not in (None, run_id) else None
        return Lease(run_id, before.run_seq + 1, expires_at, before, taken_from)

    def _lease_if_mine(self, run_id: str, error: Exception) -> Lease:
        """After an acquire whose outcome is unknown: the lease if it did apply, else raise."""
        view = self.read()
        if view.lock_owner == run_id and view.lock_run_seq is not None:
            return Lease(run_id, view.lock_run_seq, view.lock_expires_at or 0, view)
        raise error

    def check_serves(self, view: StateView, assets_table: str) -> None:
        """StateTableConflictError when the state records the runs of another assets table."""
        if view.assets_table not in (None, assets_table):
            raise StateTableConflictError(
                f"state table {self.table_name!r} records the runs of assets table "
                f"{view.assets_table!r}, not {assets_table!r}; set {Env.SYNC_STATE_TABLE} to "
                f"the state table of {assets_table!r} (default {state_table_name(assets_table)})"
            )

    def renew(self, lease: Lease, expires_at: int) -> None:
        """Extend this run's lease to `expires_at`; LeaseLostError if another run took it."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=STATE_KEY,
                UpdateExpression="SET lock_expires_at = :expires",
                ConditionExpression="lock_owner = :me",
                ExpressionAttributeValues={
                    ":me": {"S": lease.run_id},
                    ":expires": {"N": str(expires_at)},
                },
            )
        except ClientError as error:
            self._raise_table_problem(error)
            if is_condition_failure(error):
                view = self.read()
                raise LeaseLostError(
                    f"{lease_lost_message(view, lease.run_seq)}; this run stopped writing", view
                ) from None
            raise

    def release(
        self, lease: Lease, record: Mapping[str, Any], *, succeeded: bool, full: bool
    ) -> None:
        """Give the lease back, store the run record and its history entry: one transaction.

        Confirmed like an item write: when the reply is lost (or boto3's retry then fails its
        condition) the state is re-read and the release counts as done if it carries this run's
        record. LeaseLostError when another run holds the lease (the caller records the run
        without it); StateWriteError when DynamoDB keeps failing.
        """
        items = self._release_items(lease, record, succeeded=succeeded, full=full)
        problem: Exception | None = None
        for round_ in range(RELEASE_ROUNDS):
            if round_:
                _backoff(round_)
            try:
                self.client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
            except ClientError as error:
                self._raise_table_problem(error)
                problem = error
            except BotoCoreError as error:
                problem = error
            else:
                return
            try:
                view = self.read()
            except (ClientError, BotoCoreError) as error:
                problem = error
                continue
            if (view.last_run or {}).get("run_id") == lease.run_id:
                return  # it had applied; the reply was lost
            if view.lock_owner != lease.run_id:
                raise LeaseLostError(
                    f"{lease_lost_message(view, lease.run_seq)} before this run recorded itself",
                    view,
                )
        raise StateWriteError(
            f"could not store the run record after {RELEASE_ROUNDS} tries: {problem}; the "
            "lease expires by itself"
        )

    def _release_items(
        self, lease: Lease, record: Mapping[str, Any], *, succeeded: bool, full: bool
    ) -> list[dict[str, Any]]:
        run = json.dumps(record, sort_keys=True, default=str)
        values: dict[str, Any] = {
            ":me": {"S": lease.run_id},
            ":run": {"S": run},
            ":outcome": {"S": str(record.get("outcome", ""))},
            ":started": {"S": str(record.get("last_sync_timestamp", ""))},
            ":seq": {"N": str(lease.run_seq)},
        }
        sets = [
            "last_run = :run",
            "last_run_outcome = :outcome",
            "last_run_started_at = :started",
            "last_run_seq = :seq",
        ]
        if succeeded:
            sets += ["last_sync_timestamp = :started", "last_success = :run"]
            if full:
                sets += ["last_full_at = :started", "last_full_run_seq = :seq"]
        remove = "REMOVE lock_owner, lock_expires_at, lock_run_seq, lock_acquired_at"
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": STATE_KEY,
                    "UpdateExpression": "SET " + ", ".join(sets) + " " + remove,
                    "ConditionExpression": "lock_owner = :me",
                    "ExpressionAttributeValues": values,
                }
            },
            {"Put": {"TableName": self.table_name, "Item": self._history_item(lease, record)}},
        ]
        if lease.run_seq > HISTORY_KEEP:
            items.append(
                {
                    "Delete": {
                        "TableName": self.table_name,
                        "Key": history_key(lease.run_seq - HISTORY_KEEP),
                    }
                }
            )
        return items

    def _history_item(self, lease: Lease, record: Mapping[str, Any]) -> dict[str, Any]:
        return {
            **history_key(lease.run_seq),
            "run_seq": {"N": str(lease.run_seq)},
            "run_id": {"S": lease.run_id},
            "record": {"S": json.dumps(record, sort_keys=True, default=str)},
            STATE_TTL_ATTRIBUTE: {"N": str(int(time.time()) + HISTORY_TTL_SECONDS)},
        }

    def record_without_lease(self, lease: Lease, record: Mapping[str, Any]) -> None:
        """Store the record of a run that lost its lease: its history entry, and `last_run`
        only if no higher-numbered run has recorded itself since (two plain writes)."""
        self.client.put_item(TableName=self.table_name, Item=self._history_item(lease, record))
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=STATE_KEY,
                UpdateExpression=(
                    "SET last_run = :run, last_run_outcome = :outcome, last_run_seq = :seq"
                ),
                ConditionExpression="attribute_not_exists(last_run_seq) OR last_run_seq < :seq",
                ExpressionAttributeValues={
                    ":run": {"S": json.dumps(record, sort_keys=True, default=str)},
                    ":outcome": {"S": str(record.get("outcome", ""))},
                    ":seq": {"N": str(lease.run_seq)},
                },
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise

    def record_skipped(self, run_id: str, assets_table: str, record: dict[str, Any]) -> int:
        """Give a run that found the lease held a number and a history entry; return it."""
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key=STATE_KEY,
                UpdateExpression="SET run_seq = if_not_exists(run_seq, :zero) + :one",
                ConditionExpression="attribute_not_exists(assets_table) OR assets_table = :table",
                ExpressionAttributeValues={
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                    ":table": {"S": assets_table},
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as error:
            if is_condition_failure(error):
                self.check_serves(self.read(), assets_table)
            raise
        seq = int(response["Attributes"]["run_seq"]["N"])
        lease = Lease(run_id, seq, 0, StateView())
        record["run_seq"] = seq
        items: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table_name, "Item": self._history_item(lease, record)}}
        ]
        if seq > HISTORY_KEEP:
            items.append(
                {"Delete": {"TableName": self.table_name, "Key": history_key(seq - HISTORY_KEEP)}}
            )
        self.client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        return seq

    def unlock(self, *, force: bool, now: float | None = None) -> tuple[StateView, bool]:
        """Clear the lease if it expired (or `force`); return the state seen and whether cleared.

        Conditioned on the holder seen, so a lease taken in between is never cleared.
        """
        now = time.time() if now is None else now
        view = self.read()
        left = view.lock_seconds_left(now)
        if left is None or (left >= 0 and not force):
            return view, False
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=STATE_KEY,
                UpdateExpression=(
                    "REMOVE lock_owner, lock_expires_at, lock_run_seq, lock_acquired_at"
                ),
                ConditionExpression="lock_owner = :seen",
                ExpressionAttributeValues={":seen": {"S": str(view.lock_owner)}},
            )
        except ClientError as error:
            if is_condition_failure(error):
                return self.read(), False
            raise
        return view, True

    # -- reads -------------------------------------------------------------------------------

    def read(self) -> StateView:
        """The state item (empty before the first run), strongly consistent."""
        try:
            response = self.client.get_item(
                TableName=self.table_name, Key=STATE_KEY, ConsistentRead=True
            )
        except ClientError as error:
            self._raise_table_problem(error)
            raise
        return StateView.from_item(response.get("Item", {}))

    def history(self, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` run records, newest (highest run number) first."""
        records: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "FilterExpression": "begins_with(pk, :prefix)",
            "ExpressionAttributeValues": {":prefix": {"S": HISTORY_PREFIX}},
        }
        while True:
            try:
                response = self.client.scan(**request)
            except ClientError as error:
                self._raise_table_problem(error)
                raise
            for item in response.get("Items", []):
                record = json.loads(item["record"]["S"])
                record["run_seq"] = int(item["run_seq"]["N"])
                records.append(record)
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        records.sort(key=lambda r: int(r["run_seq"]), reverse=True)
        return records[:limit]

    def _raise_table_problem(self, error: ClientError) -> None:
        """The table's problem (missing, another key) behind `error`."""
        raise_table_problem(self.client, self.table_name, STATE_SPEC, error)

    def create(self) -> bool:
        """Create the state table (TTL on `expires_at`); False if it already exists as
        specified, TableSchemaError (with the fix) if it exists otherwise."""
        created = create_table(self.client, self.table_name, STATE_SPEC)
        if created:
            try:
                self.client.update_time_to_live(
                    TableName=self.table_name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": STATE_TTL_ATTRIBUTE},
                )
            except ClientError as error:  # a DynamoDB stand-in without TTL: history still works
                if error_code(error) not in ("UnknownOperationException", "ValidationException"):
                    raise
        return created


def _backoff(attempt: int, base: float = 0.1, cap: float = 2.0) -> None:
    time.sleep(random.uniform(0, min(cap, base * 2**attempt)))  # noqa: S311 - jitter only

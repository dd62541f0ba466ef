"""The run-state table: the run lease with its run number, the last runs, and the run history
(`logic.ports.RunStateStore` over DynamoDB; the requests themselves: `dal.state_requests`).

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
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from asset_sync.contract import STATE_TABLE_KEY, STATE_TTL_ATTRIBUTE, Env, state_table_name
from asset_sync.dal.errors import (
    StateTableConflictError,
    error_code,
    is_condition_failure,
    translated,
)
from asset_sync.dal.schema import (
    Diagnosis,
    TableSpec,
    create_table,
    diagnose,
    paged_items,
    raise_table_problem,
)
from asset_sync.dal.state_requests import (
    HISTORY_PREFIX,
    STATE_KEY,
    acquire_request,
    history_item,
    history_key,
    history_scan,
    history_writes,
    last_run_request,
    next_seq_request,
    release_items,
    renew_request,
    state_view,
    unlock_request,
)
from asset_sync.dal.stats import IoStats
from asset_sync.logic.clock import iso_time
from asset_sync.logic.lease import (
    FORCED_UNLOCK,
    Lease,
    LeaseHeldError,
    LeaseLostError,
    StateView,
    StateWriteError,
    lease_cleared,
    lease_lost_message,
)
from asset_sync.logic.pacing import full_jitter

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

HISTORY_KEEP = 400  # at least the last 365 runs
RELEASE_ROUNDS = 4
STATE_SPEC = TableSpec(role="run-state", source=Env.SYNC_STATE_TABLE, key=STATE_TABLE_KEY)
# LockHeldError: the name dal used before logic.lease's LeaseHeldError (one name, "lease").
LockHeldError = LeaseHeldError
__all__ = [  # the lease's types and the keys, imported from here before they moved
    "FORCED_UNLOCK",
    "HISTORY_KEEP",
    "HISTORY_PREFIX",
    "STATE_KEY",
    "STATE_SPEC",
    "Lease",
    "LeaseHeldError",
    "LeaseLostError",
    "LockHeldError",
    "RunStateTable",
    "StateView",
    "StateWriteError",
    "history_key",
    "iso_time",
    "lease_cleared",
    "lease_lost_message",
    "state_view",
]


class RunStateTable:
    """Lease, run numbers, last-run records and history for the sync."""

    def __init__(self, client: DynamoDBClient, table_name: str, stats: IoStats | None = None):
        self.client = client
        self.table_name = table_name
        self.stats = stats or IoStats()

    # -- the lease ---------------------------------------------------------------------------

    @translated
    def acquire(
        self, run_id: str, assets_table: str, expires_at: int, now: float | None = None
    ) -> Lease:
        """Take the lease and the next run number in one conditional write.

        Raises LeaseHeldError (naming the holder) or StateTableConflictError.
        """
        now = time.time() if now is None else now
        request = acquire_request(self.table_name, run_id, assets_table, expires_at, now)
        try:
            response = self.client.update_item(**request)
        except ClientError as error:
            self._raise_table_problem(error)
            if not is_condition_failure(error):
                return self._lease_if_mine(run_id, error)
            view = self._read()
            self.check_serves(view, assets_table)
            raise LeaseHeldError.of(view, now) from None
        except BotoCoreError as error:
            return self._lease_if_mine(run_id, error)
        before = state_view(response.get("Attributes", {}))
        taken_from = before.lock_owner if before.lock_owner not in (None, run_id) else None
        return Lease(run_id, before.run_seq + 1, expires_at, before, taken_from)

    def _lease_if_mine(self, run_id: str, error: Exception) -> Lease:
        """After an acquire whose outcome is unknown: the lease if it did apply, else raise."""
        view = self._read()
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

    @translated
    def renew(self, lease: Lease, expires_at: int) -> None:
        """Extend this run's lease to `expires_at`; LeaseLostError if another run took it."""
        try:
            self.client.update_item(**renew_request(self.table_name, lease, expires_at))
        except ClientError as error:
            self._raise_table_problem(error)
            if is_condition_failure(error):
                view = self._read()
                raise LeaseLostError(
                    f"{lease_lost_message(view, lease.run_seq)}; this run stopped writing", view
                ) from None
            raise

    @translated
    def release(
        self, lease: Lease, record: Mapping[str, Any], *, succeeded: bool, full: bool
    ) -> None:
        """Give the lease back, store the run record and its history entry: one transaction.

        Confirmed like an item write: when the reply is lost (or boto3's retry then fails its
        condition) the state is re-read and the release counts as done if it carries this run's
        record. LeaseLostError when another run holds the lease (the caller records the run
        without it); StateWriteError when DynamoDB keeps failing.
        """
        items: Any = release_items(
            self.table_name, lease, record, succeeded=succeeded, full=full, keep=HISTORY_KEEP
        )
        problem: Exception | None = None
        for round_ in range(RELEASE_ROUNDS):
            if round_:
                _backoff(round_)
            try:
                self.client.transact_write_items(TransactItems=items)
            except ClientError as error:
                self._raise_table_problem(error)
                problem = error
            except BotoCoreError as error:
                problem = error
            else:
                return
            try:
                view = self._read()
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

    @translated
    def record_without_lease(self, lease: Lease, record: Mapping[str, Any]) -> None:
        """Store the record of a run that lost its lease: its history entry, and `last_run`
        only if no higher-numbered run has recorded itself since (two plain writes)."""
        self.client.put_item(TableName=self.table_name, Item=history_item(lease, record))
        try:
            self.client.update_item(**last_run_request(self.table_name, lease, record))
        except ClientError as error:
            if not is_condition_failure(error):
                raise

    @translated
    def record_skipped(self, run_id: str, assets_table: str, record: dict[str, Any]) -> int:
        """Give a run that found the lease held a number and a history entry; return it."""
        try:
            response = self.client.update_item(**next_seq_request(self.table_name, assets_table))
        except ClientError as error:
            if is_condition_failure(error):
                self.check_serves(self._read(), assets_table)
            raise
        seq = int(response["Attributes"]["run_seq"]["N"])
        record["run_seq"] = seq
        lease = Lease(run_id, seq, 0, StateView())
        items: Any = history_writes(self.table_name, lease, record, keep=HISTORY_KEEP)
        self.client.transact_write_items(TransactItems=items)
        return seq

    @translated
    def unlock(self, *, force: bool, now: float | None = None) -> tuple[StateView, bool]:
        """Clear the lease if it expired (or `force`); return the state seen and whether cleared.

        Conditioned on the holder seen, so a lease taken in between is never cleared.
        """
        now = time.time() if now is None else now
        view = self._read()
        left = view.lock_seconds_left(now)
        if left is None or (left >= 0 and not force):
            return view, False
        try:
            self.client.update_item(**unlock_request(self.table_name, str(view.lock_owner)))
        except ClientError as error:
            if is_condition_failure(error):
                return self._read(), False
            raise
        return view, True

    # -- reads -------------------------------------------------------------------------------

    @translated
    def read(self) -> StateView:
        """The state item (empty before the first run), strongly consistent."""
        return self._read()

    def _read(self) -> StateView:
        try:
            response = self.client.get_item(
                TableName=self.table_name, Key=STATE_KEY, ConsistentRead=True
            )
        except ClientError as error:
            self._raise_table_problem(error)
            raise
        return state_view(response.get("Item", {}))

    @translated
    def history(self, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` run records, newest (highest run number) first."""
        records: list[dict[str, Any]] = []
        scan = history_scan(self.table_name)
        for item in paged_items(self.client.scan, scan, self._raise_table_problem):
            record = json.loads(item["record"]["S"])
            record["run_seq"] = int(item["run_seq"]["N"])
            records.append(record)
        records.sort(key=lambda r: int(r["run_seq"]), reverse=True)
        return records[:limit]

    @translated
    def diagnose(self) -> Diagnosis | None:
        """What keeps this table from serving the sync, with the fix (None: nothing)."""
        return diagnose(self.client, self.table_name, STATE_SPEC)

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


def _backoff(attempt: int) -> None:
    """Between rounds of a release whose outcome is unknown."""
    time.sleep(full_jitter(attempt, base=0.1, cap=2.0))

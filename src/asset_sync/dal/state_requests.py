"""The DynamoDB requests of the run-state table (pure: values in, request shapes out), and the
state item read back as a `StateView`.

The state item (`pk = "asset-sync"`) holds `run_seq`, the lease while held (`lock_owner`,
`lock_run_seq`, `lock_expires_at`, `lock_acquired_at`), `assets_table`, the last run and the last
success; one history item per run (`pk = "run#<12-digit run_seq>"`) holds its record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from asset_sync.contract import STATE_ITEM_KEY, STATE_TABLE_KEY, STATE_TTL_ATTRIBUTE
from asset_sync.dal.serialization import plain
from asset_sync.logic.clock import iso_time
from asset_sync.logic.lease import Lease, StateView

STATE_PK = STATE_ITEM_KEY
STATE_KEY = {STATE_TABLE_KEY: {"S": STATE_PK}}
HISTORY_PREFIX = "run#"
HISTORY_TTL_SECONDS = 3 * 366 * 86_400
UNLOCK = "REMOVE lock_owner, lock_expires_at, lock_run_seq, lock_acquired_at"
NEXT_SEQ = "if_not_exists(run_seq, :zero) + :one"
Request = dict[str, Any]


def history_key(run_seq: int) -> dict[str, dict[str, str]]:
    """The key of one run's history record."""
    return {STATE_TABLE_KEY: {"S": f"{HISTORY_PREFIX}{run_seq:012d}"}}


def state_view(item: Mapping[str, Any]) -> StateView:
    """The state item (attribute-value JSON) as a StateView (unknown attributes in `extra`)."""
    values = {name: plain(value) for name, value in item.items() if name != STATE_TABLE_KEY}
    for name in ("last_run", "last_success"):
        if isinstance(values.get(name), str):
            values[name] = json.loads(str(values[name]))
    known = {f.name for f in fields(StateView) if f.name != "extra"}
    return StateView(
        **{k: v for k, v in values.items() if k in known},  # type: ignore[arg-type]
        extra={k: v for k, v in values.items() if k not in known},
    )


def acquire_request(
    table: str, run_id: str, assets_table: str, expires_at: int, now: float
) -> Request:
    """Take the lease and the next run number, if free (or expired, or already this run's:
    boto3 retried an acquire whose reply was lost) and the state serves `assets_table`."""
    return {
        "TableName": table,
        "Key": STATE_KEY,
        "UpdateExpression": (
            f"SET run_seq = {NEXT_SEQ}, lock_run_seq = {NEXT_SEQ}, lock_owner = :me, "
            "lock_expires_at = :expires, lock_acquired_at = :acquired, assets_table = :table"
        ),
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


def renew_request(table: str, lease: Lease, expires_at: int) -> Request:
    """Extend the lease while it is still this run's."""
    return {
        "TableName": table,
        "Key": STATE_KEY,
        "UpdateExpression": "SET lock_expires_at = :expires",
        "ConditionExpression": "lock_owner = :me",
        "ExpressionAttributeValues": {
            ":me": {"S": lease.run_id},
            ":expires": {"N": str(expires_at)},
        },
    }


def unlock_request(table: str, holder: str) -> Request:
    """Clear the lease, only while `holder` still holds it."""
    return {
        "TableName": table,
        "Key": STATE_KEY,
        "UpdateExpression": UNLOCK,
        "ConditionExpression": "lock_owner = :seen",
        "ExpressionAttributeValues": {":seen": {"S": holder}},
    }


def release_items(
    table: str,
    lease: Lease,
    record: Mapping[str, Any],
    *,
    succeeded: bool,
    full: bool,
    keep: int,
) -> list[Request]:
    """One transaction: give the lease back with the run's record, add its history entry."""
    values: dict[str, Any] = {
        ":me": {"S": lease.run_id},
        ":run": {"S": _json(record)},
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
    update = {
        "TableName": table,
        "Key": STATE_KEY,
        "UpdateExpression": "SET " + ", ".join(sets) + " " + UNLOCK,
        "ConditionExpression": "lock_owner = :me",
        "ExpressionAttributeValues": values,
    }
    return [{"Update": update}, *history_writes(table, lease, record, keep)]


def history_writes(table: str, lease: Lease, record: Mapping[str, Any], keep: int) -> list[Request]:
    """The run's history item, and the deletion of the one `keep` runs older."""
    writes: list[Request] = [{"Put": {"TableName": table, "Item": history_item(lease, record)}}]
    if lease.run_seq > keep:
        writes.append({"Delete": {"TableName": table, "Key": history_key(lease.run_seq - keep)}})
    return writes


def history_item(lease: Lease, record: Mapping[str, Any]) -> dict[str, Any]:
    """One run's history item; its TTL removes it if its deleter never runs."""
    return {
        **history_key(lease.run_seq),
        "run_seq": {"N": str(lease.run_seq)},
        "run_id": {"S": lease.run_id},
        "record": {"S": _json(record)},
        STATE_TTL_ATTRIBUTE: {"N": str(int(time.time()) + HISTORY_TTL_SECONDS)},
    }


def last_run_request(table: str, lease: Lease, record: Mapping[str, Any]) -> Request:
    """`last_run` for a run that lost its lease, unless a higher-numbered run recorded since."""
    return {
        "TableName": table,
        "Key": STATE_KEY,
        "UpdateExpression": "SET last_run = :run, last_run_outcome = :outcome, last_run_seq = :seq",
        "ConditionExpression": "attribute_not_exists(last_run_seq) OR last_run_seq < :seq",
        "ExpressionAttributeValues": {
            ":run": {"S": _json(record)},
            ":outcome": {"S": str(record.get("outcome", ""))},
            ":seq": {"N": str(lease.run_seq)},
        },
    }


def next_seq_request(table: str, assets_table: str) -> Request:
    """A run number for a run that found the lease held (the state serving `assets_table`)."""
    return {
        "TableName": table,
        "Key": STATE_KEY,
        "UpdateExpression": f"SET run_seq = {NEXT_SEQ}",
        "ConditionExpression": "attribute_not_exists(assets_table) OR assets_table = :table",
        "ExpressionAttributeValues": {
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
            ":table": {"S": assets_table},
        },
        "ReturnValues": "UPDATED_NEW",
    }


def history_scan(table: str) -> Request:
    """Every history item (a Scan of the small state table)."""
    return {
        "TableName": table,
        "FilterExpression": "begins_with(pk, :prefix)",
        "ExpressionAttributeValues": {":prefix": {"S": HISTORY_PREFIX}},
    }


def _json(record: Mapping[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, default=str)

"""The names and limits shared across the package, its Lambdas, infra/ and bench/ (no imports).

Environment variables, their defaults and allowed ranges, table and index names, metric names and
namespace, service names, run outcomes and the event source live here once; config.py, the
handlers, the data layer, infra/ (CDK) and bench/ import them, so a rename cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Env:
    """Environment variable names (the ecosystem's names where one exists)."""

    APCA_API_KEY_ID = "APCA_API_KEY_ID"
    APCA_API_SECRET_KEY = "APCA_API_SECRET_KEY"  # noqa: S105 - a variable name, not a secret
    APCA_API_BASE_URL = "APCA_API_BASE_URL"
    ALPACA_SECRET_ID = "ALPACA_SECRET_ID"  # noqa: S105 - a variable name
    AWS_ENDPOINT_URL_DYNAMODB = "AWS_ENDPOINT_URL_DYNAMODB"
    AWS_ENDPOINT_URL = "AWS_ENDPOINT_URL"
    AWS_REGION = "AWS_REGION"
    AWS_DEFAULT_REGION = "AWS_DEFAULT_REGION"
    AWS_PROFILE = "AWS_PROFILE"
    ASSETS_TABLE = "ASSETS_TABLE"
    SYNC_STATE_TABLE = "SYNC_STATE_TABLE"
    HISTORY_TABLE = "HISTORY_TABLE"
    SYNC_LOCK_LEASE_SECONDS = "SYNC_LOCK_LEASE_SECONDS"
    FULL_RECONCILE_DAYS = "FULL_RECONCILE_DAYS"
    MAX_WRITES_PER_SECOND = "MAX_WRITES_PER_SECOND"
    WRITE_CONCURRENCY = "WRITE_CONCURRENCY"
    MAX_DELIST_FRACTION = "MAX_DELIST_FRACTION"
    DELIST_CONFIRM_SAMPLE = "DELIST_CONFIRM_SAMPLE"
    DELIST_LOOKUPS_PER_SECOND = "DELIST_LOOKUPS_PER_SECOND"
    ASSET_CLASSES = "ASSET_CLASSES"
    NO_COLOR = "NO_COLOR"
    EVENT_BUS_NAME = "EVENT_BUS_NAME"
    EVENTS_QUARANTINE_BUCKET = "EVENTS_QUARANTINE_BUCKET"
    POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
    POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"


@dataclass(frozen=True)
class Knob:
    """A numeric setting: its variable, default and allowed range (inclusive)."""

    env: str
    default: float
    low: float
    high: float


LEASE_SECONDS = Knob(Env.SYNC_LOCK_LEASE_SECONDS, 900, 5, 86_400)
FULL_RECONCILE_DAYS = Knob(Env.FULL_RECONCILE_DAYS, 7, 0, 3650)  # 0: never on its own
MAX_WRITES_PER_SECOND = Knob(Env.MAX_WRITES_PER_SECOND, 500.0, 0.01, 40_000)
WRITE_CONCURRENCY = Knob(Env.WRITE_CONCURRENCY, 8, 1, 64)
MAX_DELIST_FRACTION = Knob(Env.MAX_DELIST_FRACTION, 0.10, 0.0, 1.0)

DEFAULT_ASSETS_TABLE = "signal9_assets"
STATE_TABLE_SUFFIX = "_sync_state"
HISTORY_TABLE_SUFFIX = "_history"
STATUS_INDEX = "status-index"
ASSET_ID_INDEX = "asset-id-index"
# The history table (docs/history.md): partition key `shard` (a fixed hash of the asset id, or
# a reserved partition), sort key `key` (`<asset_id>#<version>`), and its index by ticker.
HISTORY_PARTITION_KEY = "shard"
HISTORY_SORT_KEY = "key"
HISTORY_SYMBOL_INDEX = "symbol-index"


def state_table_name(assets_table: str) -> str:
    """The run-state table of an assets table (its default)."""
    return f"{assets_table}{STATE_TABLE_SUFFIX}"


def history_table_name(assets_table: str) -> str:
    """The point-in-time history table of an assets table (its default)."""
    return f"{assets_table}{HISTORY_TABLE_SUFFIX}"


METRICS_NAMESPACE = "Signal9/AssetSync"
SYNC_SERVICE = "asset-sync"
EVENTS_SERVICE = "asset-events"
HISTORY_SERVICE = "asset-history"
EVENT_SOURCE = "signal9.asset-sync"


class Outcome(StrEnum):
    """How a run (or a catch-up check) ended."""

    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    REFUSED = "refused"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"
    DRY_RUN = "dry-run"
    FRESH = "fresh"


class Metric:
    """CloudWatch metric names (EMF) the handlers publish and infra/ alarms on."""

    SYNC_SUCCEEDED = "SyncSucceeded"
    SYNC_PARTIAL = "SyncPartial"
    SYNC_REFUSED = "SyncRefused"
    SYNC_FAILED = "SyncFailed"
    SYNC_INTERRUPTED = "SyncInterrupted"
    SYNC_SKIPPED = "SyncSkipped"
    SYNC_FRESH = "SyncFresh"
    SYNC_DURATION = "SyncDuration"
    EVENTS_PUBLISHED = "EventsPublished"
    EVENTS_FAILED = "EventsFailed"
    EVENTS_QUARANTINED = "EventsQuarantined"
    HISTORY_VERSIONS_WRITTEN = "HistoryVersionsWritten"
    HISTORY_RECORDS_FAILED = "HistoryRecordsFailed"
    HISTORY_RECORDS_QUARANTINED = "HistoryRecordsQuarantined"
    HISTORY_RECORDS_IGNORED = "HistoryRecordsIgnored"

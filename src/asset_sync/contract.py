"""The names and limits shared across the package, its Lambdas, infra/ and bench/ (no imports).

Environment variables, their defaults and allowed ranges, table and index names, metric names and
namespace, service names, run outcomes, the report's counters and the change events' source and
detail types live here once; config.py, the handlers, the data layer, infra/ (CDK), scripts/ and
bench/ import them, so a rename cannot drift apart (tests/unit/test_contract.py checks that no
other module writes one of these strings again).
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
    POWERTOOLS_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"


@dataclass(frozen=True)
class Knob:
    """A numeric setting: its variable, default and allowed range (inclusive, one per knob:
    config.py validates the variable and infra/settings.py the stage setting against it)."""

    env: str
    default: float
    low: float
    high: float
    whole: bool = False  # whole numbers only

    def allows(self, value: float) -> bool:
        """Whether `value` lies within the range."""
        return self.low <= value <= self.high

    @property
    def range_text(self) -> str:
        """`5..86400`, for messages."""
        return f"{self.low:g}..{self.high:g}"


LEASE_SECONDS = Knob(Env.SYNC_LOCK_LEASE_SECONDS, 900, 5, 86_400, whole=True)
FULL_RECONCILE_DAYS = Knob(Env.FULL_RECONCILE_DAYS, 7, 0, 3650, whole=True)  # 0: never on its own
MAX_WRITES_PER_SECOND = Knob(Env.MAX_WRITES_PER_SECOND, 500.0, 0.01, 40_000)
WRITE_CONCURRENCY = Knob(Env.WRITE_CONCURRENCY, 8, 1, 64, whole=True)
MAX_DELIST_FRACTION = Knob(Env.MAX_DELIST_FRACTION, 0.10, 0.0, 1.0)
DELIST_CONFIRM_SAMPLE = Knob(Env.DELIST_CONFIRM_SAMPLE, 50, 1, 10_000, whole=True)
DELIST_LOOKUPS_PER_SECOND = Knob(Env.DELIST_LOOKUPS_PER_SECOND, 2.0, 0.01, 50)

DEFAULT_ASSETS_TABLE = "signal9_assets"
STATE_TABLE_SUFFIX = "_sync_state"
HISTORY_TABLE_SUFFIX = "_history"
STATUS_INDEX = "status-index"  # partition key `status`, projection ALL
ASSET_ID_INDEX = "asset-id-index"  # partition key `asset_id`, keys only: the identity rule
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
QUARANTINE_PREFIX = "pending/"  # the events consumer's quarantine objects (and the bucket metrics)

ASSETS_TABLE_KEY = "symbol"  # the assets table's partition key
STATE_TABLE_KEY = "pk"  # the run-state table's partition key
STATE_TTL_ATTRIBUTE = "expires_at"
STATE_ITEM_KEY = "asset-sync"  # the run-state table's state item (`pk`); history: `run#<seq>`
STATUS_INDEX_KEY = "status"
ASSET_ID_INDEX_KEY = "asset_id"


def stage_assets_table_name(stage: str) -> str:
    """A deployed stage's assets table (its default): `signal9_assets_<stage>`."""
    return f"{DEFAULT_ASSETS_TABLE}_{stage}"


CLI_NAME = "asset-sync"
SYNC_HANDLER = "asset_sync.handler.lambda_handler"
EVENTS_HANDLER = "asset_sync.events.handler.lambda_handler"
HISTORY_HANDLER = "asset_sync.history.handler.lambda_handler"


class DetailType(StrEnum):
    """The change events' detail types (docs/events.md)."""

    LISTED = "Asset Listed"
    UPDATED = "Asset Updated"
    DELISTED = "Asset Delisted"
    REACTIVATED = "Asset Reactivated"
    RENAMED = "Asset Renamed"
    REMOVED = "Asset Removed"


# What a Lambda must never import (the CLI, its dependency, the local mode, test-only tools):
# scripts/package_lambda.py refuses an artifact whose handlers reach one, and tests check both
# handlers' import graphs against the same list.
LAMBDA_FORBIDDEN_MODULES = ("click", "asset_sync.cli", "asset_sync.local", "moto", "jsonschema")
# DynamoDB operations that write (the report's and the proxies' write counts).
WRITE_OPERATIONS = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)


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


RUNNING = "running"  # a report's outcome until the run ends
SUCCESS_OUTCOMES = (Outcome.SUCCEEDED, Outcome.DRY_RUN)


class Count(StrEnum):
    """The report's counters (the run record's counts; fields of `RunReport`)."""

    FETCHED = "fetched"
    VALID = "valid"
    INVALID = "invalid"
    DUPLICATE_RECORDS = "duplicate_records"
    ID_CONFLICT_RECORDS = "id_conflict_records"
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELISTED = "delisted"
    REACTIVATED = "reactivated"
    RENAMED = "renamed"
    ARCHIVED = "archived"
    BLOCKED = "blocked"
    REPAIRED = "repaired"
    SUPERSEDED = "superseded"
    VANISHED = "vanished"
    CONFLICTS_RESOLVED = "conflicts_resolved"
    FAILED = "failed"
    NOT_WRITTEN = "not_written"
    DELIST_CANDIDATES = "delist_candidates"
    DELIST_LOOKUPS = "delist_lookups"


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
    ASSETS_FETCHED = "AssetsFetched"
    ASSETS_INVALID = "AssetsInvalid"
    ASSETS_CREATED = "AssetsCreated"
    ASSETS_UPDATED = "AssetsUpdated"
    ASSETS_REACTIVATED = "AssetsReactivated"
    ASSETS_DELISTED = "AssetsDelisted"
    ASSETS_RENAMED = "AssetsRenamed"
    ASSETS_REPAIRED = "AssetsRepaired"
    ASSETS_UNCHANGED = "AssetsUnchanged"
    WRITES_FAILED = "WritesFailed"
    DYNAMODB_WRITE_REQUESTS = "DynamoDBWriteRequests"
    ALPACA_ATTEMPTS = "AlpacaAttempts"
    EVENTS_PUBLISHED = "EventsPublished"
    EVENTS_FAILED = "EventsFailed"
    EVENTS_QUARANTINED = "EventsQuarantined"
    HISTORY_VERSIONS_WRITTEN = "HistoryVersionsWritten"
    HISTORY_RECORDS_FAILED = "HistoryRecordsFailed"
    HISTORY_RECORDS_QUARANTINED = "HistoryRecordsQuarantined"
    HISTORY_RECORDS_IGNORED = "HistoryRecordsIgnored"
    STREAM_RECORDS_IGNORED = "StreamRecordsIgnored"


# One Count metric per way a run ends ("runs by outcome"; SyncSucceeded and SyncFresh also feed
# the no-successful-sync alarm). A dry run is never a Lambda's.
OUTCOME_METRICS: dict[str, str] = {
    Outcome.SUCCEEDED: Metric.SYNC_SUCCEEDED,
    Outcome.PARTIAL: Metric.SYNC_PARTIAL,
    Outcome.REFUSED: Metric.SYNC_REFUSED,
    Outcome.FAILED: Metric.SYNC_FAILED,
    Outcome.INTERRUPTED: Metric.SYNC_INTERRUPTED,
    Outcome.SKIPPED: Metric.SYNC_SKIPPED,
    Outcome.FRESH: Metric.SYNC_FRESH,
}
# The asset changes a run reports, as metrics: the dashboard draws them and the stalled-events
# alarm compares them with the events published.
ASSET_CHANGE_METRICS: dict[str, Count] = {
    Metric.ASSETS_CREATED: Count.CREATED,
    Metric.ASSETS_UPDATED: Count.UPDATED,
    Metric.ASSETS_DELISTED: Count.DELISTED,
    Metric.ASSETS_REACTIVATED: Count.REACTIVATED,
    Metric.ASSETS_RENAMED: Count.RENAMED,
    Metric.ASSETS_REPAIRED: Count.REPAIRED,
}
EVENTS_METRICS = (Metric.EVENTS_PUBLISHED, Metric.EVENTS_FAILED, Metric.EVENTS_QUARANTINED)

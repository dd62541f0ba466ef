"""The run report: what one sync fetched, decided and wrote."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from asset_sync.contract import RUNNING, SUCCESS_OUTCOMES, Count
from asset_sync.logic.models import InvalidRecord, ItemChange, ValidatedCatalog

MAX_REPORTED_INVALID = 200
MAX_REPORTED_SYMBOLS = 200  # lists of symbols in --json (duplicates, blocked, ...) are bounded
MAX_REPORTED_CANDIDATES = 100  # delisting candidates listed by symbol (`delist_candidates`: all)

COUNTERS = tuple(Count)  # the run record's counts, in this order (contract.Count)


@dataclass
class RunReport:
    """Counts and per-symbol changes of one run; `to_json` is the CLI's `--json` output."""

    run_id: str
    last_sync_timestamp: str  # the run's start (this machine's clock: information only)
    dry_run: bool = False
    full: bool = False
    run_seq: int | None = None
    outcome: str = RUNNING  # a contract.Outcome once the run ended
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    scope: list[str] = field(default_factory=list)
    fetched: int = 0
    valid: int = 0
    invalid: int = 0
    duplicates: list[str] = field(default_factory=list)
    duplicate_records: int = (
        0  # fetched = valid + invalid + duplicate_records + id_conflict_records
    )
    id_conflict_records: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    delisted: int = 0
    reactivated: int = 0
    renamed: int = 0  # assets that arrived on a new ticker (renames, shifts, swaps)
    archived: int = 0  # displaced assets moved to their archive item
    blocked: int = 0  # valid records left out: their identity change could not be applied
    repaired: int = 0
    superseded: int = 0
    vanished: int = 0  # deleted by another writer before this run could write them
    conflicts_resolved: int = 0
    failed: int = 0
    not_written: int = 0  # planned but not attempted because the run stopped
    delist_candidates: int = 0
    delist_lookups: int = 0
    delist_candidate_symbols: list[str] = field(default_factory=list)  # sorted
    active_in_scope: int = 0  # active items the run may delist (what the guard compares with)
    renames: list[dict[str, str]] = field(default_factory=list)
    reassignments: list[dict[str, str]] = field(default_factory=list)
    blocked_records: dict[str, str] = field(default_factory=dict)
    id_conflicts: list[dict[str, Any]] = field(default_factory=list)
    kept_active: list[str] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    invalid_records: list[InvalidRecord] = field(default_factory=list)
    changes: dict[str, ItemChange] = field(default_factory=dict)
    dynamodb_requests: int = 0
    dynamodb_write_requests: int = 0
    dynamodb_retries: int = 0
    alpaca_attempts: int = 0
    duration_seconds: float = 0.0
    region: str = ""
    endpoint: str = ""

    def note_catalog(self, catalog: ValidatedCatalog) -> None:
        """What the catalog held: fetched, valid and invalid records, duplicated symbols."""
        self.fetched, self.valid = catalog.fetched, len(catalog.assets)
        self.invalid, self.invalid_records = len(catalog.invalid), list(catalog.invalid)
        self.duplicates = list(catalog.duplicates)

    def note_plan(self, catalog: ValidatedCatalog, unchanged: int, superseded: int) -> None:
        """What planning found: unchanged and superseded items, records set aside."""
        self.unchanged, self.superseded = unchanged, superseded
        self.id_conflicts = [
            {"asset_id": c.asset_id, "symbols": list(c.symbols)} for c in catalog.id_conflicts
        ]
        self.duplicate_records = catalog.duplicate_records
        self.id_conflict_records = catalog.id_conflict_records

    @property
    def succeeded(self) -> bool:
        """True for a complete run (a dry run included)."""
        return self.outcome in SUCCESS_OUTCOMES

    def counts(self) -> dict[str, int]:
        """The counts alone (stored in the run record and emitted as metrics)."""
        return {
            **{name: int(getattr(self, name)) for name in COUNTERS},
            "duplicates": len(self.duplicates),  # duplicated symbols (their records: above)
            "id_conflicts": len(self.id_conflicts),  # asset ids on several symbols
        }

    def summary(self) -> dict[str, Any]:
        """Outcome and counts without per-symbol detail (the stored run record)."""
        return {
            "run_id": self.run_id,
            "run_seq": self.run_seq,
            "outcome": self.outcome,
            "message": self.message,
            "warnings": self.warnings,
            "dry_run": self.dry_run,
            "full": self.full,
            "scope": self.scope,
            "last_sync_timestamp": self.last_sync_timestamp,
            "duration_seconds": round(self.duration_seconds, 3),
            "dynamodb_write_requests": self.dynamodb_write_requests,
            "alpaca_attempts": self.alpaca_attempts,
            **self.counts(),
        }

    def to_json(self) -> dict[str, Any]:
        """Everything, JSON-able: counts, failures, invalid records and per-symbol changes."""
        return {
            **self.summary(),
            "duplicate_symbols": self.duplicates[:MAX_REPORTED_SYMBOLS],
            "delist_candidate_symbols": self.delist_candidate_symbols[:MAX_REPORTED_CANDIDATES],
            "active_in_scope": self.active_in_scope,
            "renames": self.renames[:MAX_REPORTED_SYMBOLS],
            "reassignments": self.reassignments[:MAX_REPORTED_SYMBOLS],
            "blocked_records": dict(sorted(self.blocked_records.items())[:MAX_REPORTED_SYMBOLS]),
            "id_conflicts": self.id_conflicts[:MAX_REPORTED_SYMBOLS],
            "kept_active": self.kept_active,
            "unconfirmed": self.unconfirmed,
            "failures": self.failures,
            "invalid_records": [
                {"index": r.index, "symbol": r.symbol, "reason": r.reason}
                for r in self.invalid_records[:MAX_REPORTED_INVALID]
            ],
            "changes": {
                symbol: change.to_json() for symbol, change in sorted(self.changes.items())
            },
            "dynamodb": {
                "requests": self.dynamodb_requests,
                "write_requests": self.dynamodb_write_requests,
                "retries": self.dynamodb_retries,
                "region": self.region,
                "endpoint": self.endpoint,
            },
        }

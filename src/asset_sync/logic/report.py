"""The run report: what one sync fetched, decided and wrote."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from asset_sync.logic.models import InvalidRecord, ItemChange

MAX_REPORTED_INVALID = 200


@dataclass
class RunReport:
    """Counts and per-symbol changes of one run; `to_json` is the CLI's `--json` output."""

    run_id: str
    last_sync_timestamp: str
    dry_run: bool = False
    outcome: str = "running"  # succeeded | partial | refused | failed | dry-run
    message: str = ""
    fetched: int = 0
    valid: int = 0
    invalid: int = 0
    duplicates: list[str] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    delisted: int = 0
    reactivated: int = 0
    superseded: int = 0
    conflicts_resolved: int = 0
    failed: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    invalid_records: list[InvalidRecord] = field(default_factory=list)
    changes: dict[str, ItemChange] = field(default_factory=dict)
    dynamodb_requests: int = 0
    dynamodb_write_requests: int = 0
    dynamodb_retries: int = 0
    alpaca_attempts: int = 0
    duration_seconds: float = 0.0

    @property
    def succeeded(self) -> bool:
        """True for a complete run (a dry run included)."""
        return self.outcome in ("succeeded", "dry-run")

    def counts(self) -> dict[str, int]:
        """The counts alone (stored in the run-state table and emitted as metrics)."""
        return {
            "fetched": self.fetched,
            "valid": self.valid,
            "invalid": self.invalid,
            "duplicates": len(self.duplicates),
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "delisted": self.delisted,
            "reactivated": self.reactivated,
            "superseded": self.superseded,
            "conflicts_resolved": self.conflicts_resolved,
            "failed": self.failed,
        }

    def summary(self) -> dict[str, Any]:
        """Outcome and counts without per-symbol detail (the run-state record)."""
        return {
            "run_id": self.run_id,
            "outcome": self.outcome,
            "message": self.message,
            "dry_run": self.dry_run,
            "last_sync_timestamp": self.last_sync_timestamp,
            "duration_seconds": round(self.duration_seconds, 3),
            **self.counts(),
        }

    def to_json(self) -> dict[str, Any]:
        """Everything, JSON-able: counts, failures, invalid records and per-symbol changes."""
        return {
            **self.summary(),
            "duplicate_symbols": self.duplicates,
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
            },
            "alpaca_attempts": self.alpaca_attempts,
        }

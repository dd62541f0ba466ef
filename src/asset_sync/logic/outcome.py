"""How a run ends when it does not complete: one error per way, each carrying the report.

A run raises one of these (never returns it); `asset_sync.endings` maps each, with its cause, to
the CLI's exit code and line and to the handlers' metric and log line.
"""

from __future__ import annotations

from asset_sync.contract import Outcome
from asset_sync.logic.catalog import CatalogError
from asset_sync.logic.confirmation import Confirmation
from asset_sync.logic.lease import LeaseHeldError
from asset_sync.logic.ports import StoreError, StoreSetupError
from asset_sync.logic.report import RunReport
from asset_sync.logic.validation import CatalogFormatError


class SyncError(RuntimeError):
    """The run did not complete; `report` says how far it got (`__cause__`: why)."""

    def __init__(self, message: str, report: RunReport) -> None:
        super().__init__(message)
        self.report = report

    @classmethod
    def ending(cls, report: RunReport, outcome: Outcome, message: str) -> SyncError:
        """The error of a run that ended `outcome`, its report saying so."""
        report.outcome, report.message = outcome, message
        return cls(message, report)


class GuardRefusedError(SyncError):
    """The guard refused the plan: nothing was written."""


class RunInterruptedError(SyncError):
    """The run stopped on a signal or at its deadline; the report says what it wrote."""

    def __init__(self, message: str, report: RunReport, reason: str = "") -> None:
        super().__init__(message, report)
        self.reason = reason  # "SIGINT", "SIGTERM", "the deadline was near", a forced unlock


class RunSkippedError(SyncError, LeaseHeldError):
    """Another run holds the lease: this one did nothing (recorded as `skipped`)."""


class ScopeError(SyncError):
    """A requested asset class is unknown to Alpaca and to the table: a configuration error."""


def failure_message(error: BaseException) -> str:
    """The run record's message for an error that ended a run, in an operator's words."""
    if isinstance(error, CatalogError | CatalogFormatError):
        return f"fetching from Alpaca failed, nothing was written: {error}"
    cause = error.__cause__ if isinstance(error, StoreError) else None
    if isinstance(error, StoreSetupError) or isinstance(cause, StoreSetupError):
        return str(cause or error)
    if isinstance(error, StoreError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def inconsistency(confirmation: Confirmation) -> str:
    """The message of a run whose list Alpaca's lookups contradicted (or could not confirm)."""
    parts = []
    if confirmation.kept_active:
        shown = ", ".join(confirmation.kept_active[:20])
        parts.append(
            f"Alpaca still reports {len(confirmation.kept_active)} assets active that its list "
            f"omitted ({shown}); they were not delisted"
        )
    if confirmation.unconfirmed:
        parts.append(
            f"{len(confirmation.unconfirmed)} delisting candidates could not be confirmed and "
            "were left as they are"
        )
    parts.append(f"delisted only the {len(confirmation.confirmed)} confirmed one by one")
    return "; ".join(parts)

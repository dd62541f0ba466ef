"""How a run, a catch-up or a command ended, in every form an operator sees it: the one mapping.

From how it ended (a completed report, a fresh catch-up, or the error that ended it) to its
outcome, its one-line message, the exit code the CLI returns, the count metric the Lambda
publishes and the line the Lambda logs. The CLI (`cli/outcomes.py`, which adds its own usage
errors and signals) and both Lambda handlers use it; no other module maps an error to these.

Exit codes: 0 success; 1 a problem a later try may not meet (the catalog could not be fetched,
DynamoDB kept failing), a partial run, one stopped at its deadline or by a forced unlock; 2 bad
configuration, nothing a retry can fix (rejected keys, a missing or misshapen table, an endpoint
that is not DynamoDB, an unknown asset class, an invalid region or endpoint); 3 the guard refused
the plan; 4 another sync holds the run lease; 130 / 143 stopped by SIGINT / SIGTERM.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConfigParseError,
    EndpointConnectionError,
    InvalidRegionError,
    NoCredentialsError,
    ProfileNotFound,
)

from asset_sync.alpaca.client import AlpacaEndpointError
from asset_sync.config import ConfigError
from asset_sync.contract import OUTCOME_METRICS, Metric, Outcome
from asset_sync.logic.catalog import CatalogAuthError, CatalogError
from asset_sync.logic.lease import LeaseHeldError
from asset_sync.logic.outcome import GuardRefusedError, RunInterruptedError, ScopeError, SyncError
from asset_sync.logic.ports import StoreError, StoreSetupError
from asset_sync.logic.report import RunReport
from asset_sync.logic.validation import CatalogFormatError

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_REFUSED, EXIT_LOCKED = 0, 1, 2, 3, 4
EXIT_SIGNALS = {"SIGINT": 130, "SIGTERM": 143}
# A command's outcome by its exit code (a run's is its report's).
COMMAND_OUTCOMES = {
    EXIT_OK: Outcome.SUCCEEDED,
    EXIT_REFUSED: Outcome.REFUSED,
    EXIT_LOCKED: Outcome.SKIPPED,
    EXIT_SIGNALS["SIGINT"]: Outcome.INTERRUPTED,
    EXIT_SIGNALS["SIGTERM"]: Outcome.INTERRUPTED,
}
CONFIG_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    CatalogAuthError,
    AlpacaEndpointError,
    StoreSetupError,
    ScopeError,
    InvalidRegionError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
    ConfigParseError,
)
# The sync Lambda's log lines (docs/deploy.md's runbooks search for them).
FINISHED = "sync finished"
SKIPPED = "sync skipped: another sync holds the lease"
INTERRUPTED = "sync interrupted"
NOT_COMPLETED = "sync did not complete"
FAILED = "sync failed"
FRESH = "sync fresh: today's sync already succeeded, nothing to do"


@dataclass(frozen=True)
class Ending:
    """How something ended: its outcome, message, exit code, metric and log line."""

    outcome: Outcome
    message: str
    exit_code: int = EXIT_OK
    log: str = FINISHED

    @property
    def metric(self) -> str:
        """The count metric a Lambda publishes for it (runs by outcome)."""
        return OUTCOME_METRICS.get(self.outcome, Metric.SYNC_FAILED)

    @property
    def succeeded(self) -> bool:
        """Whether it ended as it should (exit code 0)."""
        return self.exit_code == EXIT_OK


def completed(report: RunReport) -> Ending:
    """A run that completed (succeeded, or a dry run)."""
    return Ending(Outcome(report.outcome), report.message)


def fresh(message: str) -> Ending:
    """A catch-up that found today's sync done: nothing to do."""
    return Ending(Outcome.FRESH, message, log=FRESH)


def by_exit_code(message: str, code: int) -> Ending:
    """A command that ended with `code` (its outcome by the code)."""
    return Ending(COMMAND_OUTCOMES.get(code, Outcome.FAILED), message, code, FAILED)


def ending_of(error: BaseException) -> Ending:
    """How the error ended a run or a command (its cause decides for a failed run)."""
    message, code = describe(error), exit_code(error)
    if not isinstance(error, SyncError):
        return by_exit_code(message, code)
    outcome = Outcome(error.report.outcome)
    if outcome == Outcome.SKIPPED:
        return Ending(outcome, message, code, SKIPPED)
    log = INTERRUPTED if outcome == Outcome.INTERRUPTED else NOT_COMPLETED
    return Ending(outcome, message, code, log)


def cause_of(error: BaseException) -> BaseException:
    """What ended it: a failed run's cause, and behind a store's error what the client said."""
    cause = error.__cause__ if isinstance(error, SyncError) and error.__cause__ else error
    if isinstance(cause, StoreError) and cause.__cause__ is not None:
        return cause.__cause__
    return cause


def exit_code(error: BaseException) -> int:
    """The documented exit code of a failure."""
    if isinstance(error, GuardRefusedError):
        return EXIT_REFUSED
    if isinstance(error, LeaseHeldError):
        return EXIT_LOCKED
    if isinstance(error, RunInterruptedError):
        return EXIT_SIGNALS.get(error.reason, EXIT_FAILED)
    causes = (error, error.__cause__, cause_of(error))
    return EXIT_CONFIG if any(isinstance(e, CONFIG_ERRORS) for e in causes) else EXIT_FAILED


def describe(error: BaseException) -> str:
    """One line for a failure, in the words an operator needs."""
    cause = cause_of(error)
    if isinstance(cause, ConfigError):
        return f"configuration error: {cause}"
    if isinstance(cause, EndpointConnectionError):
        return f"cannot reach DynamoDB ({cause}); check the region and the endpoint URL"
    if isinstance(cause, ProfileNotFound | ConfigParseError):
        return f"AWS configuration error: {cause} (check AWS_PROFILE and AWS_CONFIG_FILE)"
    if isinstance(cause, NoCredentialsError):
        return "no AWS credentials found (set AWS_PROFILE or the AWS_* variables)"
    if isinstance(cause, CatalogError | CatalogFormatError) and isinstance(error, SyncError):
        return f"fetching the catalog failed, nothing was written: {cause}"
    if isinstance(cause, StoreSetupError):
        return str(cause)
    if isinstance(error, SyncError):
        return error.report.message or str(error)
    if isinstance(cause, ClientError | BotoCoreError):
        return f"DynamoDB error: {cause}"
    if isinstance(error, CatalogError | CatalogFormatError):
        return str(error)
    return f"unexpected error: {type(error).__name__}: {error}"

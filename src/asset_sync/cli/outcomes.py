"""How a command ended, as (exit code, one stderr line, one JSON object): the one mapping every
`asset-sync` command goes through, usage errors and signals included.

Exit codes: 0 success; 1 the command failed with a problem a later try may not meet (the
catalog could not be fetched, DynamoDB kept failing), the sync was partial or stopped at its
deadline or by a forced unlock, a doctor check failed, an item was not found; 2 bad usage or
configuration (nothing a retry can fix: rejected keys, a missing or misshapen table, an endpoint
that is not DynamoDB, an unknown asset class, an invalid region or endpoint); 3 the guard
refused the plan; 4 another sync holds the run lease; 130 / 143 stopped by SIGINT / SIGTERM.
The README's exit-code table is checked against this, command by command.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConfigParseError,
    EndpointConnectionError,
    InvalidRegionError,
    NoCredentialsError,
    ProfileNotFound,
)

from asset_sync.alpaca.client import AlpacaAuthError, AlpacaEndpointError, AlpacaError
from asset_sync.config import ConfigError
from asset_sync.contract import Outcome as RunOutcome
from asset_sync.dal.errors import EndpointNotDynamoDBError, TableSetupError
from asset_sync.logic.lease import LeaseHeldError
from asset_sync.logic.ports import StoreError
from asset_sync.logic.sync import (
    GuardRefusedError,
    RunInterruptedError,
    ScopeError,
    SyncError,
)
from asset_sync.logic.validation import CatalogFormatError

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_REFUSED, EXIT_LOCKED = 0, 1, 2, 3, 4
EXIT_SIGNALS = {"SIGINT": 130, "SIGTERM": 143}
CONFIG_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    AlpacaAuthError,
    AlpacaEndpointError,
    TableSetupError,
    EndpointNotDynamoDBError,
    ScopeError,
    InvalidRegionError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
    ConfigParseError,
)
OUTCOMES = {
    EXIT_REFUSED: RunOutcome.REFUSED,
    EXIT_LOCKED: RunOutcome.SKIPPED,
    130: RunOutcome.INTERRUPTED,
    143: RunOutcome.INTERRUPTED,
}


class CommandFailed(Exception):  # noqa: N818 - an outcome, raised like an error
    """A command's own unsuccessful finding (no such item, a failed check, a lease it may not
    clear): its message, what it found (the JSON object's fields) and the error behind it, if
    any (which decides the exit code; 1 without one)."""

    def __init__(
        self,
        message: str,
        found: Mapping[str, Any] | None = None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.found = dict(found or {})
        self.cause = cause


class Stopped(BaseException):
    """SIGINT or SIGTERM ended a command that was not writing (raised by the CLI's handler)."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


@dataclass(frozen=True)
class Outcome:
    """How a command ended: its exit code, its `asset-sync: ...` line, its `--json` object."""

    exit_code: int
    message: str
    json: dict[str, Any]


def outcome_of(error: BaseException) -> Outcome:
    """The one mapping from how a command failed to what it prints and returns."""
    code, message = exit_code_for(error), describe(error)
    if isinstance(error, SyncError):
        return Outcome(code, message, {**error.report.to_json(), "exit_code": code})
    found = error.found if isinstance(error, CommandFailed) else {}
    outcome = OUTCOMES.get(code, RunOutcome.FAILED)
    fields = {"outcome": outcome, "message": message, "exit_code": code}
    return Outcome(code, message, {**found, **fields})


def exit_code_for(error: BaseException) -> int:
    """The documented exit code of a failure (the cause decides for a failed run)."""
    if isinstance(error, CommandFailed):
        return EXIT_FAILED if error.cause is None else exit_code_for(error.cause)
    if isinstance(error, click.UsageError):
        return EXIT_CONFIG
    if isinstance(error, Stopped):
        return EXIT_SIGNALS.get(error.signal_name, EXIT_FAILED)
    if isinstance(error, KeyboardInterrupt | click.Abort):
        return EXIT_SIGNALS["SIGINT"]
    if isinstance(error, GuardRefusedError):
        return EXIT_REFUSED
    if isinstance(error, LeaseHeldError):
        return EXIT_LOCKED
    if isinstance(error, RunInterruptedError):
        return EXIT_SIGNALS.get(error.reason, EXIT_FAILED)
    if any(isinstance(e, CONFIG_ERRORS) for e in (error, error.__cause__, cause_of(error))):
        return EXIT_CONFIG
    return EXIT_FAILED


def cause_of(error: BaseException) -> BaseException:
    """What ended it: a failed run's cause, and behind a store's error what the client said."""
    cause = error.__cause__ if isinstance(error, SyncError) and error.__cause__ else error
    if isinstance(cause, StoreError) and cause.__cause__ is not None:
        return cause.__cause__
    return cause


def describe(error: BaseException) -> str:
    """One line for a failure, in the words an operator needs."""
    if isinstance(error, click.UsageError):
        where = f" (see `{error.ctx.command_path} --help`)" if error.ctx else ""
        return f"usage error: {error.format_message().rstrip('.')}{where}"
    if isinstance(error, Stopped):
        return f"stopped ({error.signal_name})"
    if isinstance(error, KeyboardInterrupt | click.Abort):
        return "stopped (SIGINT)"
    if isinstance(error, CommandFailed):
        return str(error)
    cause = cause_of(error)
    if isinstance(cause, ConfigError):
        return f"configuration error: {cause}"
    if isinstance(cause, EndpointConnectionError):
        return f"cannot reach DynamoDB ({cause}); check the region and the endpoint URL"
    if isinstance(cause, ProfileNotFound | ConfigParseError):
        return f"AWS configuration error: {cause} (check AWS_PROFILE and AWS_CONFIG_FILE)"
    if isinstance(cause, NoCredentialsError):
        return "no AWS credentials found (set AWS_PROFILE or the AWS_* variables)"
    if isinstance(cause, AlpacaError | CatalogFormatError) and isinstance(error, SyncError):
        return f"fetching the catalog failed, nothing was written: {cause}"
    if isinstance(cause, TableSetupError | EndpointNotDynamoDBError):
        return str(cause)
    if isinstance(error, SyncError):
        return error.report.message or str(error)
    if isinstance(cause, ClientError | BotoCoreError):
        return f"DynamoDB error: {cause}"
    if isinstance(error, AlpacaError | CatalogFormatError):
        return str(error)
    return f"unexpected error: {type(error).__name__}: {error}"

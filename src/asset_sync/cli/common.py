"""What every `asset-sync` command shares: options, settings, exit codes and error output.

Exit codes: 0 success; 1 the sync failed, was partial or stopped at its deadline; 2 bad usage or
configuration (nothing a retry can fix: rejected keys, a missing table, an unknown asset class,
an invalid region or endpoint); 3 the guard refused the plan; 4 another sync holds the run
lease; 130 / 143 stopped by SIGINT / SIGTERM.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

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
from asset_sync.config import ConfigError, SyncSettings, settings_from_env
from asset_sync.dal.errors import StateTableConflictError, TableMissingError
from asset_sync.dal.run_state import LockHeldError
from asset_sync.logic.sync import (
    GuardRefusedError,
    LeaseHeldError,
    RunInterruptedError,
    ScopeError,
    SyncError,
)
from asset_sync.logic.validation import CatalogFormatError
from asset_sync.render import safe

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_REFUSED, EXIT_LOCKED = 0, 1, 2, 3, 4
EXIT_SIGNALS = {"SIGINT": 130, "SIGTERM": 143}
CONFIG_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    AlpacaAuthError,
    AlpacaEndpointError,
    TableMissingError,
    StateTableConflictError,
    ScopeError,
    InvalidRegionError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
    ConfigParseError,
)
F = TypeVar("F", bound=Callable[..., Any])


def _remember(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Keep a flag's value in the context (read by `load_settings`, not by each command)."""
    if value:
        ctx.meta[f"asset_sync.{param.name}"] = value
    return value


def table_options(command: F) -> F:
    """`--table`, `--endpoint-url` and `--region`, shared by every command that reaches DynamoDB."""
    command = click.option(
        "--region",
        expose_value=False,
        callback=_remember,
        help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the AWS profile, us-east-1).",
    )(command)
    command = click.option(
        "--endpoint-url",
        help="DynamoDB endpoint (default: AWS_ENDPOINT_URL_DYNAMODB, else AWS).",
    )(command)
    return click.option(
        "--table", help="Assets table (default: ASSETS_TABLE, else signal9_assets)."
    )(command)


def load_settings(
    table: str | None, endpoint_url: str | None, *, for_sync: bool = False, **overrides: Any
) -> SyncSettings:
    """Environment first, flags over it (a bad variable a flag replaces does not matter); only
    what the command uses is parsed."""
    settings = settings_from_env(for_sync=for_sync, validate=False)
    if table:
        overrides["assets_table"] = table
        overrides["table_source"] = "--table"
        if not os.environ.get("SYNC_STATE_TABLE"):
            overrides["state_table"] = f"{table}_sync_state"
            overrides["state_table_source"] = "--table + '_sync_state'"
    if endpoint_url:
        overrides["endpoint_source"] = "--endpoint-url"
    context = click.get_current_context(silent=True)
    region = context.meta.get("asset_sync.region") if context else None
    if region:
        overrides |= {"region": region, "region_source": "--region"}
    return settings.with_overrides(dynamodb_endpoint_url=endpoint_url, **overrides)


def exit_code_for(error: BaseException) -> int:
    """The documented exit code of a failure (the cause decides for a failed run)."""
    if isinstance(error, GuardRefusedError):
        return EXIT_REFUSED
    if isinstance(error, LeaseHeldError | LockHeldError):
        return EXIT_LOCKED
    if isinstance(error, RunInterruptedError):
        return EXIT_SIGNALS.get(error.reason, EXIT_FAILED)
    if isinstance(error, CONFIG_ERRORS) or isinstance(error.__cause__, CONFIG_ERRORS):
        return EXIT_CONFIG
    return EXIT_FAILED


def describe(error: BaseException) -> str:
    """One line for a failure, in the words an operator needs."""
    cause = error.__cause__ if isinstance(error, SyncError) else error
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
    if isinstance(cause, TableMissingError | StateTableConflictError):
        return str(cause)
    if isinstance(cause, ClientError | BotoCoreError) and not isinstance(error, SyncError):
        return f"DynamoDB error: {cause}"
    return str(error)


def use_color() -> bool:
    """False when NO_COLOR is set to anything (https://no-color.org)."""
    return not os.environ.get("NO_COLOR")


def fail(message: str, code: int) -> NoReturn:
    """One safe line on stderr, then the exit code."""
    text = f"asset-sync: {safe(message)}"
    click.echo(click.style(text, fg="red") if use_color() else text, err=True)
    sys.exit(code)


def echo_json(value: Any) -> None:
    """One JSON object on stdout (control characters are escaped by JSON itself)."""
    click.echo(json.dumps(value, sort_keys=True, default=str))


@contextmanager
def clear_errors(as_json: bool = False) -> Iterator[None]:
    """Turn known failures into one readable line (and one JSON object) and the exit code."""
    try:
        yield
    except SyncError as error:
        if as_json:
            echo_json(error.report.to_json())
        fail(describe(error), exit_code_for(error))
    except (ConfigError, AlpacaError, CatalogFormatError, ClientError, BotoCoreError,
            TableMissingError, StateTableConflictError, LockHeldError) as error:  # fmt: skip
        code = exit_code_for(error)
        if as_json:
            outcome = "skipped" if code == EXIT_LOCKED else "failed"
            echo_json({"outcome": outcome, "message": describe(error), "exit_code": code})
        fail(describe(error), code)

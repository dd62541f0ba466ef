"""What every `asset-sync` command shares: options, settings, and the way a command ends.

A command raises whatever ended it unsuccessfully; `AssetSyncGroup` (the `asset-sync` group)
turns it, usage errors and signals included, into one `asset-sync: ...` line on stderr, one JSON
object on stdout with `--json`, and the exit code, all three from `outcomes.outcome_of`.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TypeVar

import click

from asset_sync.cli.outcomes import Stopped, describe, exit_code_for, outcome_of
from asset_sync.config import (
    ENDPOINT_VARIABLES,
    SyncSettings,
    derived_state_table_source,
    settings_from_env,
)
from asset_sync.contract import CLI_NAME, DEFAULT_ASSETS_TABLE, Env, state_table_name
from asset_sync.endings import (
    CONFIG_ERRORS,
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_SIGNALS,
)
from asset_sync.render import safe

__all__ = [  # the exit codes and helpers commands imported from here before asset_sync.endings
    "CONFIG_ERRORS",
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_SIGNALS",
    "AssetSyncGroup",
    "Stopped",
    "describe",
    "echo_json",
    "exit_code_for",
    "fail",
    "finish",
    "load_settings",
    "outcome_of",
    "table_options",
    "use_color",
]
F = TypeVar("F", bound=Callable[..., Any])
# The environment variables each flag replaces: a flag given, they are not read at all (a bad
# value there does not matter).
FLAG_VARIABLES: dict[str, tuple[str, ...]] = {
    "table": (Env.ASSETS_TABLE,),
    "endpoint_url": ENDPOINT_VARIABLES,
    "region": (Env.AWS_REGION, Env.AWS_DEFAULT_REGION),
    "max_delist_fraction": (Env.MAX_DELIST_FRACTION,),
    "asset_classes": (Env.ASSET_CLASSES,),
}


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
        "--table", help=f"Assets table (default: {Env.ASSETS_TABLE}, else {DEFAULT_ASSETS_TABLE})."
    )(command)


def load_settings(
    table: str | None,
    endpoint_url: str | None,
    *,
    for_sync: bool = False,
    alpaca: bool | None = None,
    **overrides: Any,
) -> SyncSettings:
    """Environment first, flags over it; only what the command uses is read (`alpaca`, default
    `for_sync`: Alpaca's URL and keys), and no variable a given flag replaces."""
    context = click.get_current_context(silent=True)
    region = context.meta.get("asset_sync.region") if context else None
    flags = {"table": table, "endpoint_url": endpoint_url, "region": region, **overrides}
    given = [flag for flag, value in flags.items() if value]
    replaced = {variable for flag in given for variable in FLAG_VARIABLES.get(flag, ())}
    env = {name: value for name, value in os.environ.items() if name not in replaced}
    settings = settings_from_env(env, for_sync=for_sync, alpaca=alpaca, validate=False)
    if table:
        overrides["assets_table"] = table
        overrides["table_source"] = "--table"
        if not env.get(Env.SYNC_STATE_TABLE):
            overrides["state_table"] = state_table_name(table)
            overrides["state_table_source"] = derived_state_table_source("--table")
    if endpoint_url:
        overrides["endpoint_source"] = "--endpoint-url"
    if region:
        overrides |= {"region": region, "region_source": "--region"}
    return settings.with_overrides(dynamodb_endpoint_url=endpoint_url, **overrides)


def use_color() -> bool:
    """False when NO_COLOR is set to anything (https://no-color.org)."""
    return not os.environ.get(Env.NO_COLOR)


def echo_json(value: Any) -> None:
    """One JSON object on stdout (control characters are escaped by JSON itself)."""
    click.echo(json.dumps(value, sort_keys=True, default=str))


def fail(message: str, code: int) -> NoReturn:
    """One safe line on stderr, then the exit code, also when stderr's reader is gone (EPIPE
    must not turn the code into click's 1, nor Python's flush at exit into 120)."""
    text = f"asset-sync: {safe(message)}"
    try:
        click.echo(click.style(text, fg="red") if use_color() else text, err=True)
    except OSError:
        sys.stderr = Path(os.devnull).open("w")  # noqa: SIM115 - for the rest of the process
    sys.exit(code)


def finish(error: BaseException, as_json: bool) -> NoReturn:
    """End the process as `error` says: its JSON object (with `--json`), its line, its code."""
    outcome = outcome_of(error)
    if as_json:
        with suppress(OSError):
            echo_json(outcome.json)
    fail(outcome.message, outcome.exit_code)


def _stop_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)


class AssetSyncGroup(click.Group):
    """The `asset-sync` group: every way a command ends goes through `finish`.

    SIGINT and SIGTERM raise `Stopped` wherever the command is (`sync` and `demo` install
    their own handlers while they run, to stop writing cleanly); `--json` among the arguments
    makes even a usage error one JSON object.
    """

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> NoReturn:
        argv = list(sys.argv[1:] if args is None else args)
        as_json = "--json" in argv
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, _stop_on_signal)
        extra["standalone_mode"] = False
        try:
            code = super().main(argv, prog_name or CLI_NAME, **extra)
        except click.exceptions.NoArgsIsHelpError as help_asked:
            click.echo(help_asked.ctx.get_help() if help_asked.ctx else "")
            sys.exit(EXIT_OK)
        except (Exception, Stopped, KeyboardInterrupt) as error:
            finish(error, as_json)
        sys.exit(code if isinstance(code, int) else EXIT_OK)

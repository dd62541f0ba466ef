"""How a command ended, as (exit code, one stderr line, one JSON object): every `asset-sync`
command goes through `outcome_of`, usage errors and signals included.

The CLI's own endings (a usage error, a signal, a command's finding) are mapped here; every
other error goes to `asset_sync.endings`, the one mapping the Lambda handlers use too, which
holds the exit codes. The README's exit-code table is checked against this, command by command.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click

from asset_sync import endings
from asset_sync.endings import Ending, by_exit_code, ending_of
from asset_sync.logic.outcome import SyncError


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
    ended = ending(error)
    code, message = ended.exit_code, ended.message
    if isinstance(error, SyncError):
        return Outcome(code, message, {**error.report.to_json(), "exit_code": code})
    found = error.found if isinstance(error, CommandFailed) else {}
    fields = {"outcome": ended.outcome, "message": message, "exit_code": code}
    return Outcome(code, message, {**found, **fields})


def ending(error: BaseException) -> Ending:
    """The CLI's endings first (usage, signals, a command's finding), then the one mapping."""
    if isinstance(error, CommandFailed):
        code = endings.EXIT_FAILED if error.cause is None else ending(error.cause).exit_code
        return by_exit_code(str(error), code)
    if isinstance(error, click.UsageError):
        where = f" (see `{error.ctx.command_path} --help`)" if error.ctx else ""
        message = f"usage error: {error.format_message().rstrip('.')}{where}"
        return by_exit_code(message, endings.EXIT_CONFIG)
    if isinstance(error, Stopped):
        code = endings.EXIT_SIGNALS.get(error.signal_name, endings.EXIT_FAILED)
        return by_exit_code(f"stopped ({error.signal_name})", code)
    if isinstance(error, KeyboardInterrupt | click.Abort):
        return by_exit_code("stopped (SIGINT)", endings.EXIT_SIGNALS["SIGINT"])
    return ending_of(error)


def exit_code_for(error: BaseException) -> int:
    """The documented exit code of a failure (the cause decides for a failed run)."""
    return ending(error).exit_code


def describe(error: BaseException) -> str:
    """One line for a failure, in the words an operator needs."""
    return ending(error).message

"""Terminal helpers shared by the CLI and the demo: progress on stderr, stopping on signals."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any, Protocol

import click

from asset_sync.logic.lifecycle import RunAborted, StopSignal
from asset_sync.logic.sync import Progress
from asset_sync.render import safe


class WritesInFlight(Protocol):
    """What a stop message asks of the run (`SyncRun`)."""

    def writes_in_flight(self) -> int: ...


def say(line: str) -> None:
    """One line on stderr from a signal handler: unbuffered, and never raising.

    The handler runs in the main thread wherever it is; an exception from it (EPIPE when the
    reader of stderr is gone, a reentrant call into stderr's buffer) would end the run there
    instead of letting it record what it wrote.
    """
    with suppress(OSError, ValueError):
        os.write(sys.stderr.fileno(), f"{line}\n".encode(errors="replace"))


@contextmanager
def stop_on_signals(stop: StopSignal, run: WritesInFlight | None = None) -> Iterator[None]:
    """Route SIGINT and SIGTERM to `stop` for the duration of the block.

    After a stop, further SIGINT/SIGTERM stay ignored when the block ends: the process is then
    reporting and exiting with the stop's code, and a late Ctrl-C must not kill it (exit -2).
    """

    def handle(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        in_flight = run.writes_in_flight() if run is not None else 0
        if stop.requested:
            say(f"asset-sync: still stopping, {in_flight} writes in flight")
            return
        stop.request(name)
        say(
            f"asset-sync: {name}: stopping; no new write starts, {in_flight} in flight finish, "
            "then the run is recorded"
        )
        if stop.abortable:
            raise RunAborted(name)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_IGN if stop.requested else handler)


def terminal_progress() -> Progress:
    """Stage lines and a write progress bar on stderr (it never goes backwards)."""
    bar: dict[str, Any] = {}

    def start(total: int) -> None:
        if total:
            bar["bar"] = click.progressbar(length=total, label="writing", file=sys.stderr)
            bar["bar"].__enter__()
            bar["done"] = 0

    def advance(done: int) -> None:
        if "bar" in bar and done > bar["done"]:  # threads report out of order
            bar["bar"].update(done - bar["done"])
            bar["done"] = done
            if done >= bar["bar"].length:
                bar.pop("bar").__exit__(None, None, None)

    return Progress(
        stage=lambda message: click.echo(f"... {safe(message)}", err=True),
        start_writes=start,
        advance=advance,
    )

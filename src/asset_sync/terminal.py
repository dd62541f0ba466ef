"""Terminal helpers shared by the CLI and the demo: progress on stderr, stopping on signals."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
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
def stop_on_signals(
    stop: StopSignal,
    run: WritesInFlight | None = None,
    before_message: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Route SIGINT and SIGTERM to `stop` for the duration of the block.

    `before_message` runs before each stop line (a progress bar ends its line there). After a
    stop, further SIGINT/SIGTERM stay ignored when the block ends: the process is then
    reporting and exiting with the stop's code, and a late Ctrl-C must not kill it (exit -2).
    """

    def handle(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        in_flight = run.writes_in_flight() if run is not None else 0
        if before_message is not None:
            with suppress(Exception):  # a terminal that went away must not break the stop
                before_message()
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


class TerminalProgress:
    """Stage lines and a write progress bar on stderr (it never goes backwards).

    Writer threads advance the bar; `close` ends it where it is (its line finished, the cursor
    shown again) and no bar is drawn after that, so a stop line starts on a line of its own and
    the bar never counts items that were not written.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()  # RLock: `close` may run in a signal handler
        self._bar: Any = None
        self._done = 0
        self._closed = False

    def stage(self, message: str) -> None:
        """One `... message` line."""
        click.echo(f"... {safe(message)}", err=True)

    def start(self, total: int) -> None:
        """Show a bar for `total` writes."""
        with self._lock:
            if total and not self._closed:
                self._bar = click.progressbar(length=total, label="writing", file=sys.stderr)
                self._bar.__enter__()
                self._done = 0

    def advance(self, done: int) -> None:
        """`done` items settled so far (threads report out of order)."""
        with self._lock:
            bar = self._bar
            if bar is None or done <= self._done:
                return
            bar.update(done - self._done)
            self._done = done
            if done >= bar.length:
                self._end_bar()

    def close(self) -> None:
        """End the bar where it is; draw no more."""
        with self._lock:
            self._closed = True
            self._end_bar()

    def _end_bar(self) -> None:
        bar, self._bar = self._bar, None
        if bar is not None:
            bar.__exit__(None, None, None)

    @property
    def progress(self) -> Progress:
        """The hooks a run calls."""
        return Progress(stage=self.stage, start_writes=self.start, advance=self.advance)

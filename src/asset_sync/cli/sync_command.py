"""`asset-sync sync`: one run, with a terminal's progress and a clean stop on SIGINT/SIGTERM.

The first SIGINT (Ctrl-C) or SIGTERM asks the run to stop: while it only reads, it is abandoned
at once; once it writes, no new write starts, the writes in flight finish, and the run records
what it really wrote and gives the lease back before the process exits (130 / 143). A second
Ctrl-C only says how many writes are still in flight.
"""

from __future__ import annotations

import sys

import click

from asset_sync.cli.common import echo_json, load_settings, table_options
from asset_sync.logic.clock import deadline_after
from asset_sync.logic.lifecycle import StopSignal
from asset_sync.logic.sync import SyncError
from asset_sync.render import render_report
from asset_sync.terminal import TerminalProgress, stop_on_signals
from asset_sync.wiring import build_run


@click.command()
@table_options
@click.option("--dry-run", is_flag=True, help="Plan and report, write nothing.")
@click.option(
    "--full",
    is_flag=True,
    help="Full reconciliation: compare every stored owned value with the catalog and repair.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run report as one JSON object.")
@click.option(
    "--asset-class",
    "asset_classes",
    multiple=True,
    help="Fetch this asset class (repeatable; default us_equity, as Alpaca's API); only "
    "items of the fetched classes can be delisted.",
)
@click.option(
    "--max-delist-fraction",
    type=click.FloatRange(0.0, 1.0),
    help="Refuse a plan that delists more than this share of active assets (default 0.10).",
)
@click.option("--force", is_flag=True, help="Apply even if the guard refuses the plan.")
@click.option(
    "--deadline-seconds",
    type=click.FloatRange(min=1.0),
    help="Stop writing 30 s before this many seconds have passed, record the run, exit 1.",
)
def sync(
    table: str | None,
    endpoint_url: str | None,
    dry_run: bool,
    full: bool,
    as_json: bool,
    asset_classes: tuple[str, ...],
    max_delist_fraction: float | None,
    force: bool,
    deadline_seconds: float | None,
) -> None:
    """Run one sync: fetch the catalog, plan, apply, record the run."""
    settings = load_settings(
        table,
        endpoint_url,
        for_sync=True,
        dry_run=dry_run or None,
        full=full or None,
        force=force or None,
        asset_classes=asset_classes or None,
        max_delist_fraction=max_delist_fraction,
        deadline_seconds=deadline_seconds,
    )
    show_progress = not as_json and sys.stderr.isatty()
    stop = StopSignal(deadline_after(deadline_seconds))
    term = TerminalProgress() if show_progress else None
    run = build_run(settings, term.progress if term else None, stop)
    with stop_on_signals(stop, run, term.close if term else None):
        try:
            report, error = run.run(), None
        except SyncError as failed:  # the run's report says how far it got
            report, error = failed.report, failed
        finally:
            if term is not None:
                term.close()  # a stopped run's bar ends where the writes stopped
    if error is not None:
        if not as_json:
            click.echo(render_report(report))
        raise error  # its line, its exit code and (with --json) the report: cli.outcomes
    if as_json:
        echo_json(report.to_json())
    else:
        click.echo(render_report(report))

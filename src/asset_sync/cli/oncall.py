"""The on-call commands: `status` and `unlock` (read the state; clear a dead holder's lease)."""

from __future__ import annotations

import click

from asset_sync.cli.common import echo_json, load_settings, table_options
from asset_sync.cli.outcomes import CommandFailed
from asset_sync.contract import Outcome
from asset_sync.dal.run_state import StateView
from asset_sync.render import lines_to_text, render_counts
from asset_sync.wiring import tables


def render_status(view: StateView, settings_line: str) -> str:
    """The `status` text: last run, last success, last full reconciliation, the lease."""
    lines = [settings_line]
    last = view.last_run
    if last is None:
        lines.append("no sync has recorded a run yet")
    else:
        lines.append(
            f"last run: number {last.get('run_seq')}, started {last.get('last_sync_timestamp')}, "
            f"{last.get('outcome')} in {float(last.get('duration_seconds') or 0):.1f} s"
            + (" (full reconciliation)" if last.get("full") else "")
        )
        lines.append(f"  {render_counts(last)}")
        if last.get("message"):
            lines.append(f"  {last['message']}")
        for warning in last.get("warnings") or []:
            lines.append(f"  warning: {warning}")
    success = view.last_success
    lines.append(
        "last successful run: "
        + (
            f"number {success.get('run_seq')}, started {success.get('last_sync_timestamp')}"
            if success
            else "never"
        )
    )
    lines.append(
        "last full reconciliation: "
        + (
            f"{view.last_full_at} (run number {view.last_full_run_seq})"
            if view.last_full_at
            else "never"
        )
    )
    if view.lock_owner:
        lines.append(f"a sync holds the run lease: {view.describe_lock()}")
    return lines_to_text(lines)


@click.command()
@table_options
@click.option("--json", "as_json", is_flag=True, help="Print the state as one JSON object.")
def status(table: str | None, endpoint_url: str | None, as_json: bool) -> None:
    """Show the last run, the last success, the last full reconciliation and any lease holder."""
    settings = load_settings(table, endpoint_url)
    _, state = tables(settings)
    view = state.read()
    state.check_serves(view, settings.assets_table)  # another table's runs: exit 2
    if as_json:
        echo_json(
            {
                **view.to_json(),
                "assets_table": settings.assets_table,
                "state_table": settings.state_table,
                "region": settings.region,
                "endpoint": settings.dynamodb_endpoint_url or "AWS",
            }
        )
        return
    where = (
        f"{settings.assets_table} (state {settings.state_table}) in region "
        f"{settings.region} (from {settings.region_source}), "
        f"endpoint {settings.dynamodb_endpoint_url or 'AWS'}"
    )
    click.echo(render_status(view, where))


@click.command()
@table_options
@click.option("--force", is_flag=True, help="Clear the lease even though it has not expired.")
@click.option("--json", "as_json", is_flag=True, help="Print what was found and done as JSON.")
def unlock(table: str | None, endpoint_url: str | None, force: bool, as_json: bool) -> None:
    """Clear a run lease whose holder is dead: only once it expired, or with --force."""
    settings = load_settings(table, endpoint_url)
    _, state = tables(settings)
    state.check_serves(state.read(), settings.assets_table)  # never clear another's lease
    view, cleared = state.unlock(force=force)
    found = {"cleared": cleared, "lease": view.to_json()}
    if view.lock_owner is not None and not cleared:
        raise CommandFailed(
            f"not cleared: {view.describe_lock()}; it has not expired (wait, or use --force "
            "if you are sure its holder is dead: a live holder stops at its next lease "
            "check, and a newer run's writes win by run number)",
            found,
        )
    if view.lock_owner is None:
        message = "no sync holds the run lease; nothing to clear"
    else:
        message = f"cleared the run lease of {view.describe_lock()}"
    if as_json:
        echo_json({"outcome": Outcome.SUCCEEDED, "message": message, **found})
    else:
        click.echo(message)

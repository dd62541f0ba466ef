"""`asset-sync`: the command line over the same sync code path the Lambda runs.

See `asset_sync.endings` for the exit codes (one mapping for every command and both Lambdas;
`asset_sync.cli.outcomes` adds the CLI's usage errors and signals).
"""

from __future__ import annotations

import click

from asset_sync.cli.common import AssetSyncGroup, echo_json, load_settings, table_options
from asset_sync.cli.doctor import doctor
from asset_sync.cli.events_command import events
from asset_sync.cli.history_command import history, history_table, universe
from asset_sync.cli.oncall import status, unlock
from asset_sync.cli.outcomes import CommandFailed, Stopped
from asset_sync.cli.sync_command import sync
from asset_sync.cli.toolkit import show
from asset_sync.contract import Outcome
from asset_sync.dal.errors import TableSchemaError
from asset_sync.wiring import tables


@click.group(cls=AssetSyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="signal9-asset-sync")
def main() -> None:
    """Keep the signal9_assets DynamoDB table in step with Alpaca's asset catalog."""


main.add_command(sync)
main.add_command(status)
main.add_command(unlock)
main.add_command(history)
main.add_command(show)
main.add_command(doctor)
main.add_command(events)
main.add_command(universe)


@main.command("create-table")
@table_options
@click.option("--json", "as_json", is_flag=True, help="Print what was done as one JSON object.")
def create_table(table: str | None, endpoint_url: str | None, as_json: bool) -> None:
    """Create the assets table (key symbol, its indexes, stream), the run-state table and the
    history table; add the indexes an assets table made by an older version lacks."""
    settings = load_settings(table, endpoint_url)
    assets, state = tables(settings)
    versions = history_table(settings)
    done: dict[str, str] = {}
    problems: list[TableSchemaError] = []
    for name, create in (
        (settings.assets_table, assets.create),
        (settings.state_table, state.create),
        (versions.table_name, versions.create),
    ):
        try:
            done[name] = "created" if create() else "already exists"
            if name == settings.assets_table and assets.added_indexes:
                done[name] += f" (added {', '.join(assets.added_indexes)})"
        except TableSchemaError as problem:  # exists, but not as the sync needs it
            done[name] = "unusable"
            problems.append(problem)
        if not as_json:
            click.echo(f"{name}: {done[name]}")
    if problems:
        raise CommandFailed(str(problems[0]), {"tables": done}, cause=problems[0])
    if as_json:
        echo_json({"outcome": Outcome.SUCCEEDED, "tables": done})


@main.command()
@click.option(
    "--assets",
    "asset_count",
    default=2000,
    show_default=True,
    type=click.IntRange(min=10, max=200_000),
    help="Size of the generated catalog.",
)
@click.option("--seed", default=7, show_default=True, help="Catalog generator seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the demo (its 3 runs) as one object.")
def demo(asset_count: int, seed: int, as_json: bool) -> None:
    """Run the real sync end to end on loopback: moto's server and the Alpaca stand-in."""
    from asset_sync.local.demo import run_demo  # noqa: PLC0415 - needs the [local] extra

    result = run_demo(asset_count, seed, as_json=as_json, echo=click.echo)
    if result.stopped_by:
        message = (
            f"demo stopped ({result.stopped_by}); moto's server and the Alpaca stand-in were "
            "stopped"
        )
        raise CommandFailed(message, result.to_json(), cause=Stopped(result.stopped_by))
    if result.error is not None:
        raise CommandFailed(f"demo: {result.error}", result.to_json(), cause=result.error)
    if result.problems:
        message = f"demo: {len(result.problems)} checks failed: {result.problems[0]}"
        raise CommandFailed(message, result.to_json())
    if as_json:
        echo_json(result.to_json())


__all__ = ["main"]

"""`asset-sync`: the command line over the same sync code path the Lambda runs.

See `asset_sync.cli.common` for the exit codes.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from asset_sync.cli.common import EXIT_CONFIG, clear_errors, echo_json, load_settings, table_options
from asset_sync.cli.events_command import events
from asset_sync.cli.oncall import status, unlock
from asset_sync.cli.sync_command import sync
from asset_sync.cli.toolkit import doctor, history, show
from asset_sync.wiring import tables


class JsonUsageErrors(click.Group):
    """With `--json` among the arguments, a usage error is also one JSON object on stdout."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["json_output"] = "--json" in args
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            if ctx.meta.get("json_output"):
                message = f"usage error: {error.format_message()}"
                echo_json({"outcome": "failed", "message": message, "exit_code": EXIT_CONFIG})
            raise


@click.group(cls=JsonUsageErrors, context_settings={"help_option_names": ["-h", "--help"]})
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


@main.command("create-table")
@table_options
def create_table(table: str | None, endpoint_url: str | None) -> None:
    """Create the assets table (key symbol, GSI status-index, stream) and the run-state table."""
    with clear_errors():
        settings = load_settings(table, endpoint_url)
        assets, state = tables(settings)
        for name, created in (
            (settings.assets_table, assets.create()),
            (settings.state_table, state.create()),
        ):
            click.echo(f"{name}: {'created' if created else 'already exists'}")


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
@click.option("--json", "as_json", is_flag=True, help="Print the three run reports as JSON.")
def demo(asset_count: int, seed: int, as_json: bool) -> None:
    """Run the real sync end to end on loopback: moto's server and the Alpaca stand-in."""
    from asset_sync.local.demo import run_demo  # noqa: PLC0415 - needs the [local] extra

    with clear_errors():
        sys.exit(run_demo(asset_count, seed, as_json=as_json, echo=click.echo))


__all__ = ["main"]

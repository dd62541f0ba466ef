"""The on-call toolkit: `history` and `show SYMBOL` (`doctor` is in `cli.doctor`); none of them
writes anything."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import click

from asset_sync.cli.common import echo_json, load_settings, table_options
from asset_sync.cli.outcomes import CommandFailed
from asset_sync.dal.serialization import deserialize
from asset_sync.logic.models import OWNED_ATTRIBUTES, to_json_value
from asset_sync.render import lines_to_text, render_counts
from asset_sync.wiring import tables

MAX_KEY_BYTES = 2048  # DynamoDB's limit for a partition key value


def _symbol(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """SYMBOL as DynamoDB can look it up: not empty, at most 2048 bytes of UTF-8."""
    if not value:
        raise click.BadParameter("must not be empty (a ticker such as AAPL or BTC/USD)")
    if len(value.encode(errors="surrogatepass")) > MAX_KEY_BYTES:
        raise click.BadParameter(f"is longer than DynamoDB's {MAX_KEY_BYTES}-byte key limit")
    return value


@click.command()
@table_options
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print the runs as one JSON object.")
def history(table: str | None, endpoint_url: str | None, limit: int, as_json: bool) -> None:
    """The last runs, newest (highest run number) first, from the run-state table."""
    settings = load_settings(table, endpoint_url)
    _, state = tables(settings)
    state.check_serves(state.read(), settings.assets_table)  # another table's runs: exit 2
    runs = state.history(limit)
    if as_json:
        echo_json({"assets_table": settings.assets_table, "runs": runs})
        return
    if not runs:
        click.echo(f"no run of {settings.assets_table} is recorded yet")
        return
    header = f"{'run':>5}  {'started (UTC)':<20} {'seconds':>8}  {'outcome':<11} counts"
    lines = [header]
    for run in runs:
        started = str(run.get("last_sync_timestamp", ""))[:19].replace("T", " ")
        full = " (full)" if run.get("full") else ""
        lines.append(
            f"{run.get('run_seq', '?'):>5}  {started:<20} "
            f"{float(run.get('duration_seconds') or 0):>8.1f}  "
            f"{run.get('outcome')!s:<11} {render_counts(run)}{full}"
        )
        if run.get("message"):
            lines.append(f"{'':>7}{str(run['message'])[:160]}")
        lines.append(f"{'':>7}run id {run.get('run_id')}")
    click.echo(lines_to_text(lines))


@click.command()
@table_options
@click.argument("symbol", callback=_symbol)
@click.option("--json", "as_json", is_flag=True, help="Print the item as one JSON object.")
@click.option(
    "--history",
    "versions",
    is_flag=True,
    help="Every version of the asset(s) that held SYMBOL, oldest first (the history table).",
)
def show(
    table: str | None, endpoint_url: str | None, symbol: str, as_json: bool, versions: bool
) -> None:
    """One asset's item: every attribute, the sync's (marked) and other services'."""
    settings = load_settings(table, endpoint_url)
    if versions:
        from asset_sync.cli.history_command import show_history  # noqa: PLC0415 - a cycle

        show_history(settings, symbol, as_json)
        return
    assets, _ = tables(settings)
    raw = assets.get_raw_item(symbol)
    if raw is None:
        raise CommandFailed(
            f"no item for symbol {symbol!r} in {settings.assets_table}",
            {"symbol": symbol, "found": False},
        )
    attributes = {
        name: {
            "value": _plain(deserialize(value)),
            "type": next(iter(value)),
            "owner": "sync" if name in OWNED_ATTRIBUTES else "other",
        }
        for name, value in sorted(raw.items())
    }
    if as_json:
        echo_json({"symbol": symbol, "found": True, "attributes": attributes})
        return
    lines = [f"{symbol} in {settings.assets_table} (* = owned by the sync)"]
    width = max(len(name) for name in attributes)
    for name, attribute in attributes.items():
        mark = "*" if attribute["owner"] == "sync" else " "
        lines.append(f"{mark} {name:<{width}}  {attribute['type']:<4} {attribute['value']!r}")
    click.echo(lines_to_text(lines))


def _plain(value: Any) -> Any:
    """A value as JSON shows it: decimals as their exact text."""
    return format(value, "f") if isinstance(value, Decimal) else to_json_value(value)

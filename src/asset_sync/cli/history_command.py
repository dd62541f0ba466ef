"""The history commands: `history` (the recorded runs, as before) with `history backfill` and
`history replay`, `universe --as-of`, and `show SYMBOL --history` (docs/history.md).

The history table is HISTORY_TABLE, else the assets table's name plus `_history` (with
`--table` too). None of these reads Alpaca's settings.
"""

from __future__ import annotations

import os
from typing import Any

import click

from asset_sync.cli.common import echo_json, load_settings, table_options
from asset_sync.cli.history_views import (
    steps_text,
    universe_csv,
    universe_heading,
    universe_text,
)
from asset_sync.cli.outcomes import CommandFailed
from asset_sync.cli.toolkit import history as runs
from asset_sync.config import ConfigError, SyncSettings
from asset_sync.contract import Outcome
from asset_sync.dal.client import dynamodb_client
from asset_sync.dal.history import HistoryTable, history_table_for
from asset_sync.dal.stats import IoStats
from asset_sync.history.api import History
from asset_sync.history.backfill import backfill
from asset_sync.history.model import HistoryError, HistoryNotBegunError, Moment, parse_moment
from asset_sync.history.versions import now, timestamp, version_of_record
from asset_sync.render import lines_to_text
from asset_sync.wiring import tables


def history_table(settings: SyncSettings) -> HistoryTable:
    """The history table these settings name, with its own client and request counter."""
    name, source = history_table_for(settings.assets_table, os.environ)
    try:
        SyncSettings(assets_table=name).validate()
    except ConfigError:
        raise ConfigError(
            f"{name!r} (from {source}) is not a DynamoDB table name: 3 to 255 of a-z, A-Z, "
            "0-9, '_', '-' and '.'"
        ) from None
    client = dynamodb_client(settings.region, settings.dynamodb_endpoint_url)
    stats = IoStats()
    stats.attach(client)
    return HistoryTable(client, name, stats)


def not_begun(error: HistoryNotBegunError, found: dict[str, Any]) -> CommandFailed:
    """History cannot answer (not begun, or a moment before it began): exit 2, as a
    configuration nothing but another question or a backfill fixes."""
    return CommandFailed(str(error), found, cause=ConfigError(str(error)))


@click.group("history", invoke_without_command=True)
@table_options
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print the runs as one JSON object.")
@click.pass_context
def history(
    ctx: click.Context, table: str | None, endpoint_url: str | None, limit: int, as_json: bool
) -> None:
    """The recorded runs, newest first; `history backfill` and `history replay` keep the
    history of versions (`universe --as-of`, `show SYMBOL --history`)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(runs, table=table, endpoint_url=endpoint_url, limit=limit, as_json=as_json)


@history.command("backfill")
@table_options
@click.option("--json", "as_json", is_flag=True, help="Print what was done as one JSON object.")
def backfill_command(table: str | None, endpoint_url: str | None, as_json: bool) -> None:
    """Record one initial version for every asset in the assets table that history lacks, then
    where history begins (idempotent, resumable: run it again after a failure)."""
    settings = load_settings(table, endpoint_url)
    assets, _ = tables(settings)
    store = history_table(settings)
    started = timestamp(now())
    report = backfill(assets.client, settings.assets_table, store, started)
    found = {**report.to_json(), "write_requests": store.stats.writes}
    if as_json:
        echo_json({"outcome": Outcome.SUCCEEDED, **found})
        return
    since = "recorded now" if report.began_now else "recorded by an earlier backfill"
    click.echo(
        lines_to_text(
            [
                f"backfill of {report.assets_table} into {report.history_table}: "
                f"{report.items:,} items read, {report.assets:,} assets",
                f"  versions written {report.written:,}, already there {report.present:,} "
                f"({store.stats.writes:,} write requests)",
                f"history begins at {report.begins_at} ({since})",
            ]
        )
    )


@history.command("replay")
@table_options
@click.option("--dry-run", is_flag=True, help="Show what would be written; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as one JSON object.")
def replay_command(
    table: str | None, endpoint_url: str | None, dry_run: bool, as_json: bool
) -> None:
    """Write the versions of the stream records the history writer quarantined (with today's
    code), and forget each one written or that makes none."""
    settings = load_settings(table, endpoint_url)
    store = history_table(settings)
    items = []
    for kept in store.quarantined():
        try:
            version = version_of_record(kept.record)
            outcome = "no_version" if version is None else "written"
            if version is not None and not dry_run:
                store.put_versions([version])
            if not dry_run:
                store.release(kept.key)
            error = ""
        except Exception as failure:  # still unreadable, or refused: it stays
            outcome, error = "remains", f"{type(failure).__name__}: {failure}"
        items.append({"key": kept.key, "reason": kept.reason, "outcome": outcome, "error": error})
    remaining = [item for item in items if item["outcome"] == "remains"]
    summary = {
        "history_table": store.table_name,
        "dry_run": dry_run,
        "quarantined": len(items),
        "written": sum(item["outcome"] == "written" for item in items),
        "no_version": sum(item["outcome"] == "no_version" for item in items),
        "remaining": len(remaining),
        "items": items,
    }
    if not as_json or remaining:
        lines = [f"{'dry run: ' if dry_run else ''}quarantine of {store.table_name}"]
        lines += [f"  {i['outcome']:<10} {i['key']} [{i['reason']}] {i['error']}" for i in items]
        lines.append(
            f"{summary['written']} {'to write' if dry_run else 'written'}, "
            f"{summary['no_version']} make no version, {len(remaining)} remain"
        )
        if not as_json:
            click.echo(lines_to_text(lines))
    if remaining:
        shown = ", ".join(str(item["key"]) for item in remaining[:5])
        raise CommandFailed(f"{len(remaining)} quarantined records remain ({shown})", summary)
    if as_json:
        echo_json({"outcome": "dry_run" if dry_run else Outcome.SUCCEEDED, **summary})


def _moment(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Moment | None:
    if value is None:
        return None
    try:
        return parse_moment(value, now())
    except HistoryError as error:
        raise click.BadParameter(str(error)) from None


def _classes(
    _ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    if any(not c.strip() for c in value):
        raise click.BadParameter("an asset class may not be empty (e.g. us_equity, crypto)")
    return tuple(dict.fromkeys(value))


@click.command()
@table_options
@click.option(
    "--as-of",
    "moment",
    callback=_moment,
    metavar="DATE",
    help="YYYY-MM-DD (the end of that UTC day) or an ISO 8601 time with a zone; default: now.",
)
@click.option(
    "--asset-class",
    "asset_classes",
    multiple=True,
    callback=_classes,
    help="Only this asset class (repeatable).",
)
@click.option("--all-statuses", is_flag=True, help="Inactive (delisted) assets too.")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
def universe(
    table: str | None,
    endpoint_url: str | None,
    moment: Moment | None,
    asset_classes: tuple[str, ...],
    all_statuses: bool,
    output: str,
    as_json: bool,
) -> None:
    """Every asset as the table held it at the end of a day, with its ticker then (active
    ones unless --all-statuses), from the history table."""
    settings = load_settings(table, endpoint_url)
    reader = History(history_table(settings))
    moment = moment or parse_moment(timestamp(now()), now())
    begins_at = reader.begins_at()
    asked = {"as_of": moment.label, "history_table": reader.table.table_name}
    try:
        assets = reader.universe(moment, asset_classes=asset_classes, all_statuses=all_statuses)
    except HistoryNotBegunError as error:
        raise not_begun(error, {**asked, "history_begins_at": begins_at}) from error
    if as_json or output == "json":
        echo_json(
            {
                **asked,
                "until": moment.last_included,
                "history_begins_at": begins_at,
                "asset_classes": list(asset_classes),
                "all_statuses": all_statuses,
                "count": len(assets),
                "assets": [asset.to_json() for asset in assets],
            }
        )
    elif output == "csv":
        click.echo(universe_csv(assets))
    else:
        heading = universe_heading(settings.assets_table, moment, len(assets), begins_at)
        click.echo(universe_text(assets, heading))


def show_history(settings: SyncSettings, symbol: str, as_json: bool) -> None:
    """`show SYMBOL --history`: every version of the assets that held SYMBOL (or of the asset
    id SYMBOL), oldest first, with what changed."""
    reader = History(history_table(settings))
    found = reader.asset_history(symbol)
    where = {"symbol": symbol, "history_table": reader.table.table_name}
    if not found:
        begins_at = reader.begins_at()
        if begins_at is None:
            raise not_begun(HistoryNotBegunError(symbol, None), {**where, "found": False})
        raise CommandFailed(
            f"no version of {symbol!r} in {reader.table.table_name} (history begins "
            f"{begins_at}): no asset held this ticker since, and it is no asset id",
            {**where, "found": False},
        )
    if as_json:
        asset_ids = list(dict.fromkeys(step.version.asset_id for step in found))
        versions = [step.to_json() for step in found]
        echo_json({**where, "found": True, "asset_ids": asset_ids, "versions": versions})
        return
    click.echo(steps_text(symbol, reader.table.table_name, found))

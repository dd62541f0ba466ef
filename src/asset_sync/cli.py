"""`asset-sync`: the command line over the same sync code path the Lambda runs.

Exit codes: 0 success; 1 the sync failed or was partial; 2 bad usage or configuration;
3 the guard refused the plan (nothing written); 4 another sync holds the run lease.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from botocore.exceptions import BotoCoreError, ClientError

from asset_sync.alpaca.client import AlpacaError
from asset_sync.config import ConfigError, SyncSettings, settings_from_env
from asset_sync.dal.errors import TableMissingError
from asset_sync.dal.run_state import LockHeldError
from asset_sync.logic.report import RunReport
from asset_sync.logic.sync import GuardRefusedError, Progress, SyncError, report_from_state
from asset_sync.logic.validation import CatalogFormatError
from asset_sync.wiring import build_run, tables

EXIT_FAILED, EXIT_CONFIG, EXIT_REFUSED, EXIT_LOCKED = 1, 2, 3, 4
MAX_CHANGES_SHOWN = 25
F = TypeVar("F", bound=Callable[..., Any])


def table_options(command: F) -> F:
    """`--table` and `--endpoint-url`, shared by every command that reaches DynamoDB."""
    command = click.option(
        "--endpoint-url",
        help="DynamoDB endpoint (default: AWS_ENDPOINT_URL_DYNAMODB, else AWS).",
    )(command)
    return click.option(
        "--table", help="Assets table (default: ASSETS_TABLE, else signal9_assets)."
    )(command)


def load_settings(table: str | None, endpoint_url: str | None, **overrides: Any) -> SyncSettings:
    """Environment first, flags over it."""
    settings = settings_from_env()
    if table:
        overrides["assets_table"] = table
        overrides.setdefault("state_table", f"{table}_sync_state")
    return settings.with_overrides(dynamodb_endpoint_url=endpoint_url, **overrides)


@contextmanager
def clear_errors() -> Iterator[None]:
    """Turn known failures into one readable line on stderr and the documented exit code."""
    try:
        yield
    except ConfigError as error:
        _fail(f"configuration error: {error}", EXIT_CONFIG)
    except LockHeldError as error:
        _fail(str(error), EXIT_LOCKED)
    except TableMissingError as error:
        _fail(str(error), EXIT_FAILED)
    except (AlpacaError, CatalogFormatError) as error:
        _fail(f"fetching the catalog failed, nothing was written: {error}", EXIT_FAILED)
    except (ClientError, BotoCoreError) as error:
        _fail(f"DynamoDB error: {error}", EXIT_FAILED)


def _fail(message: str, code: int) -> None:
    click.secho(f"asset-sync: {message}", fg="red", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="signal9-asset-sync")
def main() -> None:
    """Keep the signal9_assets DynamoDB table in step with Alpaca's asset catalog."""


@main.command()
@table_options
@click.option("--dry-run", is_flag=True, help="Plan and report, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the run report as one JSON object.")
@click.option(
    "--asset-class",
    "asset_classes",
    multiple=True,
    help="Fetch only this asset class (repeatable); delisting is limited to these classes.",
)
@click.option(
    "--max-delist-fraction",
    type=click.FloatRange(0.0, 1.0),
    help="Refuse a plan that delists more than this share of active assets (default 0.10).",
)
@click.option("--force", is_flag=True, help="Apply even if the guard refuses the plan.")
def sync(
    table: str | None,
    endpoint_url: str | None,
    dry_run: bool,
    as_json: bool,
    asset_classes: tuple[str, ...],
    max_delist_fraction: float | None,
    force: bool,
) -> None:
    """Run one sync: fetch the catalog, plan, apply, record the run."""
    with clear_errors():
        settings = load_settings(
            table,
            endpoint_url,
            dry_run=dry_run or None,
            force=force or None,
            asset_classes=asset_classes or None,
            max_delist_fraction=max_delist_fraction,
        )
        report, code = execute(settings, show_progress=not as_json)
        if as_json:
            click.echo(json.dumps(report.to_json(), sort_keys=True))
        else:
            click.echo(render_report(report))
        sys.exit(code)


def execute(settings: SyncSettings, show_progress: bool = True) -> tuple[RunReport, int]:
    """Run one sync and map its outcome to an exit code (raises only for setup errors)."""
    progress = terminal_progress() if show_progress and sys.stderr.isatty() else None
    run = build_run(settings, progress)
    try:
        return run.run(), 0
    except GuardRefusedError as refused:
        return refused.report, EXIT_REFUSED
    except SyncError as failed:
        return failed.report, EXIT_FAILED


def terminal_progress() -> Progress:
    """Stage lines and a write progress bar on stderr."""
    bar: dict[str, Any] = {}

    def start(total: int) -> None:
        if total:
            bar["bar"] = click.progressbar(length=total, label="writing", file=sys.stderr)
            bar["bar"].__enter__()
            bar["done"] = 0

    def advance(done: int) -> None:
        if "bar" in bar:
            bar["bar"].update(done - bar["done"])
            bar["done"] = done
            if done >= bar["bar"].length:
                bar.pop("bar").__exit__(None, None, None)

    return Progress(
        stage=lambda message: click.echo(f"... {message}", err=True),
        start_writes=start,
        advance=advance,
    )


def render_report(report: RunReport) -> str:
    """A readable summary of a run."""
    lines = [
        f"sync {report.last_sync_timestamp} ({'dry run, ' if report.dry_run else ''}"
        f"run {report.run_id[:8]}): {report.outcome} in {report.duration_seconds:.1f} s",
        f"  fetched {report.fetched:,} records: {report.valid:,} valid, {report.invalid:,} "
        f"invalid, {len(report.duplicates):,} duplicate symbols",
        f"  {'would write' if report.dry_run else 'wrote'}: created {report.created:,}, "
        f"updated {report.updated:,}, reactivated {report.reactivated:,}, "
        f"delisted {report.delisted:,}; unchanged {report.unchanged:,}"
        + (f"; superseded {report.superseded:,}" if report.superseded else ""),
        f"  DynamoDB: {report.dynamodb_write_requests:,} write requests, "
        f"{report.dynamodb_requests:,} requests in all, {report.dynamodb_retries:,} retries",
    ]
    if report.message:
        lines.append(f"  {report.message}")
    created = sorted(s for s, c in report.changes.items() if c.action == "create")
    if created:
        more = f" (+{len(created) - 10:,} more)" if len(created) > 10 else ""
        lines.append(f"  created: {', '.join(created[:10])}{more}")
    changed = sorted(s for s, c in report.changes.items() if c.action != "create")
    if changed:
        lines.append(f"  changes ({len(changed):,}; first {MAX_CHANGES_SHOWN}):")
        for symbol in changed[:MAX_CHANGES_SHOWN]:
            change = report.changes[symbol].to_json()
            fields = change.get("fields", {})
            detail = ", ".join(
                f"{name}: {value['old']!r} -> {value['new']!r}"
                for name, value in (fields.items() if isinstance(fields, dict) else [])
            )
            lines.append(f"    {symbol:<12} {change['action']:<10} {detail}")
    for record in report.invalid_records[:10]:
        lines.append(f"  invalid record #{record.index} ({record.symbol}): {record.reason}")
    if report.duplicates:
        lines.append(
            f"  duplicate symbols (left as they were): {', '.join(report.duplicates[:20])}"
        )
    for symbol, failure in sorted(report.failures.items())[:10]:
        lines.append(f"  failed {symbol}: {failure}")
    return "\n".join(lines)


@main.command()
@table_options
@click.option("--json", "as_json", is_flag=True, help="Print the state as one JSON object.")
def status(table: str | None, endpoint_url: str | None, as_json: bool) -> None:
    """Show the last run's timestamp, outcome and counts."""
    with clear_errors():
        settings = load_settings(table, endpoint_url)
        _, state = tables(settings)
        view = report_from_state(state.read())
        if as_json:
            click.echo(json.dumps(view, sort_keys=True))
            return
        if not view["last_run"]:
            click.echo(f"no sync has run against {settings.assets_table} yet")
            return
        click.echo(f"last successful sync: {view['last_sync_timestamp'] or 'never'}")
        last = view["last_run"]
        click.echo(f"last run: {last.get('last_sync_timestamp')} {view['last_run_outcome']}")
        counts = ", ".join(
            f"{name} {last[name]:,}"
            for name in (
                "fetched",
                "created",
                "updated",
                "reactivated",
                "delisted",
                "unchanged",
                "invalid",
                "failed",
            )
            if name in last
        )
        click.echo(f"  {counts}")
        if last.get("message"):
            click.echo(f"  {last['message']}")
        if view["lock_owner"]:
            click.echo(
                f"a sync is running: {view['lock_owner']} "
                f"(lease until {view['lock_expires_at']}, unix time)"
            )


@main.command("create-table")
@table_options
def create_table(table: str | None, endpoint_url: str | None) -> None:
    """Create the assets table (key symbol, GSI status-index) and the run-state table."""
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
    help="Size of the generated catalog.",
)
@click.option("--seed", default=7, show_default=True, help="Catalog generator seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the three run reports as JSON.")
def demo(asset_count: int, seed: int, as_json: bool) -> None:
    """Run the real sync end to end on loopback: moto's server and the Alpaca stand-in."""
    from asset_sync.local.demo import run_demo  # noqa: PLC0415 - needs the [local] extra

    with clear_errors():
        sys.exit(run_demo(asset_count, seed, as_json=as_json, echo=click.echo))


if __name__ == "__main__":
    main()

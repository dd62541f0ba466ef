"""The on-call toolkit: `history`, `show SYMBOL` and `doctor` (none of them writes anything)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import click
from botocore.exceptions import BotoCoreError, ClientError

from asset_sync.alpaca.client import AlpacaAuthError, AlpacaError, AssetNotFoundError
from asset_sync.cli.common import clear_errors, echo_json, fail, load_settings, table_options
from asset_sync.config import SyncSettings
from asset_sync.dal.assets import STATUS_INDEX
from asset_sync.dal.errors import TableMissingError, error_code, raise_if_missing
from asset_sync.dal.serialization import deserialize
from asset_sync.logic.models import OWNED_ATTRIBUTES, to_json_value
from asset_sync.logic.sync import parse_timestamp
from asset_sync.render import lines_to_text, render_counts
from asset_sync.wiring import alpaca_client, tables

HEALTHY_AGE_HOURS = 26  # the no-successful-sync alarm's window


@click.command()
@table_options
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print the runs as one JSON object.")
def history(table: str | None, endpoint_url: str | None, limit: int, as_json: bool) -> None:
    """The last runs, newest (highest run number) first, from the run-state table."""
    with clear_errors(as_json):
        settings = load_settings(table, endpoint_url)
        _, state = tables(settings)
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
@click.argument("symbol")
@click.option("--json", "as_json", is_flag=True, help="Print the item as one JSON object.")
def show(table: str | None, endpoint_url: str | None, symbol: str, as_json: bool) -> None:
    """One asset's item: every attribute, the sync's (marked) and other services'."""
    with clear_errors(as_json):
        settings = load_settings(table, endpoint_url)
        assets, _ = tables(settings)
        try:
            response = assets.client.get_item(
                TableName=settings.assets_table, Key={"symbol": {"S": symbol}}, ConsistentRead=True
            )
        except ClientError as error:
            raise_if_missing(error, settings.assets_table)
            raise
        raw = response.get("Item")
        if raw is None:
            if as_json:
                echo_json({"symbol": symbol, "found": False})
            fail(f"no item for symbol {symbol!r} in {settings.assets_table}", 1)
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


@dataclass
class Check:
    """One doctor check: its name, whether it passed, what was found, and the fix."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


@click.command()
@table_options
@click.option("--json", "as_json", is_flag=True, help="Print the checks as one JSON object.")
def doctor(table: str | None, endpoint_url: str | None, as_json: bool) -> None:
    """Check the setup without writing anything: keys, Alpaca, both tables, the last run."""
    with clear_errors(as_json):
        settings = load_settings(table, endpoint_url)
        checks = run_checks(settings)
        if as_json:
            echo_json({"ok": all(c.ok for c in checks), "checks": [vars(c) for c in checks]})
        else:
            lines = [
                f"{settings.assets_table} / {settings.state_table} in region {settings.region} "
                f"(from {settings.region_source}), endpoint "
                f"{settings.dynamodb_endpoint_url or 'AWS'}; Alpaca {settings.alpaca_base_url}"
            ]
            for check in checks:
                lines.append(f"{'ok  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
                if not check.ok and check.fix:
                    lines.append(f"      fix: {check.fix}")
            click.echo(lines_to_text(lines))
        if not all(check.ok for check in checks):
            raise SystemExit(1)


def run_checks(settings: SyncSettings) -> list[Check]:
    """Every check, in order; each is independent of the others' results."""
    assets, state = tables(settings)
    describe = assets.client.describe_table
    checks = [_credentials(settings), _alpaca(settings)]
    checks.append(_guarded("assets table", lambda: _assets_table(settings, describe)))
    checks.append(_guarded("run-state table", lambda: _state_table(settings, describe, state)))
    checks.append(_guarded("last run", lambda: _last_run(state)))
    return checks


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    try:
        return check()
    except TableMissingError as missing:
        return Check(name, False, str(missing), "run `asset-sync create-table`")
    except (ClientError, BotoCoreError) as error:
        return Check(name, False, f"DynamoDB error: {error}", "check the region and credentials")


def _credentials(settings: SyncSettings) -> Check:
    if settings.credentials is None:
        return Check(
            "Alpaca keys",
            False,
            "APCA_API_KEY_ID / APCA_API_SECRET_KEY are not set",
            "export both (paper keys for the paper URL, live keys for the live URL)",
        )
    return Check("Alpaca keys", True, f"key id {settings.credentials.key_id} (secret set)")


def _alpaca(settings: SyncSettings) -> Check:
    name = "Alpaca"
    if settings.credentials is None:
        return Check(name, False, "not tried without keys", "set the keys first")
    client = alpaca_client(settings)
    try:
        client.get_asset("AAPL")  # one cheap call that needs the keys
    except AssetNotFoundError:
        pass  # reachable, and the keys were accepted
    except AlpacaAuthError:
        return Check(
            name,
            False,
            f"{settings.alpaca_base_url} rejected the keys (HTTP 401/403)",
            "check the keys, and that they match the URL (paper or live)",
        )
    except AlpacaError as error:
        return Check(name, False, f"not reachable: {error}", "check APCA_API_BASE_URL, network")
    return Check(name, True, f"{settings.alpaca_base_url} accepted the keys")


def _assets_table(settings: SyncSettings, describe: Any) -> Check:
    name = f"assets table {settings.assets_table}"
    found = _describe(describe, settings.assets_table)
    if found is None:
        return Check(name, False, "does not exist", "run `asset-sync create-table`")
    problems = []
    if [k["AttributeName"] for k in found.get("KeySchema", [])] != ["symbol"]:
        problems.append("its key is not `symbol`")
    indexes = {i["IndexName"]: i for i in found.get("GlobalSecondaryIndexes", [])}
    index = indexes.get(STATUS_INDEX)
    if index is None or [k["AttributeName"] for k in index["KeySchema"]] != ["status"]:
        problems.append(f"no GSI {STATUS_INDEX} on `status`")
    stream = found.get("StreamSpecification", {})
    if not stream.get("StreamEnabled") or stream.get("StreamViewType") != "NEW_AND_OLD_IMAGES":
        problems.append("no NEW_AND_OLD_IMAGES stream (the change events need it)")
    if problems:
        return Check(
            name, False, "; ".join(problems), "see docs/deploy.md (the stack's table definition)"
        )
    return Check(name, True, f"key symbol, GSI {STATUS_INDEX}, stream NEW_AND_OLD_IMAGES")


def _state_table(settings: SyncSettings, describe: Any, state: Any) -> Check:
    name = f"run-state table {settings.state_table}"
    if _describe(describe, settings.state_table) is None:
        return Check(name, False, "does not exist", "run `asset-sync create-table`")
    view = state.read()
    if view.assets_table not in (None, settings.assets_table):
        return Check(
            name,
            False,
            f"records the runs of {view.assets_table}, not {settings.assets_table}",
            f"set SYNC_STATE_TABLE to {settings.assets_table}_sync_state (or its state table)",
        )
    return Check(name, True, "exists")


def _last_run(state: Any) -> Check:
    view = state.read()
    last = view.last_run
    if view.lock_owner is not None and (view.lock_seconds_left() or 0) < 0:
        return Check(
            "last run",
            False,
            f"an expired lease is still recorded: {view.describe_lock()}",
            "`asset-sync unlock` (its holder is gone)",
        )
    if last is None:
        return Check("last run", False, "no sync has recorded a run", "run `asset-sync sync`")
    started = parse_timestamp(str(last.get("last_sync_timestamp", "")))
    age = (time.time() - started.timestamp()) / 3600 if started else float("inf")
    detail = f"number {last.get('run_seq')}, {last.get('outcome')}, {age:.1f} h ago"
    if last.get("outcome") != "succeeded":
        return Check("last run", False, detail, "see `asset-sync history` and the runbooks")
    if age > HEALTHY_AGE_HOURS:
        return Check("last run", False, detail, "is the schedule running? (docs/deploy.md)")
    return Check("last run", True, detail)


def _describe(describe: Any, name: str) -> dict[str, Any] | None:
    try:
        table: dict[str, Any] = describe(TableName=name)["Table"]
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise
    return table

"""`asset-sync doctor`: check the setup without writing anything.

Each check passes or fails with what it found and the fix: the keys, Alpaca answering the list
request as a sync makes it, both tables as `create-table` makes them (key, indexes, stream), the
state table serving this assets table, the last run's outcome and age. Exit 0 when every check
passes, 1 when one fails, 2 (refused, as `status` does) when the state table records another
assets table's runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import click
from botocore.exceptions import EndpointConnectionError

from asset_sync.alpaca.client import AlpacaAuthError, AlpacaEndpointError, AlpacaError
from asset_sync.cli.common import echo_json, load_settings, table_options
from asset_sync.cli.outcomes import CommandFailed
from asset_sync.config import LIVE_BASE_URL, PAPER_BASE_URL, SyncSettings
from asset_sync.contract import Outcome
from asset_sync.dal.assets import ASSETS_SPEC
from asset_sync.dal.errors import EndpointNotDynamoDBError, StateTableConflictError
from asset_sync.dal.run_state import RunStateTable
from asset_sync.endings import cause_of
from asset_sync.logic.catalog import fetch_catalog
from asset_sync.logic.clock import parse_timestamp
from asset_sync.logic.ports import StoreError
from asset_sync.logic.validation import CatalogFormatError
from asset_sync.render import lines_to_text
from asset_sync.wiring import alpaca_client, tables

HEALTHY_AGE_HOURS = 26  # the no-successful-sync alarm's window


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
    settings = load_settings(table, endpoint_url, alpaca=True)
    run = Checks(settings)
    checks = run.all()
    found = {"ok": all(c.ok for c in checks), "checks": [vars(c) for c in checks]}
    if not as_json:
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
    if run.refusal is not None:  # as `status` refuses it
        raise CommandFailed(str(run.refusal), found, cause=run.refusal)
    failed = [check.name for check in checks if not check.ok]
    if failed:
        raise CommandFailed(
            f"doctor: {len(failed)} of {len(checks)} checks failed ({', '.join(failed)})", found
        )
    if as_json:
        echo_json(found)


class Checks:
    """Every check, in order. A DynamoDB endpoint found unreachable (or not DynamoDB) leaves
    the later DynamoDB checks `not checked`, instead of waiting out each one's retries."""

    def __init__(self, settings: SyncSettings) -> None:
        self.settings = settings
        self.assets, self.state = tables(settings)
        self.refusal: StateTableConflictError | None = None
        self.dynamodb_down = ""
        self.state_ok = False

    def all(self) -> list[Check]:
        settings = self.settings
        return [
            _credentials(settings),
            _alpaca(settings),
            self._guarded(f"assets table {settings.assets_table}", self._assets_table),
            self._guarded(f"run-state table {settings.state_table}", self._state_table),
            self._guarded("last run", self._last_run),
        ]

    def _guarded(self, name: str, check: Callable[[str], Check]) -> Check:
        if self.dynamodb_down:
            return Check(name, False, f"not checked: {self.dynamodb_down}")
        try:
            return check(name)
        except StoreError as failed:  # the store's: judge by what the client said
            error = cause_of(failed)
        if isinstance(error, EndpointNotDynamoDBError):
            self.dynamodb_down = "the endpoint is not DynamoDB"
            return Check(name, False, str(error), "point --endpoint-url at DynamoDB")
        if isinstance(error, EndpointConnectionError):
            self.dynamodb_down = "DynamoDB cannot be reached"
            return Check(name, False, f"cannot reach DynamoDB ({error})", "check the endpoint")
        return Check(name, False, f"DynamoDB error: {error}", "check the region and credentials")

    def _assets_table(self, name: str) -> Check:
        found = self.assets.diagnose()
        if found is not None:
            return Check(name, False, found.problem, found.fix)
        indexes = ", ".join(f"index {index.name}" for index in ASSETS_SPEC.indexes)
        return Check(name, True, f"key symbol, {indexes}, stream NEW_AND_OLD_IMAGES")

    def _state_table(self, name: str) -> Check:
        found = self.state.diagnose()
        if found is not None:
            return Check(name, False, found.problem, found.fix)
        view = self.state.read()
        try:
            self.state.check_serves(view, self.settings.assets_table)
        except StateTableConflictError as conflict:
            self.refusal = conflict
            return Check(
                name,
                False,
                f"records the runs of {view.assets_table}, not {self.settings.assets_table}",
                f"set SYNC_STATE_TABLE to the state table of {self.settings.assets_table}",
            )
        self.state_ok = True
        return Check(name, True, "key pk, serves this assets table")

    def _last_run(self, name: str) -> Check:
        if not self.state_ok:
            return Check(name, False, "not checked: the run-state table is not usable")
        return _last_run(self.state)


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
    """The list request a sync makes first, decoded as a sync decodes it."""
    name, url = "Alpaca", settings.alpaca_base_url
    if settings.credentials is None:
        return Check(name, False, "not tried without keys", "set the keys first")
    client = alpaca_client(settings)
    root = f"APCA_API_BASE_URL must be Alpaca's API: {PAPER_BASE_URL} or {LIVE_BASE_URL}"
    try:
        fetched = fetch_catalog(client, settings.scope)
    except AlpacaAuthError:
        return Check(
            name,
            False,
            f"{url} rejected the keys (HTTP 401/403)",
            "check the keys, and that they match the URL (paper or live)",
        )
    except AlpacaEndpointError as error:
        return Check(name, False, str(error), root)
    except CatalogFormatError as error:
        return Check(name, False, f"{url} did not answer like Alpaca: {error}", root)
    except AlpacaError as error:
        return Check(name, False, f"not reachable: {error}", "check APCA_API_BASE_URL, network")
    finally:
        client.close()
    catalog = fetched.catalog
    return Check(
        name,
        True,
        f"{url} accepted the keys and listed {catalog.fetched:,} assets of "
        f"{', '.join(settings.scope)} ({len(catalog.assets):,} valid)",
    )


def _last_run(state: RunStateTable) -> Check:
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
    if last.get("outcome") != Outcome.SUCCEEDED:
        return Check("last run", False, detail, "see `asset-sync history` and the runbooks")
    if age > HEALTHY_AGE_HOURS:
        return Check("last run", False, detail, "is the schedule running? (docs/deploy.md)")
    return Check("last run", True, detail)

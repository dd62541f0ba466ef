"""The embedded local mode: the real sync, end to end, with no AWS account and no network.

moto's server (a child process, real HTTP) stands in for DynamoDB and the project's Alpaca
stand-in (real HTTP) for Alpaca. Day 1 loads the catalog, another service annotates a few items,
day 2 syncs an evolved catalog, and a re-run shows that an unchanged catalog writes no asset.

SIGINT (Ctrl-C) and SIGTERM stop it as they stop `asset-sync sync`: the current sync stops
writing, records itself, then both servers are stopped (moto's server process included) and the
demo exits 130 / 143. moto's server runs in a session of its own, so the Ctrl-C a terminal sends
to its whole foreground process group does not kill it under the sync that is recording itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asset_sync.config import AlpacaCredentials, SyncSettings
from asset_sync.contract import Outcome
from asset_sync.dal.assets import AssetTable
from asset_sync.local.catalog import evolve_catalog, generate_catalog
from asset_sync.local.demo_history import DemoHistory
from asset_sync.local.moto_server import LOCAL_CREDENTIALS, MotoServer
from asset_sync.local.stand_in import AlpacaStandIn
from asset_sync.local.stream import TableStream, describe_events
from asset_sync.logic.lifecycle import StopSignal
from asset_sync.logic.report import RunReport
from asset_sync.logic.sync import Progress, RunInterruptedError, SyncError, SyncRun
from asset_sync.render import render_report
from asset_sync.terminal import TerminalProgress, stop_on_signals
from asset_sync.wiring import build_run, tables

DEMO_KEY = AlpacaCredentials("DEMOKEY0001", "demo-secret-not-real")
FOREIGN = {"last_pollenation_date": "2026-11-28", "sector": "Technology"}


class _Runs:
    """The sync under way, for the "still stopping, N writes in flight" line."""

    def __init__(self, stop: StopSignal, progress: Progress | None) -> None:
        self.stop = stop
        self.progress = progress
        self.current: SyncRun | None = None

    def writes_in_flight(self) -> int:
        return self.current.writes_in_flight() if self.current else 0

    def sync(self, settings: SyncSettings, result: DemoResult) -> bool:
        """One sync, its report kept in `result`; False if it did not complete."""
        self.current = build_run(settings, self.progress, self.stop)
        try:
            result.reports.append(self.current.run())
        except RunInterruptedError as stopped:
            result.reports.append(stopped.report)
            if self.stop.requested:
                result.stopped_by = stopped.reason
            else:
                result.error = stopped
            return False
        except SyncError as failed:
            result.reports.append(failed.report)
            result.error = failed
            return False
        return True


@dataclass
class DemoResult:
    """What the demo did: each sync's report, the checks that failed, and why it ended early
    (`stopped_by` a signal's name, or the `error` of a sync that did not complete)."""

    reports: list[RunReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stopped_by: str = ""
    error: SyncError | None = None

    @property
    def ok(self) -> bool:
        """Every sync completed and every check passed."""
        return not (self.stopped_by or self.error or self.problems)

    def to_json(self) -> dict[str, Any]:
        """The demo as one JSON object: its outcome and the three run reports."""
        return {
            "outcome": Outcome.SUCCEEDED if self.ok else Outcome.FAILED,
            "exit_code": 0 if self.ok else 1,
            "runs": [report.to_json() for report in self.reports],
            "problems": self.problems,
        }


def run_demo(
    asset_count: int = 2000,
    seed: int = 7,
    *,
    as_json: bool = False,
    echo: Callable[[str], None] = print,
) -> DemoResult:
    """Run the three syncs and check their outcome (printed as it goes unless `as_json`)."""
    term = TerminalProgress() if not as_json and sys.stderr.isatty() else None
    stop = StopSignal()
    runs = _Runs(stop, term.progress if term else None)
    result = DemoResult()
    with stop_on_signals(stop, runs, term.close if term else None):
        _run(asset_count, seed, runs, result, as_json=as_json, echo=echo)
        if term is not None:
            term.close()
    cut_short = len(result.reports) < 3 and result.error is None  # between two syncs
    if stop.requested and cut_short and not result.stopped_by:
        result.stopped_by = stop.reason
    return result


def _run(
    asset_count: int,
    seed: int,
    runs: _Runs,
    result: DemoResult,
    *,
    as_json: bool,
    echo: Callable[[str], None],
) -> None:
    """The demo inside the signal handling; both servers stop when it returns or raises."""
    os.environ.update(LOCAL_CREDENTIALS)  # moto accepts any; never reach for real credentials
    catalog = generate_catalog(asset_count, seed)
    with (
        MotoServer() as moto,
        AlpacaStandIn(catalog, key_id=DEMO_KEY.key_id, secret_key=DEMO_KEY.secret_key) as alpaca,
    ):
        settings = SyncSettings(
            dynamodb_endpoint_url=moto.url,
            alpaca_base_url=alpaca.base_url,
            credentials=DEMO_KEY,
            # Alpaca returns only us_equity unless asked: the demo asks for every class it has
            asset_classes=tuple(sorted({str(a["class"]) for a in catalog})),
            delist_lookups_per_second=10.0,  # the stand-in has no rate limit (Alpaca's: 2/s)
        )
        assets, state = tables(settings)
        assets.create()
        state.create()
        stream = TableStream(settings.assets_table, moto.url)  # what both stream readers see
        history = DemoHistory.start(settings)  # the history writer, on the same records
        say = (lambda _text: None) if as_json else echo
        say(f"local DynamoDB (moto's server): {moto.url}; Alpaca stand-in: {alpaca.base_url}")

        if runs.stop.requested:
            return
        say(f"\n== day 1: initial load of {asset_count:,} assets")
        completed = runs.sync(settings, result)
        say(render_report(result.reports[-1]))
        say(history.day(stream.read_new(), describe_events))
        if not completed:
            return

        annotated = sorted(catalog, key=lambda a: str(a["symbol"]))[:3]
        for asset in annotated:  # another service adds its own attributes to the same items
            assets.client.update_item(
                TableName=settings.assets_table,
                Key={"symbol": {"S": str(asset["symbol"])}},
                UpdateExpression="SET last_pollenation_date = :d, sector = :s",
                ExpressionAttributeValues={
                    ":d": {"S": FOREIGN["last_pollenation_date"]},
                    ":s": {"S": sector_of(asset)},
                },
            )
        say(
            f"\n(another service sets {sorted(FOREIGN)} on "
            f"{', '.join(str(a['symbol']) for a in annotated)})"
        )

        catalog, changes = evolve_catalog(catalog, seed + 1)
        catalog, shift = _shift_tickers(catalog, annotated)
        alpaca.set_assets(catalog)
        say(
            f"\n== day 2: the catalog evolved: {len(changes.listed)} listed, "
            f"{len(changes.delisted)} delisted, {len(changes.changed)} changed, and a same-day "
            f"ticker shift (as Meta's on 2022-06-09): {shift[0]} -> {shift[1]} while "
            f"{shift[1]} -> {shift[2]}"
        )
        completed = runs.sync(settings, result)
        say(render_report(result.reports[-1]))
        say(history.day(stream.read_new(), describe_events))
        if not completed:
            return

        say("\n== day 2, run again: nothing changed, so no asset item is written")
        completed = runs.sync(settings, result)
        say(render_report(result.reports[-1]))
        say(history.day(stream.read_new(), describe_events))
        if not completed:
            return
        say(history.describe_difference())

        reports = result.reports
        result.problems = _check(reports, assets, annotated)
        result.problems += _check_shift(assets, *shift)
        result.problems += history.check(set(assets.read_active()))
    for problem in result.problems:
        say(f"demo check failed: {problem}")
    if not result.problems:
        say(
            "\nchecks: other services' attributes followed their assets (the shifted ones "
            "included, and stayed on the old item as history); the shift is two renames; the "
            "re-run wrote only the run record "
            f"({reports[2].dynamodb_write_requests} write requests: lease + run record); the "
            "universe as of now in the history is the table's active assets"
        )


def sector_of(asset: dict[str, object]) -> str:
    """The demo's foreign attribute: it names its asset, so the check can tell where it went."""
    return f"{FOREIGN['sector']} ({str(asset['id'])[:8]})"


def _shift_tickers(
    catalog: list[dict[str, object]], annotated: list[dict[str, object]]
) -> tuple[list[dict[str, object]], tuple[str, str, str]]:
    """The catalog with a same-day shift between two listed annotated assets: the first takes
    the second's ticker, the second moves to a new one (FB -> META while META -> METV)."""
    listed = {str(a["symbol"]) for a in catalog}
    first, second = [str(a["symbol"]) for a in annotated if a["symbol"] in listed][:2]
    new = next(f"{second}{s}" for s in ("V", "VV", "VVV") if f"{second}{s}" not in listed)
    moves = {first: second, second: new}
    shifted = [{**a, "symbol": moves.get(str(a["symbol"]), a["symbol"])} for a in catalog]
    return shifted, (first, second, new)


def _check_shift(assets: AssetTable, first: str, second: str, new: str) -> list[str]:
    """The shift is two renames: the links name the asset's real moves on every item."""
    items = {symbol: assets.get_item(symbol) or {} for symbol in (first, second, new)}
    linked = (
        items[first].get("renamed_to") == second
        and items[second].get("previous_symbol") == first
        and items[new].get("previous_symbol") == second
        and items[second].get("replaces_asset_id") == items[new].get("asset_id")
    )
    if not linked:
        return [f"the shift {first} -> {second} -> {new} was not recorded as two renames"]
    return []


def _check(
    reports: list[RunReport], assets: AssetTable, annotated: list[dict[str, object]]
) -> list[str]:
    """What the demo promises: foreign attributes kept, re-run writes no asset item."""
    problems = []
    rerun = reports[2]
    if rerun.created or rerun.updated or rerun.delisted or rerun.reactivated:
        problems.append("the re-run wrote asset items")
    if rerun.dynamodb_write_requests > 2:
        problems.append(f"the re-run made {rerun.dynamodb_write_requests} write requests")
    for asset in annotated:  # on the item that holds the asset now, wherever it moved
        symbols = assets.holders_of([str(asset["id"])]).get(str(asset["id"]), [])
        items = list(assets.get_items(symbols).values())
        home = next((i for i in items if i.get("status") == "active"), None) or next(
            (i for i in items if "renamed_to" not in i), {}
        )
        wanted = {**FOREIGN, "sector": sector_of(asset)}
        for name, value in wanted.items():
            if home.get(name) != value:
                problems.append(f"{asset['symbol']}: foreign attribute {name} did not follow it")
    return problems

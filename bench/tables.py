"""The results table of one N: every scenario, every implementation, one row per cell."""

from __future__ import annotations

from msgspec import UnsetType

from bench.records import Cell, Results, SizeFigures
from bench.scenarios import IMPL_TITLES, IMPLS, NO_PEER, SCENARIO_TITLES, SCENARIOS
from bench.text import mb, rcu_text, requests_text

HEADER = (
    "| scenario | implementation | wall s, median (runs) | DynamoDB requests by operation "
    "| write requests | WCU assets + GSI + run state = total | RCU (bytes read) "
    "| Alpaca GETs: list + lookups | peak RSS MB | CPU s (sync process) | moto server CPU s "
    "| foreign attrs survived | check |"
)
ALIGN = "|---|---|---|---|---:|---|---|---|---:|---:|---:|---|---|"
NO_PEER_ROW = "n/a: no such mode (they overwrite every item on every run; see 're-run, no change')"


def _foreign(entry: Cell) -> str:
    run = entry.runs[0]
    if isinstance(run.foreign_sample, int) and isinstance(run.foreign_survived, int):
        kept, total = run.foreign_survived, run.foreign_sample
        return f"{'yes' if kept == total else '**no**'} ({kept}/{total})"
    return "n/a (empty table)"


def _alpaca(entry: Cell) -> str:
    lists = entry.median("alpaca_lists")
    lookups = entry.median("alpaca_lookups")
    text = f"{lists:,.0f} + {lookups:,.0f}"
    confirm = entry.median_phase("confirm delistings")
    if lookups and confirm:
        text += f" ({confirm:.1f} s)"
    return text


def _wcu(entry: Cell) -> str:
    return (
        f"{entry.median('assets_wcu'):,.0f} + {entry.median('gsi_wcu'):,.0f} + "
        f"{entry.median('state_table_wcu'):,.0f} = {entry.median('wcu'):,.0f}"
    )


def _row(entry: Cell) -> str:
    walls = ", ".join(f"{run.wall_s:.1f}" for run in entry.runs)
    checks = sorted({run.check for run in entry.runs})
    return (
        f"| {SCENARIO_TITLES[entry.scenario]} | {IMPL_TITLES[entry.impl]} "
        f"| **{entry.median('wall_s'):.1f}** ({walls}) | {requests_text(entry)} "
        f"| {entry.median('write_requests'):,.0f} | {_wcu(entry)} "
        f"| {rcu_text(entry.median('rcu'))} ({mb(entry.median('response_bytes'))}) "
        f"| {_alpaca(entry)} | {entry.peak_rss():.0f} "
        f"| {entry.median('cpu_s'):.1f} | {entry.median('moto_cpu_s'):.1f} "
        f"| {_foreign(entry)} | {', '.join(checks)} |"
    )


def table_for(results: Results, n: int) -> list[str]:
    """The markdown table of one N."""
    lines = [HEADER, ALIGN]
    for scenario in SCENARIOS:
        if scenario in NO_PEER and results.cell(n, scenario, "asset_sync"):
            lines.append(
                f"| {SCENARIO_TITLES[scenario]} | (a), (b) | n/a: {NO_PEER[scenario]} "
                "| | | | | | | | | | |"
            )
        for impl in IMPLS:
            entry = results.cell(n, scenario, impl)
            if entry is not None:
                lines.append(_row(entry))
    return lines


def sizes_text(size: SizeFigures) -> str:
    """The item sizes sentence under an N's heading."""
    sizes = size.item_bytes
    under_1kb = max(sizes.asset_sync_max, sizes.naive_max) < 1024
    return (
        f" Item size by DynamoDB's rules: (c) mean {sizes.asset_sync_mean:.0f} B, largest "
        f"{sizes.asset_sync_max:.0f} B; (a)/(b) mean {sizes.naive_mean:.0f} B, largest "
        f"{sizes.naive_max:.0f} B"
        + (" (all under 1 KB: one write unit per item write)." if under_1kb else ".")
    )


def size_section(results: Results, n: int) -> list[str]:
    """The heading, the scenario sizes and the table of one N."""
    size = results.size(n)
    reassigned = ""
    if not isinstance(size.reassigned, UnsetType):
        reassigned = (
            f"; tickers reassigned: k = {size.reassigned.identity_changes} identity changes "
            f"writing {size.reassigned.identity_items} items"
        )
    return [
        f"## N = {n:,}",
        "",
        f"1% changed: k = {size.changed1.k:,} assets; 5% delisted: k = "
        f"{size.delisted5.k:,} assets{reassigned}.{sizes_text(size)}",
        "",
        *table_for(results, n),
        "",
    ]

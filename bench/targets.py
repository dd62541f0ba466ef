"""The measured promises and their verdicts: one check per promise, per N where it applies."""

from __future__ import annotations

from collections.abc import Callable

from msgspec import UnsetType

from bench.records import Results, Verdict
from bench.scenarios import (
    DELIST_CONFIRM_SAMPLE,
    DELIST_LOOKUPS_PER_SECOND,
    FULL_SCENARIOS,
    SCENARIO_TITLES,
)
from bench.text import mark, requests_text

RSS_LIMIT_MB = 200
PerSize = Callable[[Results, int], list[Verdict]]


def no_change_writes(results: Results, n: int) -> list[Verdict]:
    """An unchanged run makes exactly the run lease and the run record."""
    rerun = results.cell(n, "nochange", "asset_sync")
    if rerun is None:
        return []
    worst = rerun.most("write_requests")
    return [
        Verdict(
            target=f"no-change re-run <= 2 write requests (N={n:,})",
            met=worst <= 2,
            detail=f"{worst:.0f} write requests ({requests_text(rerun, writes_only=True)}: the "
            "run lease and the run record); asset items written: "
            f"{rerun.most('assets_table_item_writes'):.0f}; {rerun.median('wcu'):,.0f} WCU",
        )
    ]


def k_plus_two(results: Results, n: int) -> list[Verdict]:
    """k changed or delisted assets cost at most k + 2 write requests."""
    out = []
    for scenario, what in (("changed1", "changed"), ("delisted5", "delisted")):
        entry = results.cell(n, scenario, "asset_sync")
        if entry is None:
            continue
        k = results.size(n).scenario(scenario).k
        worst = entry.most("write_requests")
        out.append(
            Verdict(
                target=f"k {what} => <= k + 2 write requests (N={n:,}, k={k:,})",
                met=worst <= k + 2,
                detail=f"{worst:,.0f} write requests (k + 2 = {k + 2:,})",
            )
        )
    return out


def confirmation_lookups(results: Results, n: int) -> list[Verdict]:
    """Delisting candidates are confirmed with a bounded, paced sample of lookups."""
    delisted = results.cell(n, "delisted5", "asset_sync")
    if delisted is None:
        return []
    most = delisted.most("alpaca_lookups")
    reported = max(run.count("delist_lookups") for run in delisted.runs)
    paced = all(
        run.phase_durations().get("confirm delistings", 0.0)
        >= (run.alpaca_lookups - 1) / DELIST_LOOKUPS_PER_SECOND - 0.05
        for run in delisted.runs
    )
    confirm = delisted.median_phase("confirm delistings")
    return [
        Verdict(
            target=f"5% delisted: <= {DELIST_CONFIRM_SAMPLE} confirmation lookups, at most "
            f"{DELIST_LOOKUPS_PER_SECOND:g}/s (N={n:,})",
            met=most <= DELIST_CONFIRM_SAMPLE and reported == most and paced,
            detail=f"{most:.0f} lookups counted by the stand-in ({reported} in the run report) "
            f"for {results.size(n).delisted5.k:,} candidates, in {confirm:.1f} s "
            f"({(most - 1) / confirm if confirm else 0.0:.2f}/s after the first)",
        )
    ]


def reassignments(results: Results, n: int) -> list[Verdict]:
    """Issue 19: k identity changes cost k + 2 write requests, one TransactWriteItems each at
    2 write units per item, and every foreign attribute ends on its own asset's item."""
    entry = results.cell(n, "reassigned", "asset_sync")
    size = results.size(n).reassigned
    if entry is None or isinstance(size, UnsetType):
        return []
    k, items = int(size.identity_changes or 0), int(size.identity_items or 0)
    worst = entry.most("write_requests")
    transactions = {run.requests.get("TransactWriteItems", 0) for run in entry.runs}
    table_units = entry.most("assets_wcu")
    kept = [(run.foreign_survived, run.foreign_sample) for run in entry.runs]
    return [
        Verdict(
            target=f"k identity changes => <= k + 2 write requests, one TransactWriteItems each "
            f"(N={n:,}, k={k:,})",
            met=worst <= k + 2 and transactions == {k + 1},
            detail=f"{worst:,.0f} write requests (k + 2 = {k + 2:,}): "
            f"{requests_text(entry, writes_only=True)} (the k identity changes and the run "
            "record; the run lease)",
        ),
        Verdict(
            target="k identity changes => 2 write units per item written on the assets table "
            f"(N={n:,}, k={k:,}, {items:,} items)",
            met=table_units <= 2 * items,
            detail=f"{table_units:,.0f} WCU on the table for {items:,} items "
            f"({table_units / items if items else 0.0:.2f} per item); on its indexes "
            f"{entry.median('gsi_wcu'):,.0f} more",
        ),
        Verdict(
            target=f"tickers reassigned: other services' attributes follow their asset (N={n:,})",
            met=all(isinstance(a, int) and a == b for a, b in kept),
            detail=f"{kept[0][0]} of {kept[0][1]} on the item of their asset (and none on the "
            "items a new asset took over)",
        ),
    ]


def full_reconciliation(results: Results, n: int) -> list[Verdict]:
    """A full run of an unchanged table writes as a plain one; k drifted items, k repairs."""
    out = []
    full = results.cell(n, "fullnochange", "asset_sync")
    if full is not None:
        writes = {run.write_requests for run in full.runs}
        items = full.most("assets_table_item_writes")
        ok_checks = all(run.check == "ok" for run in full.runs)
        out.append(
            Verdict(
                target="full reconciliation of an unchanged table: exactly 2 write requests "
                f"(N={n:,})",
                met=writes == {2} and items == 0 and ok_checks,
                detail=f"{max(writes)} write requests ({requests_text(full, writes_only=True)}), "
                f"as a plain run; asset items written: {items:.0f}; "
                f"{full.median('wcu'):,.0f} WCU",
            )
        )
    drift = results.cell(n, "fulldrift", "asset_sync")
    if drift is not None:
        k = results.size(n).fulldrift.k
        worst = drift.most("write_requests")
        repaired = min(run.count("repaired") for run in drift.runs)
        out.append(
            Verdict(
                target="full reconciliation, k items edited by hand => k repaired, k + 2 write "
                f"requests (N={n:,}, k={k:,})",
                met=worst == k + 2 and repaired == k,
                detail=f"{repaired:,} repaired, {worst:,.0f} write requests (k + 2 = {k + 2:,})",
            )
        )
    return out


def faster_than_peers(results: Results, n: int) -> list[Verdict]:
    """The daily (unchanged) run against the naive peers' daily rewrite."""
    rerun = results.cell(n, "nochange", "asset_sync")
    a = results.cell(n, "nochange", "naive_put")
    b = results.cell(n, "nochange", "batch_writer")
    if rerun is None or a is None or b is None:
        return []
    c_wall, a_wall, b_wall = rerun.median("wall_s"), a.median("wall_s"), b.median("wall_s")
    c_cpu, a_cpu, b_cpu = rerun.median_cpu_both(), a.median_cpu_both(), b.median_cpu_both()
    c_own, a_own = rerun.median("cpu_s"), a.median("cpu_s")
    return [
        Verdict(
            target=f"no-change re-run faster than (b) (N={n:,})",
            met=c_wall < b_wall,
            detail=f"(c) {c_wall:.1f} s vs (b) {b_wall:.1f} s: {b_wall / c_wall:.2f}x; CPU of "
            f"the sync process + moto's server: {c_cpu:.1f} s vs {b_cpu:.1f} s: "
            f"{b_cpu / c_cpu:.1f}x",
        ),
        Verdict(
            target=f"no-change re-run >= 5x faster than (a) (N={n:,})",
            met=a_wall >= 5 * c_wall,
            detail=f"(c) {c_wall:.1f} s vs (a) {a_wall:.1f} s: {a_wall / c_wall:.2f}x; CPU of "
            f"the sync process + moto's server: {c_cpu:.1f} s vs {a_cpu:.1f} s: "
            f"{a_cpu / c_cpu:.1f}x; of the sync process alone: {c_own:.1f} s vs {a_own:.1f} s: "
            f"{a_own / c_own:.0f}x",
        ),
    ]


def initial_load(results: Results, n: int) -> list[Verdict]:
    """Creates are conditional, and the load costs no more than 1.5 times (a)'s."""
    init_c = results.cell(n, "initial", "asset_sync")
    init_a = results.cell(n, "initial", "naive_put")
    init_b = results.cell(n, "initial", "batch_writer")
    if init_c is None or init_a is None or init_b is None:
        return []
    conditional = min(run.conditional_puts for run in init_c.runs)
    puts = max(run.requests.get("PutItem", 0) for run in init_c.runs)
    c_wall, a_wall, b_wall = (
        init_c.median("wall_s"),
        init_a.median("wall_s"),
        init_b.median("wall_s"),
    )
    return [
        Verdict(
            target=f"initial load: creates are conditional (N={n:,})",
            met=conditional >= puts > 0,
            detail=f"{conditional:,} of {puts:,} PutItem carry `attribute_not_exists(symbol)`",
        ),
        Verdict(
            target=f"initial load <= 1.5x (a)'s wall time (N={n:,})",
            met=c_wall <= 1.5 * a_wall,
            detail=f"(c) {c_wall:.1f} s vs (a) {a_wall:.1f} s: {c_wall / a_wall:.2f}x; "
            f"vs (b) {b_wall:.1f} s: {c_wall / b_wall:.2f}x (see below)",
        ),
    ]


PER_SIZE: tuple[PerSize, ...] = (
    no_change_writes,
    k_plus_two,
    confirmation_lookups,
    reassignments,
    full_reconciliation,
    faster_than_peers,
    initial_load,
)


def peak_rss(results: Results) -> list[Verdict]:
    """The biggest N's peak RSS, plain runs and full reconciliations apart."""
    biggest = max(results.sizes)
    out = []
    for kind, is_full in (("plain", False), ("full reconciliation", True)):
        peaks = {
            entry.scenario: entry.peak_rss()
            for entry in results.cells
            if entry.impl == "asset_sync"
            and entry.n == biggest
            and (entry.scenario in FULL_SCENARIOS) == is_full
        }
        if not peaks:
            continue
        worst = max(peaks, key=lambda name: peaks[name])
        out.append(
            Verdict(
                target=f"peak RSS of a {biggest:,}-asset sync <= {RSS_LIMIT_MB} MB ({kind} runs)"
                + (": the plain runs' bound, applied to the full runs too" if is_full else ""),
                met=peaks[worst] <= RSS_LIMIT_MB,
                detail=f"max {peaks[worst]:.0f} MB over every (c) {kind} run at N={biggest:,} "
                f"({SCENARIO_TITLES[worst]})",
            )
        )
    return out


def import_time(results: Results) -> list[Verdict]:
    """The handler's import time is measured and shown."""
    imports = results.import_time
    if isinstance(imports, UnsetType):
        return []
    fresh, bare = imports.fresh_interpreter_ms_median, imports.bare_interpreter_ms_median
    return [
        Verdict(
            target="handler import time reported",
            met=True,
            detail=f"`-X importtime` cumulative {imports.importtime_ms_median:.0f} ms; fresh "
            f"interpreter {fresh:.0f} ms minus {bare:.0f} ms bare = {fresh - bare:.0f} ms "
            "(medians of 5)",
        )
    ]


def evaluate(results: Results) -> list[Verdict]:
    """Every target's verdict: per N in order, then the biggest N's memory, then imports."""
    verdicts = [v for n in results.sizes for check in PER_SIZE for v in check(results, n)]
    return verdicts + peak_rss(results) + import_time(results)


def section(verdicts: list[Verdict]) -> list[str]:
    """The targets section of the report."""
    rows = [f"| {v.target} | {mark(v.met)} | {v.detail} |" for v in verdicts]
    return ["## Targets", "", "| target | verdict | measured |", "|---|---|---|", *rows, ""]

"""docs/benchmarks.md and its plot, from the raw results of `bench.run`."""

from __future__ import annotations

import itertools
import json
import math
import statistics
import textwrap
from pathlib import Path
from typing import Any

from asset_sync.local.dynamo_proxy import WRITE_OPERATIONS
from bench.cells import (
    DELIST_CONFIRM_SAMPLE,
    DELIST_LOOKUPS_PER_SECOND,
    FULL_ONLY,
    IMPL_TITLES,
    IMPLS,
    SCENARIO_TITLES,
    SCENARIOS,
)

PACE = 500.0  # SyncSettings.max_writes_per_second default
GSI_PARTITION_CAP = 1000.0  # write units per second on one index partition
_CDK_CONTEXT = json.loads((Path(__file__).resolve().parents[1] / "cdk.json").read_text())["context"]
# the prod stage's Lambda settings (cdk.json `context.stages.prod`, infra/settings.py StageSettings)
_PROD_STAGE = _CDK_CONTEXT["stages"]["prod"]
LAMBDA_MEMORY_MB = int(_PROD_STAGE["memory_mb"])
LAMBDA_TIMEOUT_S = int(_PROD_STAGE["timeout_seconds"])
VCPU_MB = 1769  # Lambda allocates one full vCPU at 1,769 MB, proportionally below
OPS = (
    "GetItem",
    "BatchGetItem",
    "Query",
    "Scan",
    "PutItem",
    "UpdateItem",
    "BatchWriteItem",
    "TransactWriteItems",
)
OP_SHORT = {
    "GetItem": "Get",
    "BatchGetItem": "BatchGet",
    "Query": "Query",
    "Scan": "Scan",
    "PutItem": "Put",
    "UpdateItem": "Update",
    "BatchWriteItem": "BatchWrite",
    "TransactWriteItems": "TransactWrite",
}
HISTORY_KEEP = 400  # asset_sync.dal.run_state.HISTORY_KEEP: from run 401 on, one Delete more


def cell(results: dict[str, Any], n: int, scenario: str, impl: str) -> dict[str, Any] | None:
    """The raw cell, if measured."""
    for entry in results["cells"]:
        if entry["n"] == n and entry["scenario"] == scenario and entry["impl"] == impl:
            found: dict[str, Any] = entry
            return found
    return None


def med(entry: dict[str, Any], key: str) -> float:
    """Median of a per-run figure."""
    return float(statistics.median(run[key] for run in entry["runs"]))


def _requests(entry: dict[str, Any], writes_only: bool = False, reads_only: bool = False) -> str:
    runs = entry["runs"]
    names = sorted({op for run in runs for op in run["requests"]}, key=_op_order)
    if writes_only or reads_only:
        names = [op for op in names if (op in WRITE_OPERATIONS) == writes_only]
    parts = []
    for op in names:
        value = statistics.median(run["requests"].get(op, 0) for run in runs)
        parts.append(f"{OP_SHORT.get(op, op)} {value:,.0f}")
    return ", ".join(parts)


def _op_order(op: str) -> int:
    return OPS.index(op) if op in OPS else len(OPS)


def _foreign(entry: dict[str, Any]) -> str:
    run = entry["runs"][0]
    if "foreign_sample" not in run:
        return "n/a (empty table)"
    kept, total = run["foreign_survived"], run["foreign_sample"]
    verdict = "yes" if kept == total else "**no**"
    return f"{verdict} ({kept}/{total})"


def _rcu(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _mb(value: float) -> str:
    return f"{value / 1e6:.1f} MB" if value >= 1e5 else f"{value / 1e3:.0f} kB"


def phase_durations(run: dict[str, Any]) -> dict[str, float]:
    """Seconds per phase of one (c) run, from its stage timestamps (`bench.worker.PHASES`)."""
    phases = run.get("phases") or []
    out: dict[str, float] = {}
    for (name, start), (_, end) in itertools.pairwise(phases):
        out[name] = out.get(name, 0.0) + end - start
    return out


def med_phase(entry: dict[str, Any], phase: str) -> float:
    """Median duration of one phase over a cell's runs (0 when the runs have none)."""
    return float(statistics.median(phase_durations(run).get(phase, 0.0) for run in entry["runs"]))


def _alpaca(entry: dict[str, Any]) -> str:
    runs = entry["runs"]
    if "alpaca_lists" not in runs[0]:
        return "n/a"
    lists = statistics.median(run["alpaca_lists"] for run in runs)
    lookups = statistics.median(run["alpaca_lookups"] for run in runs)
    text = f"{lists:,.0f} + {lookups:,.0f}"
    confirm = med_phase(entry, "confirm delistings")
    if lookups and confirm:
        text += f" ({confirm:.1f} s)"
    return text


def _wcu(entry: dict[str, Any]) -> str:
    if "assets_wcu" not in entry["runs"][0]:
        return (
            f"{med(entry, 'base_wcu'):,.0f} + {med(entry, 'gsi_wcu'):,.0f} = "
            f"{med(entry, 'wcu'):,.0f}"
        )
    return (
        f"{med(entry, 'assets_wcu'):,.0f} + {med(entry, 'gsi_wcu'):,.0f} + "
        f"{med(entry, 'state_table_wcu'):,.0f} = {med(entry, 'wcu'):,.0f}"
    )


def _reads(entry: dict[str, Any]) -> str:
    if "rcu" not in entry["runs"][0]:
        return f"n/a ({_mb(med(entry, 'response_bytes'))})"
    return f"{_rcu(med(entry, 'rcu'))} ({_mb(med(entry, 'response_bytes'))})"


TABLE_HEADER = (
    "| scenario | implementation | wall s, median (runs) | DynamoDB requests by operation "
    "| write requests | WCU assets + GSI + run state = total | RCU (bytes read) "
    "| Alpaca GETs: list + lookups | peak RSS MB | CPU s (sync process) | moto server CPU s "
    "| foreign attrs survived | check |"
)


def table_for(results: dict[str, Any], n: int) -> list[str]:
    """The markdown table of one N."""
    lines = [TABLE_HEADER, "|---|---|---|---|---:|---|---|---|---:|---:|---:|---|---|"]
    for scenario in SCENARIOS:
        if scenario in FULL_ONLY and cell(results, n, scenario, "asset_sync"):
            lines.append(
                f"| {SCENARIO_TITLES[scenario]} | (a), (b) | n/a: no such mode (they overwrite "
                "every item on every run; see 're-run, no change') | | | | | | | | | | |"
            )
        for impl in IMPLS:
            entry = cell(results, n, scenario, impl)
            if entry is None:
                continue
            walls = ", ".join(f"{run['wall_s']:.1f}" for run in entry["runs"])
            checks = {run["check"] for run in entry["runs"]}
            lines.append(
                f"| {SCENARIO_TITLES[scenario]} | {IMPL_TITLES[impl]} "
                f"| **{med(entry, 'wall_s'):.1f}** ({walls}) | {_requests(entry)} "
                f"| {med(entry, 'write_requests'):,.0f} | {_wcu(entry)} | {_reads(entry)} "
                f"| {_alpaca(entry)} "
                f"| {max(run['peak_rss_mb'] for run in entry['runs']):.0f} "
                f"| {med(entry, 'cpu_s'):.1f} | {med(entry, 'moto_cpu_s'):.1f} "
                f"| {_foreign(entry)} | {', '.join(sorted(checks))} |"
            )
    return lines


def _load(results: dict[str, Any]) -> str:
    loads = [run.get("load1", 0.0) for entry in results["cells"] for run in entry["runs"]]
    if not loads:
        return "n/a"
    return f"min {min(loads):.1f}, median {statistics.median(loads):.1f}, max {max(loads):.1f}"


def _sizes(scen: dict[str, Any]) -> str:
    sizes = scen.get("item_bytes")
    if not sizes:
        return ""
    return (
        f" Item size by DynamoDB's rules: (c) mean {sizes['asset_sync_mean']:.0f} B, largest "
        f"{sizes['asset_sync_max']:.0f} B; (a)/(b) mean {sizes['naive_mean']:.0f} B, largest "
        f"{sizes['naive_max']:.0f} B"
        + (
            " (all under 1 KB: one write unit per item write)."
            if max(sizes["asset_sync_max"], sizes["naive_max"]) < 1024
            else "."
        )
    )


def _both_cpu(entry: dict[str, Any]) -> float:
    """Median CPU time of the sync process plus moto's server over a cell's runs: what the
    run costs the machine, much less sensitive to other load than its wall time."""
    return float(statistics.median(run["cpu_s"] + run["moto_cpu_s"] for run in entry["runs"]))


def _mark(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def targets(results: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """The targets section, and a machine-readable list of verdicts."""
    lines: list[str] = []
    verdicts: list[dict[str, Any]] = []

    def add(name: str, ok: bool, detail: str) -> None:
        verdicts.append({"target": name, "met": ok, "detail": detail})
        lines.append(f"| {name} | {_mark(ok)} | {detail} |")

    lines += ["| target | verdict | measured |", "|---|---|---|"]
    sizes = results["sizes"]
    for n in sizes:
        scen = results["scenarios"][str(n)]
        rerun = cell(results, n, "nochange", "asset_sync")
        if rerun:
            worst = max(run["write_requests"] for run in rerun["runs"])
            add(
                f"no-change re-run <= 2 write requests (N={n:,})",
                worst <= 2,
                f"{worst} write requests ({_requests(rerun, writes_only=True)}: the run lease "
                "and the run record); asset items written: "
                f"{max(run['assets_table_item_writes'] for run in rerun['runs'])}; "
                f"{med(rerun, 'wcu'):,.0f} WCU",
            )
        for scenario, what in (("changed1", "changed"), ("delisted5", "delisted")):
            entry = cell(results, n, scenario, "asset_sync")
            if entry:
                k = scen[scenario]["k"]
                worst = max(run["write_requests"] for run in entry["runs"])
                add(
                    f"k {what} => <= k + 2 write requests (N={n:,}, k={k:,})",
                    worst <= k + 2,
                    f"{worst:,} write requests (k + 2 = {k + 2:,})",
                )
        delisted = cell(results, n, "delisted5", "asset_sync")
        if delisted and "alpaca_lookups" in delisted["runs"][0]:
            most = max(run["alpaca_lookups"] for run in delisted["runs"])
            reported = max(run["result"].get("delist_lookups", 0) for run in delisted["runs"])
            paced = all(
                phase_durations(run).get("confirm delistings", 0.0)
                >= (run["alpaca_lookups"] - 1) / DELIST_LOOKUPS_PER_SECOND - 0.05
                for run in delisted["runs"]
            )
            confirm = med_phase(delisted, "confirm delistings")
            add(
                f"5% delisted: <= {DELIST_CONFIRM_SAMPLE} confirmation lookups, at most "
                f"{DELIST_LOOKUPS_PER_SECOND:g}/s (N={n:,})",
                most <= DELIST_CONFIRM_SAMPLE and reported == most and paced,
                f"{most} lookups counted by the stand-in ({reported} in the run report) for "
                f"{scen['delisted5']['k']:,} candidates, in {confirm:.1f} s "
                f"({(most - 1) / confirm if confirm else 0.0:.2f}/s after the first)",
            )
        full = cell(results, n, "fullnochange", "asset_sync")
        if full:
            writes = {run["write_requests"] for run in full["runs"]}
            items = max(run["assets_table_item_writes"] for run in full["runs"])
            ok_checks = all(run["check"] == "ok" for run in full["runs"])
            add(
                f"full reconciliation of an unchanged table: exactly 2 write requests (N={n:,})",
                writes == {2} and items == 0 and ok_checks,
                f"{max(writes)} write requests ({_requests(full, writes_only=True)}), as a plain "
                f"run; asset items written: {items}; {med(full, 'wcu'):,.0f} WCU",
            )
        drift = cell(results, n, "fulldrift", "asset_sync")
        if drift:
            k = scen["fulldrift"]["k"]
            worst = max(run["write_requests"] for run in drift["runs"])
            repaired = min(run["result"].get("repaired", 0) for run in drift["runs"])
            add(
                f"full reconciliation, k items edited by hand => k repaired, k + 2 write "
                f"requests (N={n:,}, k={k:,})",
                worst == k + 2 and repaired == k,
                f"{repaired:,} repaired, {worst:,} write requests (k + 2 = {k + 2:,})",
            )
        a, b = (
            cell(results, n, "nochange", "naive_put"),
            cell(results, n, "nochange", "batch_writer"),
        )
        if rerun and a and b:
            c_wall, a_wall, b_wall = med(rerun, "wall_s"), med(a, "wall_s"), med(b, "wall_s")
            c_cpu, a_cpu, b_cpu = _both_cpu(rerun), _both_cpu(a), _both_cpu(b)
            add(
                f"no-change re-run faster than (b) (N={n:,})",
                c_wall < b_wall,
                f"(c) {c_wall:.1f} s vs (b) {b_wall:.1f} s: {b_wall / c_wall:.2f}x; CPU of the "
                f"sync process + moto's server: {c_cpu:.1f} s vs {b_cpu:.1f} s: "
                f"{b_cpu / c_cpu:.1f}x",
            )
            add(
                f"no-change re-run >= 5x faster than (a) (N={n:,})",
                a_wall >= 5 * c_wall,
                f"(c) {c_wall:.1f} s vs (a) {a_wall:.1f} s: {a_wall / c_wall:.2f}x; CPU of the "
                f"sync process + moto's server: {c_cpu:.1f} s vs {a_cpu:.1f} s: "
                f"{a_cpu / c_cpu:.1f}x; of the sync process alone: {med(rerun, 'cpu_s'):.1f} s "
                f"vs {med(a, 'cpu_s'):.1f} s: {med(a, 'cpu_s') / med(rerun, 'cpu_s'):.0f}x",
            )
        init_c = cell(results, n, "initial", "asset_sync")
        init_a = cell(results, n, "initial", "naive_put")
        init_b = cell(results, n, "initial", "batch_writer")
        if init_c and init_a and init_b:
            conditional = min(run["conditional_puts"] for run in init_c["runs"])
            puts = max(run["requests"].get("PutItem", 0) for run in init_c["runs"])
            add(
                f"initial load: creates are conditional (N={n:,})",
                conditional >= puts > 0,
                f"{conditional:,} of {puts:,} PutItem carry `attribute_not_exists(symbol)`",
            )
            c_wall, a_wall = med(init_c, "wall_s"), med(init_a, "wall_s")
            b_wall = med(init_b, "wall_s")
            add(
                f"initial load <= 1.5x (a)'s wall time (N={n:,})",
                c_wall <= 1.5 * a_wall,
                f"(c) {c_wall:.1f} s vs (a) {a_wall:.1f} s: {c_wall / a_wall:.2f}x; "
                f"vs (b) {b_wall:.1f} s: {c_wall / b_wall:.2f}x (see below)",
            )
    biggest = max(sizes)
    for kind, is_full in (("plain", False), ("full reconciliation", True)):
        peaks = {
            entry["scenario"]: max(run["peak_rss_mb"] for run in entry["runs"])
            for entry in results["cells"]
            if entry["impl"] == "asset_sync"
            and entry["n"] == biggest
            and (entry["scenario"] in FULL_ONLY) == is_full
        }
        if not peaks:
            continue
        worst = max(peaks, key=lambda name: peaks[name])
        add(
            f"peak RSS of a {biggest:,}-asset sync <= 200 MB ({kind} runs)"
            + (": the plain runs' bound, applied to the full runs too" if is_full else ""),
            peaks[worst] <= 200,
            f"max {peaks[worst]:.0f} MB over every (c) {kind} run at N={biggest:,} "
            f"({SCENARIO_TITLES[worst]})",
        )
    imports = results.get("import_time")
    if imports:
        add(
            "handler import time reported",
            True,
            f"`-X importtime` cumulative {imports['importtime_ms_median']:.0f} ms; fresh "
            f"interpreter {imports['fresh_interpreter_ms_median']:.0f} ms minus "
            f"{imports['bare_interpreter_ms_median']:.0f} ms bare = "
            f"{imports['fresh_interpreter_ms_median'] - imports['bare_interpreter_ms_median']:.0f}"
            " ms (medians of 5)",
        )
    return lines, verdicts


def full_section(results: dict[str, Any]) -> list[str]:
    """What a full reconciliation costs next to a plain run (issue 8)."""
    rows: list[str] = []
    paragraphs: list[str] = []
    for n in results["sizes"]:
        plain = cell(results, n, "nochange", "asset_sync")
        full = cell(results, n, "fullnochange", "asset_sync")
        drift = cell(results, n, "fulldrift", "asset_sync")
        if not (plain and full):
            continue
        k = results["scenarios"][str(n)].get("fulldrift", {}).get("k", 0)
        for title, entry in (
            ("plain run, no change", plain),
            ("full reconciliation, no change", full),
            (f"full reconciliation, k = {k:,} drifted", drift),
        ):
            if entry is None or "rcu" not in entry["runs"][0]:
                continue
            rcu_ops = ", ".join(
                f"{OP_SHORT.get(op, op)} {_rcu(_med_rcu(entry, op))}"
                for op in sorted(
                    {op for r in entry["runs"] for op in r["rcu_by_op"]}, key=_op_order
                )
            )
            rows.append(
                f"| {n:,} | {title} | {_requests(entry)} | {_mb(med(entry, 'response_bytes'))} "
                f"| {_rcu(med(entry, 'rcu'))} ({rcu_ops}) | {med(entry, 'items_read'):,.0f} "
                f"| {med(entry, 'write_requests'):,.0f} | {med(entry, 'wcu'):,.0f} "
                f"| **{med(entry, 'wall_s'):.1f}** | {med_phase(entry, 'read + plan'):.1f} "
                f"| {med(entry, 'cpu_s'):.1f} | {med(entry, 'moto_cpu_s'):.1f} "
                f"| {max(run['peak_rss_mb'] for run in entry['runs']):.0f} |"
            )
        if "rcu" not in full["runs"][0]:
            continue
        p_mb, f_mb = med(plain, "response_bytes"), med(full, "response_bytes")
        text = (
            f"- **N = {n:,}**: on an unchanged table the full run reads what the plain run reads "
            f"({_requests(full, reads_only=True)} against {_requests(plain, reads_only=True)}) "
            f"and costs the same read units ({_rcu(med(full, 'rcu'))} RCU against "
            f"{_rcu(med(plain, 'rcu'))}): a Query on `status-index` is billed on the index "
            "entries it reads (projection ALL: whole items), not on the attributes it returns. "
            f"What grows is what comes back: {_mb(f_mb)} over the wire instead of {_mb(p_mb)} "
            f"({f_mb / p_mb:.1f}x), the sync process's CPU ({med(full, 'cpu_s'):.1f} s against "
            f"{med(plain, 'cpu_s'):.1f} s: every attribute decoded and compared), moto's CPU "
            f"({med(full, 'moto_cpu_s'):.1f} s against {med(plain, 'moto_cpu_s'):.1f} s: it "
            "serialises every attribute; AWS is not slowed that way) and the sync's peak RSS "
            f"({max(r['peak_rss_mb'] for r in full['runs']):.0f} MB against "
            f"{max(r['peak_rss_mb'] for r in plain['runs']):.0f} MB); wall "
            f"{med(full, 'wall_s'):.1f} s against {med(plain, 'wall_s'):.1f} s (wall times "
            "follow the machine's load when each cell ran, see the load column under 'Reading "
            "the figures'; CPU times much less). It writes what "
            f"a plain run writes: {med(full, 'write_requests'):,.0f} requests, "
            f"{med(full, 'wcu'):,.0f} WCU."
        )
        if drift and "rcu" in drift["runs"][0]:
            extra = med(drift, "wcu") - med(full, "wcu")
            gets = med(drift, "rcu") - med(full, "rcu")
            text += (
                f" With k = {k:,} items edited by hand (a string, a bool, a number or a list "
                "changed, or an attribute removed, `sync_hash` left as it was: invisible to a "
                f"plain run), it repairs each with one conditional UpdateItem: "
                f"{med(drift, 'write_requests'):,.0f} write requests, {extra:,.0f} WCU more "
                f"({extra / k if k else 0.0:.0f} per repair: the table and the index entry, "
                f"projection ALL), and {gets:,.1f} RCU more: before writing, `PlanApplier` "
                "reads the items it will update again, whole and strongly consistent "
                "(BatchGetItem, 100 keys a request), although the full run holds their values "
                "from the (eventually consistent) index read."
            )
        paragraphs.append(text)
    if not rows:
        return []
    return [
        "## Full reconciliation",
        "",
        "`asset-sync sync --full` (and the Lambda on its own every `FULL_RECONCILE_DAYS`, default "
        "7) compares every stored owned value, not the hash, so it reads whole items: the "
        "`status-index` Query without a projection (and `BatchGetItem` of whole items for "
        "catalog symbols not found active). (c) only: the naive peers have no such mode. "
        "Read units are computed by `bench/units.py` from the captured requests and responses, "
        "sized on the items as the table held them: a Query on the index, eventually "
        "consistent, 0.5 RCU per 4 KB of the items read per request; BatchGetItem and GetItem, "
        "strongly consistent as the sync sends them, 1 RCU per 4 KB per item, rounded up per "
        "item (a key with no item: the minimum, 1). Medians; peak RSS the largest run.",
        "",
        "| N | run | DynamoDB requests | bytes read | RCU (by operation) | items read "
        "| write requests | WCU | wall s | of which read + plan s | sync CPU s | moto CPU s "
        "| peak RSS MB |",
        "|---:|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        *paragraphs,
        "",
    ]


def _med_rcu(entry: dict[str, Any], operation: str) -> float:
    return float(statistics.median(r["rcu_by_op"].get(operation, 0.0) for r in entry["runs"]))


def confirmation_section(results: dict[str, Any]) -> list[str]:
    """The '5% delisted' scenario's confirmation lookups (issue 9)."""
    rows: list[str] = []
    for n in results["sizes"]:
        entry = cell(results, n, "delisted5", "asset_sync")
        if entry is None or "alpaca_lookups" not in entry["runs"][0]:
            continue
        k = results["scenarios"][str(n)]["delisted5"]["k"]
        lookups = statistics.median(run["alpaca_lookups"] for run in entry["runs"])
        confirm = med_phase(entry, "confirm delistings")
        wall = med(entry, "wall_s")
        rows.append(
            f"| {n:,} | {k:,} | {_result(entry, 'delist_candidates'):,.0f} "
            f"| {lookups:,.0f} | **{confirm:.1f}** | {wall:.1f} | {confirm / wall:.0%} "
            f"| {wall - confirm:.1f} | {med(entry, 'write_requests'):,.0f} (k + 2 = {k + 2:,}) "
            f"| {_result(entry, 'delisted'):,.0f} |"
        )
    if not rows:
        return []
    interval = 1 / DELIST_LOOKUPS_PER_SECOND
    return [
        "## Delisting confirmation (5% delisted)",
        "",
        "Before a delisting is written the sync looks the candidates up with Alpaca "
        "(`GET /v2/assets/{asset_id}`): all of them when there are at most "
        f"`DELIST_CONFIRM_SAMPLE` ({DELIST_CONFIRM_SAMPLE}), otherwise a random sample of that "
        f"many, paced at `DELIST_LOOKUPS_PER_SECOND` ({DELIST_LOOKUPS_PER_SECOND:g}/s: the first "
        f"at once, then one every {interval:.1f} s, so {DELIST_CONFIRM_SAMPLE} lookups take "
        f"about {(DELIST_CONFIRM_SAMPLE - 1) * interval:.1f} s) because Alpaca's 200 requests "
        "per minute are per account and shared with trading. The stand-in retires the assets "
        "that leave its catalog (inactive, as Alpaca reports a delisted asset), so every "
        "lookup confirms and every candidate is delisted. Lookups are counted by the stand-in "
        "(outside the code under test); the confirmation time is the run's own stage "
        "('confirming ... delistings' to 'writing ...'). Medians.",
        "",
        "| N | delisted k | candidates | lookups | confirmation s | wall s | confirmation share "
        "| wall s without it | write requests | delisted |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
        *rows,
        "",
        "The lookups are paced, not bound by the machine: on AWS they add the same time to a "
        "delisting day, while the rest of the run is shorter than on moto. At most "
        f"{DELIST_CONFIRM_SAMPLE} of the account's 200 requests in that minute go to them; a "
        "day without delisting candidates makes none.",
        "",
    ]


def _result(entry: dict[str, Any], count: str) -> float:
    """Median of one of the run report's counts over a cell's runs."""
    return float(statistics.median(run["result"].get(count, 0) for run in entry["runs"]))


def bookkeeping_section(results: dict[str, Any]) -> list[str]:
    """The write units of the run's own bookkeeping (the lease and the run record)."""
    lines: list[str] = []
    for n in results["sizes"]:
        entry = cell(results, n, "nochange", "asset_sync")
        if entry is None or "transact_wcu" not in entry["runs"][0]:
            continue
        state, transact = med(entry, "state_table_wcu"), med(entry, "transact_wcu")
        assets = med(entry, "assets_wcu") + med(entry, "gsi_wcu")
        lines.append(
            f"- N = {n:,}, re-run with no change: {_requests(entry, writes_only=True)} on the "
            f"run-state table, {state:,.0f} WCU: the lease {state - transact:,.0f} (UpdateItem "
            f"of the state item) and the run record {transact:,.0f} (TransactWriteItems: the "
            "Update of the state item and the Put of the history entry, each billed twice); "
            f"the assets table and its index: {assets:,.0f}."
        )
    if not lines:
        return []
    return [
        "## The run's own writes (lease and run record)",
        "",
        "Every run takes the run lease with one conditional UpdateItem of the state item (which "
        "also hands out the run number) and ends with one TransactWriteItems that gives the "
        "lease back, updates the state item's last-run and last-success records and puts the "
        "run's history entry. DynamoDB bills every item of a transaction twice (prepare and "
        "commit), and the state item holds two copies of the run record (`last_run`, "
        "`last_success`), so it is over 1 KB: the bookkeeping costs more write units than "
        "write requests. These two requests are the '2' of the no-change targets and the "
        "'+ 2' of the k + 2 targets; their units are in the 'run state' part of the WCU "
        "column.",
        "",
        *lines,
        f"- From run {HISTORY_KEEP + 1} on, the transaction also deletes the history entry "
        f"{HISTORY_KEEP} runs older (`HISTORY_KEEP`): one more item, under 1 KB, billed twice: "
        "+2 WCU, still one request. The benchmark's runs are numbered 2 to 4, so it does not "
        "show that Delete.",
        "",
    ]


def aws_estimate(results: dict[str, Any]) -> list[str]:
    """How long the biggest initial load takes on AWS at the sync's pace."""
    biggest = max(results["sizes"])
    entry = cell(results, biggest, "initial", "asset_sync")
    if entry is None:
        return []
    writes = med(entry, "write_requests")
    item_writes = med(entry, "assets_table_item_writes")
    gsi = med(entry, "gsi_wcu")
    reads = med(entry, "requests_total") - writes
    per_write = gsi / item_writes if item_writes else 0.0
    seconds = max(item_writes / PACE, gsi / GSI_PARTITION_CAP)
    cpu = med(entry, "cpu_s")
    lambda_s = cpu / (LAMBDA_MEMORY_MB / VCPU_MB)
    naive = cell(results, biggest, "initial", "naive_put")
    verdict = "within"
    if lambda_s > LAMBDA_TIMEOUT_S:
        verdict = "over"
    elif lambda_s > 0.7 * LAMBDA_TIMEOUT_S:
        verdict = "near"
    a_cpu_per_item = med(naive, "cpu_s") / med(naive, "item_writes") * 1000 if naive else 0.0
    return [
        f"Measured for the {biggest:,}-asset initial load: {writes:,.0f} write requests "
        f"({item_writes:,.0f} conditional PutItem on the assets table + the run lease and the "
        f"run record), {reads:,.0f} read requests, {gsi:,.0f} GSI write units "
        f"({per_write:.2f} per item write: every item is under 1 KB).",
        "",
        f"At the sync's pace of {PACE:.0f} item writes/s (`SyncSettings.max_writes_per_second`, "
        "enforced by `WritePacer` in `logic/apply.py` across its 8 writer threads), the "
        f"`active` partition of `status-index` receives {PACE * per_write:.0f} write units/s, "
        f"{PACE * per_write / GSI_PARTITION_CAP:.0%} of the ~{GSI_PARTITION_CAP:,.0f} WCU/s a "
        f"partition sustains, so the load takes **about {seconds:.0f} s of writes** "
        f"({item_writes:,.0f} / {PACE:.0f}) plus the catalog fetch and "
        f"{reads:,.0f} reads (well under a second each on AWS): roughly "
        f"{seconds / 60:.1f} minutes by the pace alone, inside the stack's "
        f"{LAMBDA_TIMEOUT_S} s Lambda timeout. If the index still "
        "throttles (a hot partition shared with other writers), the index's back-pressure "
        "comes back as `ThrottlingException` / `ProvisionedThroughputExceededException` on the "
        "table write, and boto3's standard retry mode (10 attempts, exponential backoff with "
        "jitter, `dal/client.py`) retries it; a retried create that had in fact applied fails "
        "its condition and is confirmed by a re-read (`logic/apply.py`).",
        "",
        f"That is the pace bound. The CPU bound matters as much: the sync process used "
        f"{cpu:.0f} s of CPU for this load here ({cpu / item_writes * 1000:.1f} ms per item "
        "written, nearly all of it boto3 building, signing and parsing requests: (a) spends "
        f"{a_cpu_per_item:.1f} ms per PutItem too). The stack's Lambda defaults "
        f"(`cdk.json` stage `prod`: {LAMBDA_MEMORY_MB} MB, {LAMBDA_TIMEOUT_S} s) give "
        f"about {LAMBDA_MEMORY_MB / VCPU_MB:.2f} vCPU (1 vCPU at {VCPU_MB:,} MB), so at this "
        f"machine's speed the load would need about {cpu / (LAMBDA_MEMORY_MB / VCPU_MB):.0f} s "
        f"of CPU time in the Lambda, {verdict} "
        f"its {LAMBDA_TIMEOUT_S} s timeout. A timed-out initial load is not lost (the next run "
        "creates only what is missing), but it leaves no run record and holds the run lease "
        "until it expires; the first load is best run from the CLI (`asset-sync sync`) or with "
        "more memory. The daily runs are far from either bound (see the re-run rows).",
        "",
        "The naive peers have no pace: (a) runs at one request per round trip (~5-10 ms on AWS, "
        "100-200 items/s, under the cap by luck of latency); (b) sends 25 items per request "
        "and can exceed 1,000 items/s from one thread, so on AWS it would run into the "
        "index's partition cap and into throttling retries.",
    ]


def _short(value: float, seconds: bool) -> str:
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1_000:
        return f"{value / 1000:.1f}k"
    if seconds and value < 10:
        return f"{value:.1f}"
    return f"{value:.0f}"


def plot(results: dict[str, Any], path: Path) -> None:
    """Time, write requests and write units per scenario for the three implementations, by N.

    The full-reconciliation scenarios have (c) only: the peers' bars are absent there.
    """
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    sizes = results["sizes"]
    figure, axes = plt.subplots(len(sizes), 3, figsize=(21, 4.8 * len(sizes)), squeeze=False)
    width = 0.27
    colors = {"naive_put": "#d62728", "batch_writer": "#ff7f0e", "asset_sync": "#2ca02c"}
    for row, n in enumerate(sizes):
        for col, (key, label) in enumerate(
            (
                ("wall_s", "wall time, s (median)"),
                ("write_requests", "write requests"),
                ("wcu", "write units (assets + GSI + run state)"),
            )
        ):
            axis = axes[row][col]
            for offset, impl in enumerate(IMPLS):
                values = []
                for scenario in SCENARIOS:
                    entry = cell(results, n, scenario, impl)
                    values.append(max(med(entry, key), 0.05) if entry else math.nan)
                xs = [i + (offset - 1) * width for i in range(len(SCENARIOS))]
                bars = axis.bar(xs, values, width, label=IMPL_TITLES[impl], color=colors[impl])
                axis.bar_label(
                    bars,
                    labels=["" if math.isnan(v) else _short(v, key == "wall_s") for v in values],
                    fontsize=7, padding=1,
                )  # fmt: skip
                for x, value in zip(xs, values, strict=True):
                    if math.isnan(value):  # no such mode: say so where the bar would be
                        axis.text(
                            x, 0.02, "n/a", transform=axis.get_xaxis_transform(),
                            ha="center", va="bottom", fontsize=6, rotation=90, color="#777777",
                        )  # fmt: skip
            axis.set_yscale("log")
            axis.set_xticks(range(len(SCENARIOS)))
            axis.set_xticklabels(
                [textwrap.fill(SCENARIO_TITLES[s], 16) for s in SCENARIOS], fontsize=7.5
            )
            axis.set_title(f"N = {n:,}: {label}", fontsize=10)
            axis.grid(axis="y", which="both", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=3, fontsize=9)
    figure.suptitle("asset-sync vs naive peers on moto's server (log scale)")
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)


def markdown(results: dict[str, Any], plot_name: str) -> str:
    """The whole docs/benchmarks.md."""
    meta = results["meta"]
    lines = [
        "# Benchmarks",
        "",
        "This project's sync (c) against the two usual implementations, (a) one `PutItem` per "
        "asset every day and (b) boto3's `Table.batch_writer()` overwriting every asset, on the "
        "same catalogs in the same run. Generated by `make bench` (`python -m bench.run`); raw "
        "results in `bench/results/latest.json`. Sections between `<!-- hand-written: NAME -->` "
        "and `<!-- /hand-written: NAME -->` are written by hand and kept as they are when the "
        "file is regenerated (`bench/handwritten.py`); everything else is rewritten.",
        "",
        "## Machine and setup",
        "",
        f"- date: {meta['date']}; total bench time {meta['total_s'] / 60:.0f} min",
        f"- CPU: {meta['cpu_model']}, {meta['nproc']} CPUs (`nproc`); memory "
        f"{meta['mem_gb']:.1f} GB",
        f"- 1-minute load average at the end of the runs: {_load(results)} (the machine is "
        "shared; with 2 CPUs any other load shows in wall times, less in CPU times)",
        f"- code under test: sha256 of `src/asset_sync/**/*.py` = `{meta.get('src_digest', '?')}`"
        + (f". {meta['src_note']}" if meta.get("src_note") else ""),
        f"- Python {meta['python']}, moto {meta['moto']}, boto3 {meta['boto3']}, "
        f"botocore {meta['botocore']}",
        "- DynamoDB: moto's server in a child process (`asset_sync.local.moto_server`), real HTTP "
        "on 127.0.0.1, behind `asset_sync.local.dynamo_proxy.DynamoProxy`, which counts requests "
        "by operation and bytes at the HTTP level (`bench/capture.py` also keeps each request's "
        "body and each read's response, to bill them, and sets TCP_NODELAY on the proxy's "
        "connections: without "
        "it every proxied request waited ~40 ms for a delayed ACK, 20 requests/s instead of "
        "~190). Alpaca: the project's stand-in "
        "(`asset_sync.local.stand_in`), catalogs from `generate_catalog` (every record active) "
        "and `evolve_catalog`.",
        "- Each implementation runs in its own child process (`python -m bench.worker`): wall and "
        "CPU time cover the measured window (fetch, read, plan, confirm, write, record; imports "
        "done before), peak RSS is that process's own high-water mark (VmHWM in "
        "/proc/self/status; `ru_maxrss` would include the parent's RSS at fork). `moto server "
        "CPU s` is the server process's CPU time during the window. (c)'s phases are timed from "
        "the stage messages the run reports (`Progress.stage`). `Alpaca GETs` are counted by "
        "the stand-in: list requests + single-asset lookups (with the confirmation phase's "
        "duration).",
        "- Every (N, scenario, implementation) cell has its own freshly created tables. The "
        "starting state of the re-run scenarios is written before the window with "
        "BatchWriteItem, straight to moto: for (c) exactly the items its sync stores "
        "(`new_item` + `serialize_item` + `sync_version` 1), for (a)/(b) their own items "
        "(the record as is, plus `updated_at`). About 1% of the items (and some of the changed "
        "and delisted ones) also carry another service's attributes `last_pollenation_date` and "
        "`sector`. Later runs of a cell start from the same state: the items the previous run "
        "changed and the foreign-attribute sample are written back outside the window; each "
        "initial-load run gets a new empty table. The run-state table starts with the record "
        "of run 1, so the measured runs are numbered 2 and up.",
        "- Scenarios: initial load into an empty table; re-run with no change; 1% of the assets "
        "changed (`evolve_catalog` flips 0.8% + renames 0.2%, no listings or delistings); 5% "
        "delisted (`delistings=0.05` only; the guard's default limit is 10%; the candidates "
        "are confirmed with Alpaca at the default pace and sample, see 'Delisting "
        "confirmation'). Plain runs of (c) are plain (`FULL_RECONCILE_DAYS` 0 in the worker). "
        "(c) only, `sync --full`: full reconciliation of an unchanged table, and of a table "
        "in which 0.1% of the items were edited by hand under an unchanged `sync_hash` (a "
        "string, a bool, a number or a list changed, or an attribute removed, in turn).",
        "- Naive peers (`bench/naive.py`): the catalog via HTTP, each record stored as it comes "
        "(numbers as `Decimal`) plus `updated_at`, written unconditionally every day; delisting "
        "the way such a peer does it: a projected Scan of `symbol, status`, then for each active "
        "symbol absent from the catalog the whole item is read and put back with `status = "
        "inactive` ((a) GetItem + PutItem, (b) BatchGetItem + batch put).",
        f"- Repetitions: {meta['repetitions_note']}",
        "- Write units (WCU) are computed by `bench/units.py` from each written item's size "
        "before and after the write, by DynamoDB's rules (1 unit per KB rounded up, per item; "
        "plus the `status-index` GSI write, projection ALL: 1x for an item put into or changed "
        "in the index, 2x when the status changes, none when nothing changed; every item of a "
        "TransactWriteItems twice); the run-state table has no index. Read units (RCU) from "
        "each read request and its response, sized on the whole items as the table held them "
        "(a Query or Scan: the items of one request summed, rounded up to 4 KB, 0.5 RCU per "
        "4 KB eventually consistent, a Query on the index always so; GetItem/BatchGetItem: per "
        "item rounded up to 4 KB, 1 RCU strongly consistent, 0.5 otherwise, the minimum for a "
        "key that finds no item; a Scan is billed on the items it evaluates, here all of them, "
        "since every item is active when the peers scan).",
        "",
        f"Reproduce: `make bench` (about {meta['total_s'] / 60:.0f} minutes on this machine). "
        "`python -m bench.run --quick` "
        "runs N = 500 and 1,500 once each and writes to a temporary directory.",
        "",
    ]
    for n in results["sizes"]:
        scen = results["scenarios"][str(n)]
        lines += [
            f"## N = {n:,}",
            "",
            f"1% changed: k = {scen['changed1']['k']:,} assets; 5% delisted: k = "
            f"{scen['delisted5']['k']:,} assets.{_sizes(scen)}",
            "",
            *table_for(results, n),
            "",
        ]
    lines += [f"![time and write requests per scenario]({plot_name})", ""]
    target_lines, _ = targets(results)
    lines += ["## Targets", "", *target_lines, ""]
    lines += full_section(results)
    lines += confirmation_section(results)
    lines += bookkeeping_section(results)
    lines += results.get("analysis", [])
    lines += ["", "## The GSI partition cap on AWS", "", *aws_estimate(results), ""]
    imports = results.get("import_time")
    if imports:
        lines += [
            "## Handler import time",
            "",
            f"`python -X importtime -c 'import asset_sync.handler'`, cumulative time of the "
            f"`asset_sync.handler` line, 5 runs: {imports['importtime_ms']} ms, median "
            f"**{imports['importtime_ms_median']:.0f} ms**. A fresh interpreter running that "
            f"import: median {imports['fresh_interpreter_ms_median']:.0f} ms wall, against "
            f"{imports['bare_interpreter_ms_median']:.0f} ms for `python -c pass`. Largest "
            f"imports (cumulative ms): {imports['top']}.",
            "",
        ]
    profile = results.get("profile")
    if profile:
        lines += [
            "## Profile of the sync process (re-run, no change)",
            "",
            profile["summary"],
            "",
            "```",
            profile["text"].strip(),
            "```",
            "",
        ]
    return "\n".join(lines) + "\n"

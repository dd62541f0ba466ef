"""The report's sections on one cost each: full reconciliation, delisting confirmation, the
run's own bookkeeping writes and ticker reassignments."""

from __future__ import annotations

from msgspec import UnsetType

from asset_sync.contract import ASSET_ID_INDEX, FULL_RECONCILE_DAYS, STATUS_INDEX
from asset_sync.dal.assets import BATCH_GET_LIMIT
from asset_sync.dal.run_state import HISTORY_KEEP
from bench.records import Cell, Results, ScenarioSize
from bench.scenarios import DELIST_CONFIRM_SAMPLE, DELIST_LOOKUPS_PER_SECOND
from bench.text import mb, op_order, op_short, rcu_text, requests_text


def _full_row(n: int, title: str, entry: Cell) -> str:
    operations = sorted({op for run in entry.runs for op in run.rcu_by_op}, key=op_order)
    rcu_ops = ", ".join(f"{op_short(op)} {rcu_text(entry.median_rcu(op))}" for op in operations)
    return (
        f"| {n:,} | {title} | {requests_text(entry)} | {mb(entry.median('response_bytes'))} "
        f"| {rcu_text(entry.median('rcu'))} ({rcu_ops}) | {entry.median('items_read'):,.0f} "
        f"| {entry.median('write_requests'):,.0f} | {entry.median('wcu'):,.0f} "
        f"| **{entry.median('wall_s'):.1f}** | {entry.median_phase('read + plan'):.1f} "
        f"| {entry.median('cpu_s'):.1f} | {entry.median('moto_cpu_s'):.1f} "
        f"| {entry.peak_rss():.0f} |"
    )


def _full_paragraph(n: int, k: int, plain: Cell, full: Cell, drift: Cell | None) -> str:
    p_mb, f_mb = plain.median("response_bytes"), full.median("response_bytes")
    text = (
        f"- **N = {n:,}**: on an unchanged table the full run reads what the plain run reads "
        f"({requests_text(full, reads_only=True)} against "
        f"{requests_text(plain, reads_only=True)}) and costs the same read units "
        f"({rcu_text(full.median('rcu'))} RCU against {rcu_text(plain.median('rcu'))}): a Query "
        f"on `{STATUS_INDEX}` is billed on the index entries it reads (projection ALL: whole "
        "items), not on the attributes it returns. What grows is what comes back: "
        f"{mb(f_mb)} over the wire instead of {mb(p_mb)} ({f_mb / p_mb:.1f}x), the sync "
        f"process's CPU ({full.median('cpu_s'):.1f} s against {plain.median('cpu_s'):.1f} s: "
        f"every attribute decoded and compared), moto's CPU ({full.median('moto_cpu_s'):.1f} s "
        f"against {plain.median('moto_cpu_s'):.1f} s: it serialises every attribute; AWS is not "
        f"slowed that way) and the sync's peak RSS ({full.peak_rss():.0f} MB against "
        f"{plain.peak_rss():.0f} MB); wall {full.median('wall_s'):.1f} s against "
        f"{plain.median('wall_s'):.1f} s (wall times follow the machine's load when each cell "
        "ran, see the load column under 'Reading the figures'; CPU times much less). It writes "
        f"what a plain run writes: {full.median('write_requests'):,.0f} requests, "
        f"{full.median('wcu'):,.0f} WCU."
    )
    if drift is None:
        return text
    extra = drift.median("wcu") - full.median("wcu")
    gets = drift.median("rcu") - full.median("rcu")
    return text + (
        f" With k = {k:,} items edited by hand (a string, a bool, a number or a list changed, "
        "or an attribute removed, `sync_hash` left as it was: invisible to a plain run), it "
        "repairs each with one conditional UpdateItem: "
        f"{drift.median('write_requests'):,.0f} write requests, {extra:,.0f} WCU more "
        f"({extra / k if k else 0.0:.0f} per repair: the table and the index entry, "
        f"projection ALL), and {gets:,.1f} RCU more: before writing, `PlanApplier` reads the "
        f"items it will update again, whole and strongly consistent (BatchGetItem, "
        f"{BATCH_GET_LIMIT} keys a request), although the full run holds their values from the "
        "(eventually consistent) index read."
    )


def full_section(results: Results) -> list[str]:
    """What a full reconciliation costs next to a plain run (issue 8)."""
    rows: list[str] = []
    paragraphs: list[str] = []
    for n in results.sizes:
        plain = results.cell(n, "nochange", "asset_sync")
        full = results.cell(n, "fullnochange", "asset_sync")
        drift = results.cell(n, "fulldrift", "asset_sync")
        if plain is None or full is None:
            continue
        k = results.size(n).fulldrift.k
        for title, entry in (
            ("plain run, no change", plain),
            ("full reconciliation, no change", full),
            (f"full reconciliation, k = {k:,} drifted", drift),
        ):
            if entry is not None:
                rows.append(_full_row(n, title, entry))
        paragraphs.append(_full_paragraph(n, k, plain, full, drift))
    if not rows:
        return []
    return [
        "## Full reconciliation",
        "",
        "`asset-sync sync --full` (and the Lambda on its own every `FULL_RECONCILE_DAYS`, default "
        f"{FULL_RECONCILE_DAYS.default:g}) compares every stored owned value, not the hash, so it "
        f"reads whole items: the `{STATUS_INDEX}` Query without a projection (and `BatchGetItem` "
        "of whole items for catalog symbols not found active). (c) only: the naive peers have "
        "no such mode. Read units are computed by `bench/units.py` from the captured requests "
        "and responses, sized on the items as the table held them: a Query on the index, "
        "eventually consistent, 0.5 RCU per 4 KB of the items read per request; BatchGetItem "
        "and GetItem, strongly consistent as the sync sends them, 1 RCU per 4 KB per item, "
        "rounded up per item (a key with no item: the minimum, 1). Medians; peak RSS the "
        "largest run.",
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


def confirmation_section(results: Results) -> list[str]:
    """The '5% delisted' scenario's confirmation lookups (issue 9)."""
    rows: list[str] = []
    for n in results.sizes:
        entry = results.cell(n, "delisted5", "asset_sync")
        if entry is None:
            continue
        k = results.size(n).delisted5.k
        confirm, wall = entry.median_phase("confirm delistings"), entry.median("wall_s")
        rows.append(
            f"| {n:,} | {k:,} | {entry.median_count('delist_candidates'):,.0f} "
            f"| {entry.median('alpaca_lookups'):,.0f} | **{confirm:.1f}** | {wall:.1f} "
            f"| {confirm / wall:.0%} | {wall - confirm:.1f} "
            f"| {entry.median('write_requests'):,.0f} (k + 2 = {k + 2:,}) "
            f"| {entry.median_count('delisted'):,.0f} |"
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


def bookkeeping_section(results: Results) -> list[str]:
    """The write units of the run's own bookkeeping (the lease and the run record)."""
    lines: list[str] = []
    for n in results.sizes:
        entry = results.cell(n, "nochange", "asset_sync")
        if entry is None:
            continue
        state, transact = entry.median("state_table_wcu"), entry.median("transact_wcu")
        assets = entry.median("assets_wcu") + entry.median("gsi_wcu")
        lines.append(
            f"- N = {n:,}, re-run with no change: {requests_text(entry, writes_only=True)} on "
            f"the run-state table, {state:,.0f} WCU: the lease {state - transact:,.0f} "
            f"(UpdateItem of the state item) and the run record {transact:,.0f} "
            "(TransactWriteItems: the Update of the state item and the Put of the history "
            f"entry, each billed twice); the assets table and its index: {assets:,.0f}."
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


def _reassignment_row(n: int, size: ScenarioSize, entry: Cell) -> str:
    kinds = size.identity_by_kind if isinstance(size.identity_by_kind, dict) else {}
    changes = int(size.identity_changes or 0)
    table, state = entry.median("assets_wcu"), entry.median("state_table_wcu")
    status, asset_id = (entry.median_index_units(i) for i in (STATUS_INDEX, ASSET_ID_INDEX))
    foreign = entry.runs[0]
    return (
        f"| {n:,} | {changes} ({' + '.join(str(v) for v in kinds.values())}) "
        f"| {size.identity_items} | {entry.median('write_requests'):,.0f} "
        f"({requests_text(entry, writes_only=True)}) "
        f"| {table:,.0f} + {status:,.0f} + {asset_id:,.0f} + {state:,.0f} = "
        f"{entry.median('wcu'):,.0f} | {(table + status + asset_id) / changes:.1f} "
        f"| {requests_text(entry, reads_only=True)} | {rcu_text(entry.median('rcu'))} "
        f"| {entry.median('alpaca_lookups'):,.0f} | **{entry.median('wall_s'):.1f}** "
        f"| {foreign.foreign_survived}/{foreign.foreign_sample} |"
    )


def _reassignment_paragraph(n: int, size: ScenarioSize, entry: Cell, plain: Cell | None) -> str:
    changes, items = int(size.identity_changes or 0), int(size.identity_items or 0)
    table = entry.median("assets_wcu")
    text = (
        f"- **N = {n:,}**: {changes} identity changes writing {items} items cost "
        f"{entry.median('write_requests'):,.0f} write requests, k + 2 with k the identity "
        f"changes; written one item at a time they would have taken {items + 2} (k + 2 with k "
        f"the items) and left renames half-applied on a failure. The transactions bill "
        f"{table:,.0f} WCU on the table, {table / items if items else 0.0:.0f} per item where "
        f"single writes bill 1: the price of all-or-nothing identity changes."
    )
    if plain is not None:
        text += (
            f" Reads: {requests_text(entry, reads_only=True)} against "
            f"{requests_text(plain, reads_only=True)} for the no-change run "
            f"({rcu_text(entry.median('rcu'))} RCU against {rcu_text(plain.median('rcu'))}): "
            "the whole items of the symbols that differ and of the delisting candidates, and "
            f"the `{ASSET_ID_INDEX}` entries of the ids still unmatched."
        )
    return text


def reassignment_section(results: Results) -> list[str]:
    """What ticker reassignments cost (issue 19): one transaction per identity change."""
    rows: list[str] = []
    paragraphs: list[str] = []
    for n in results.sizes:
        entry = results.cell(n, "reassigned", "asset_sync")
        size = results.size(n).reassigned
        if entry is None or isinstance(size, UnsetType):
            continue
        rows.append(_reassignment_row(n, size, entry))
        plain = results.cell(n, "nochange", "asset_sync")
        paragraphs.append(_reassignment_paragraph(n, size, entry, plain))
    if not rows:
        return []
    return [
        "## Ticker reassignments",
        "",
        "The next day of the catalog with, per 0.05% of its assets (at least one): two plain "
        "renames (`X` -> a new ticker), a same-day shift (`A`=a, `B`=b -> `B`=a, `C`=b, as "
        "FB -> META -> METV on 2022-06-09), a swap (`A`=1, `B`=2 -> `A`=2, `B`=1), a ticker "
        "reused after its holder was delisted (its item inactive) and one reused the same day "
        "(the holder leaves the catalog, is confirmed delisted by Alpaca and moves to its "
        "archive item `__asset/<id>`); every other asset unchanged (`bench/reassign.py`). By "
        "[identity.md](identity.md) each is one identity change, one TransactWriteItems: a "
        "rename writes 2 items, a shift 3, a swap 2, a reuse 2. The assets involved carry "
        "another service's attributes, different for each asset, which must end on their "
        "asset's item (and none on the item a new asset took). (c) only: the naive peers key "
        "items by ticker and know no asset identity. Write units: every item of a transaction "
        f"is billed twice, on the table and, as `bench/ledger.py` counts them, on the "
        f"indexes (`{STATUS_INDEX}`, projection ALL: any change; `{ASSET_ID_INDEX}`, keys "
        "only: 1 for an `asset_id` set, 2 for one changed, none otherwise); DynamoDB documents "
        "the doubling for the table's writes, so the index figures are an upper bound. Medians.",
        "",
        "| N | identity changes (renames + shifts + swaps + reused after a delisting + the same "
        "day) | items written | write requests | WCU table + status-index + asset-id-index + "
        "run state = total | WCU per identity change (table and indexes) | read requests "
        "| RCU | Alpaca lookups | wall s | foreign attrs on their asset's item |",
        "|---:|---|---:|---|---|---:|---|---:|---:|---:|---|",
        *rows,
        "",
        *paragraphs,
        "",
    ]

"""The paragraphs that explain the figures (numbers from this run): where (c)'s time goes, its
memory, and what the biggest initial load would take on AWS."""

from __future__ import annotations

from infra.settings import load_stage

from asset_sync.contract import (
    ASSET_ID_INDEX,
    MAX_WRITES_PER_SECOND,
    STATUS_INDEX,
    WRITE_CONCURRENCY,
)
from asset_sync.dal.client import DEFAULT_MAX_ATTEMPTS
from bench.records import Results
from bench.scenarios import SCENARIO_TITLES, SCENARIOS

PACE = MAX_WRITES_PER_SECOND.default  # item writes per second (`SyncSettings`)
GSI_PARTITION_CAP = 1000.0  # write units per second on one index partition (DynamoDB)
VCPU_MB = 1769  # Lambda allocates one full vCPU at 1,769 MB, proportionally below
PHASE_COLUMNS = ("lease", "fetch", "read + plan", "confirm delistings", "write + record")


def _rerun_paragraph(results: Results, n: int) -> list[str]:
    c_re = results.cell(n, "nochange", "asset_sync")
    c_init = results.cell(n, "initial", "asset_sync")
    b_init = results.cell(n, "initial", "batch_writer")
    if c_re is None or c_init is None or b_init is None:
        return []
    wall, cpu, moto = c_re.median("wall_s"), c_re.median("cpu_s"), c_re.median("moto_cpu_s")
    queries, gets = c_re.median_requests("Query"), c_re.median_requests("BatchGetItem")
    init_gets = c_init.median_requests("BatchGetItem")
    ci_wall, bi_wall = c_init.median("wall_s"), b_init.median("wall_s")
    return [
        f"- **N = {n:,}, re-run with no change, (c)**: {wall:.1f} s wall, of which the sync "
        f"process used {cpu:.1f} s of CPU and moto's server {moto:.1f} s "
        f"({moto / wall:.0%} of the wall time; the rest is waiting, for moto's answers and "
        f"for a CPU: the 1-minute load after these runs was {c_re.loads()} on "
        f"{results.meta.nproc} CPUs). Its work is the reads ({queries:,.0f} Query "
        f"page{'s' if queries != 1 else ''} of `{STATUS_INDEX}` projected to `symbol, "
        f"sync_hash, asset_class`, {gets:,.0f} BatchGetItem; "
        f"{c_re.median('response_bytes') / 1e6:.1f} MB over the wire, "
        f"{c_re.median('rcu'):,.0f} RCU). The sync wrote {c_re.median('write_requests'):,.0f} "
        f"requests (the run lease and the run record) and {c_re.median('wcu'):,.0f} write "
        f"units, none on the assets table; (a) and (b) rewrite all {n:,} items. moto spent "
        f"{moto / max(queries, 1):.2f} s of CPU per Query page: it goes through the whole index "
        "for every 1 MB page, so its time per page grows with N and the whole read faster than "
        "N, while the sync process's CPU grows linearly; the targets against (a) and (b) at "
        "this N compare moto's Query with moto's writes as much as they compare the "
        "implementations.",
        f"- **N = {n:,}, initial load**: (c) is {ci_wall / bi_wall:.1f}x (b)'s wall time "
        f"({ci_wall:.1f} s vs {bi_wall:.1f} s). (c) sends one conditional PutItem per asset "
        "(`attribute_not_exists(symbol)`, so a create never overwrites an item that appeared "
        "meanwhile, and a lost race is re-read and re-planned); BatchWriteItem cannot carry "
        "a condition, so (b) cannot give that guarantee, but it moves 25 items per request "
        f"({b_init.median('requests_total'):,.0f} requests against "
        f"{c_init.median('requests_total'):,.0f}, of which {init_gets:,.0f} BatchGetItem: on an "
        f"empty table every catalog symbol is 'unseen' by the `{STATUS_INDEX}` read and is "
        "looked up by key, `AssetTable.states_of`, to find inactive or foreign-made items). "
        "On moto the per-request cost dominates (moto's CPU during (c)'s window: "
        f"{c_init.median('moto_cpu_s'):.1f} s of {ci_wall:.1f} s); on AWS (c) is capped by its "
        f"own pace ({PACE:.0f} items/s, below) while (b) is capped by the index partition. The "
        "initial load happens once.",
    ]


def _memory_paragraph(results: Results) -> list[str]:
    biggest = max(results.sizes)
    rss_init = results.cell(biggest, "initial", "asset_sync")
    rss_re = results.cell(biggest, "nochange", "asset_sync")
    rss_full = results.cell(biggest, "fullnochange", "asset_sync")
    if rss_init is None or rss_re is None:
        return []
    text = (
        f"- **Memory, N = {biggest:,}**: the initial load peaks at {rss_init.peak_rss():.0f} MB, "
        f"the no-change re-run at {rss_re.peak_rss():.0f} MB (the process holds about "
        f"{rss_re.median('rss_before_mb'):.0f} MB after its imports). The re-run's share is "
        "the catalog body (~15 MB of JSON at 35,000 records) and the validated catalog "
        "(measured with tracemalloc: ~52 MB for 35,000 `CatalogAsset`s). The initial "
        "load's extra is the write phase (`PlanApplier.apply` keeps at most `concurrency` "
        "items in flight)."
    )
    if rss_full is not None:
        state = results.size(biggest).state_bytes
        whole, projected = state.whole_per_item, state.projected_per_item
        text += (
            f" A full reconciliation peaks at {rss_full.peak_rss():.0f} MB: it keeps every "
            "active item whole for planning (`CurrentState.values`), measured with tracemalloc "
            f"at {whole:,.0f} B per item against {projected:,.0f} B for the plain run's "
            f"projection ({whole * biggest / 1e6:.0f} MB against "
            f"{projected * biggest / 1e6:.0f} MB at {biggest:,} items), and each 1 MB "
            "page of whole items passes through botocore's parsed form on the way; "
            "Python's allocator keeps the high-water mark."
        )
    return [text]


def _phase_rows(results: Results) -> list[str]:
    rows = []
    for n in results.sizes:
        for scenario in SCENARIOS:
            entry = results.cell(n, scenario, "asset_sync")
            if entry is None:
                continue
            wall, moto = entry.median("wall_s"), entry.median("moto_cpu_s")
            phases = " | ".join(f"{entry.median_phase(p):.1f}" for p in PHASE_COLUMNS)
            rows.append(
                f"| {n:,} | {SCENARIO_TITLES[scenario]} | {wall:.1f} | {phases} "
                f"| {entry.median('cpu_s'):.1f} | {moto:.1f} | {moto / wall:.0%} "
                f"| {entry.loads()} |"
            )
    return rows


def analysis(results: Results) -> list[str]:
    """'Reading the figures': the paragraphs, then where (c)'s wall time goes."""
    out = ["## Reading the figures", ""]
    for n in results.sizes:
        out += _rerun_paragraph(results, n)
    out += _memory_paragraph(results)
    return [
        *out,
        "",
        "Where the wall time of (c) goes, per cell (medians): by phase of the run (from its "
        "stage messages: the lease, the catalog fetch, reading the table and planning, the "
        "delisting confirmation, writing and recording the run), and by process: the sync "
        "process's own CPU, moto's server CPU, and the rest (waiting: the proxy, the stand-in, "
        "the pacing, scheduling on 2 shared CPUs).",
        "",
        "| N | scenario | wall s | lease s | fetch s | read + plan s | confirm s "
        "| write + record s | sync CPU s | moto CPU s | moto share of wall "
        "| load (1 min) after each run |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        *_phase_rows(results),
        "",
        "moto's server is a single Python process that builds and serialises every response "
        f"(profiled in-process on moto 5.2.5: a `{STATUS_INDEX}` Query spends its time in "
        "`moto/core/serialize.py` and in `dynamo_type.to_regular_json` / `copy.deepcopy` of "
        "every item of the index, once per 1 MB page), so the figures the code under test "
        "controls are the request counts, the bytes, the write units and the sync process's "
        "CPU time and RSS; on AWS the wall time is set by the pace and the latency instead.",
    ]


def aws_estimate(results: Results) -> list[str]:
    """How long the biggest initial load takes on AWS at the sync's pace."""
    biggest = max(results.sizes)
    entry = results.cell(biggest, "initial", "asset_sync")
    if entry is None:
        return []
    prod = load_stage("prod")
    memory, timeout = prod.memory_mb, prod.timeout_seconds
    writes, item_writes = entry.median("write_requests"), entry.median("assets_table_item_writes")
    gsi = entry.median_index_units(STATUS_INDEX)
    other_gsi = entry.median("gsi_wcu") - gsi
    reads = entry.median("requests_total") - writes
    per_write = gsi / item_writes if item_writes else 0.0
    seconds = max(item_writes / PACE, gsi / GSI_PARTITION_CAP)
    cpu = entry.median("cpu_s")
    lambda_s = cpu / (memory / VCPU_MB)
    verdict = "over" if lambda_s > timeout else "near" if lambda_s > 0.7 * timeout else "within"
    naive = results.cell(biggest, "initial", "naive_put")
    a_per_item = naive.median("cpu_s") / naive.median("item_writes") * 1000 if naive else 0.0
    return [
        "## The GSI partition cap on AWS",
        "",
        f"Measured for the {biggest:,}-asset initial load: {writes:,.0f} write requests "
        f"({item_writes:,.0f} conditional PutItem on the assets table + the run lease and the "
        f"run record), {reads:,.0f} read requests, {gsi:,.0f} write units on `{STATUS_INDEX}` "
        f"({per_write:.2f} per item write: every item is under 1 KB) and {other_gsi:,.0f} on "
        f"`{ASSET_ID_INDEX}` (keyed by asset id: spread over many partitions).",
        "",
        f"At the sync's pace of {PACE:.0f} item writes/s (`SyncSettings.max_writes_per_second`, "
        f"enforced by `WritePacer` in `logic/apply.py` across its {WRITE_CONCURRENCY.default:g} "
        f"writer threads), the `active` partition of `{STATUS_INDEX}` receives "
        f"{PACE * per_write:.0f} write units/s, {PACE * per_write / GSI_PARTITION_CAP:.0%} of "
        f"the ~{GSI_PARTITION_CAP:,.0f} WCU/s a partition sustains, so the load takes **about "
        f"{seconds:.0f} s of writes** ({item_writes:,.0f} / {PACE:.0f}) plus the catalog fetch "
        f"and {reads:,.0f} reads (well under a second each on AWS): roughly "
        f"{seconds / 60:.1f} minutes by the pace alone, inside the stack's {timeout} s Lambda "
        "timeout. If the index still throttles (a hot partition shared with other writers), "
        "the index's back-pressure comes back as `ThrottlingException` / "
        "`ProvisionedThroughputExceededException` on the table write, and boto3's standard "
        f"retry mode ({DEFAULT_MAX_ATTEMPTS} attempts, exponential backoff with jitter, "
        "`dal/client.py`) retries it; a retried create that had in fact applied fails its "
        "condition and is confirmed by a re-read (`logic/apply.py`).",
        "",
        "That is the pace bound. The CPU bound matters as much: the sync process used "
        f"{cpu:.0f} s of CPU for this load here ({cpu / item_writes * 1000:.1f} ms per item "
        "written, nearly all of it boto3 building, signing and parsing requests: (a) spends "
        f"{a_per_item:.1f} ms per PutItem too). The stack's Lambda defaults (`cdk.json` stage "
        f"`prod`: {memory} MB, {timeout} s) give about {memory / VCPU_MB:.2f} vCPU (1 vCPU at "
        f"{VCPU_MB:,} MB), so at this machine's speed the load would need about "
        f"{lambda_s:.0f} s of CPU time in the Lambda, {verdict} its {timeout} s timeout. A "
        "timed-out initial load is not lost (the next run creates only what is missing), but "
        "it leaves no run record and holds the run lease until it expires; the first load is "
        "best run from the CLI (`asset-sync sync`) or with more memory. The daily runs are far "
        "from either bound (see the re-run rows).",
        "",
        "The naive peers have no pace: (a) runs at one request per round trip (~5-10 ms on AWS, "
        "100-200 items/s, under the cap by luck of latency); (b) sends 25 items per request "
        "and can exceed 1,000 items/s from one thread, so on AWS it would run into the "
        "index's partition cap and into throttling retries.",
        "",
    ]

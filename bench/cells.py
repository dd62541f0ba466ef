"""One measured cell (N, scenario, implementation): its tables, its starting state, its runs.

Each cell gets its own, uniquely named tables. Its starting state (`bench.scenarios`) is
written before the measured window, straight to moto's server (not through the counting
proxy), with BatchWriteItem. Runs after the first of a cell start from the same state: the
items the previous run changed (the changed, delisted or drifted symbols) and the
foreign-attribute sample are written back, outside the window. Initial-load runs each get a
new empty table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asset_sync.contract import Outcome, state_table_name
from asset_sync.dal.assets import ASSETS_SPEC, AssetTable
from asset_sync.dal.run_state import STATE_KEY, RunStateTable
from asset_sync.dal.serialization import deserialize_item, serialize_item
from asset_sync.local.dynamo_proxy import WRITE_OPERATIONS
from asset_sync.local.stand_in import AlpacaStandIn
from asset_sync.logic.item_writes import diff_item
from asset_sync.logic.planning import Action, ItemPlan
from asset_sync.logic.report import RunReport
from bench.capture import CapturingProxy
from bench.ledger import Ledger
from bench.records import Cell, Run
from bench.scenarios import (
    FOREIGN,
    YESTERDAY,
    Scenario,
    drift_edit,
    foreign_sample,
    naive_items,
    sync_items,
)
from bench.units import Item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEY_ID, SECRET = "BENCHKEY0001", "bench-secret-not-real"
CODE_PATH: list[str] = []  # set by bench.run: the snapshot of src/ the workers import


def batch_put(client: DynamoDBClient, table: str, items: list[Item]) -> None:
    """BatchWriteItem of `items`, UnprocessedItems retried (bounded)."""
    for start in range(0, len(items), 25):
        requests: list[Any] = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        for attempt in range(20):
            response = client.batch_write_item(RequestItems={table: requests})
            requests = list(response.get("UnprocessedItems", {}).get(table, []))
            if not requests:
                break
            time.sleep(0.05 * (attempt + 1))
        else:
            raise RuntimeError("BatchWriteItem kept returning UnprocessedItems")


def batch_delete(client: DynamoDBClient, table: str, symbols: list[str]) -> None:
    """BatchWriteItem deleting the items of `symbols`, UnprocessedItems retried (bounded)."""
    for start in range(0, len(symbols), 25):
        chunk = symbols[start : start + 25]
        requests: list[Any] = [{"DeleteRequest": {"Key": {"symbol": {"S": s}}}} for s in chunk]
        for attempt in range(20):
            response = client.batch_write_item(RequestItems={table: requests})
            requests = list(response.get("UnprocessedItems", {}).get(table, []))
            if not requests:
                break
            time.sleep(0.05 * (attempt + 1))
        else:
            raise RuntimeError("BatchWriteItem kept returning UnprocessedItems")


def batch_get(client: DynamoDBClient, table: str, symbols: list[str]) -> dict[str, Item]:
    """Whole items by symbol (BatchGetItem, bounded retries)."""
    found: dict[str, Item] = {}
    for start in range(0, len(symbols), 100):
        keys: list[Any] = [{"symbol": {"S": s}} for s in symbols[start : start + 100]]
        for _ in range(20):
            response = client.batch_get_item(
                RequestItems={table: {"Keys": keys, "ConsistentRead": True}}
            )
            for item in response.get("Responses", {}).get(table, []):
                found[str(item["symbol"]["S"])] = dict(item)  # type: ignore[arg-type]
            unprocessed: Any = response.get("UnprocessedKeys", {})
            keys = list(unprocessed.get(table, {}).get("Keys", []))
            if not keys:
                break
    return found


@dataclass
class Infra:
    """What every cell of one N shares."""

    moto_url: str
    moto_pid: int
    proxy: CapturingProxy
    alpaca: AlpacaStandIn
    client: DynamoDBClient  # straight to moto: setup and checks, never measured


def _tables(infra: Infra, prefix: str) -> tuple[str, str]:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    state = state_table_name(name)
    AssetTable(infra.client, name).create()
    RunStateTable(infra.client, state).create()
    return name, state


def _drop(infra: Infra, *names: str) -> None:
    for name in names:
        infra.client.delete_table(TableName=name)


def _state_item(n: int) -> Item:
    """The state item as run 1, a successful load of `n` assets, left it."""
    report = RunReport(run_id=str(uuid.uuid4()), last_sync_timestamp=YESTERDAY)
    report.outcome, report.fetched, report.valid, report.created = Outcome.SUCCEEDED, n, n, n
    record = {"S": json.dumps(report.summary(), sort_keys=True, default=str)}
    return {
        **STATE_KEY,
        "last_run": record,
        "last_success": record,
        "last_run_outcome": {"S": Outcome.SUCCEEDED},
        "last_run_started_at": {"S": YESTERDAY},
        "last_sync_timestamp": {"S": YESTERDAY},
        "run_seq": {"N": "1"},
        "last_run_seq": {"N": "1"},
    }


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (from /proc/PID/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spawn(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one implementation in a child process; its JSON result."""
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*CODE_PATH, root])}
    done = subprocess.run(
        [sys.executable, "-m", "bench.worker", json.dumps(spec)],
        capture_output=True,
        env=env,
        text=True,
        timeout=3600,
        cwd=root,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _delisted(item: Item) -> Item:
    """`item` after the sync's delisting write (`diff_item`, as a run on an earlier day)."""
    stored = deserialize_item(item)
    plan = ItemPlan(str(stored["symbol"]), Action.DELIST)
    write = diff_item(plan, stored, YESTERDAY, run_seq=1)
    kept = {k: v for k, v in stored.items() if k not in write.remove}
    return serialize_item({**kept, **write.set_values})


def _start_items(scenario: Scenario, impl: str) -> tuple[dict[str, Item], dict[str, str]]:
    """The items a run of `impl` starts from, and the symbols carrying foreign attributes
    (with their asset ids)."""
    if scenario.start is None:
        return {}, {}
    base = sync_items(scenario.start) if impl == "asset_sync" else naive_items(scenario.start)
    ids = {str(asset["symbol"]): str(asset["id"]) for asset in scenario.start}
    sample = {symbol: ids[symbol] for symbol in foreign_sample(scenario.start, scenario)}
    for symbol in scenario.delisted_before if impl == "asset_sync" else ():
        base[symbol] = _delisted(base[symbol])
    for symbol, asset_id in sample.items():
        base[symbol] = {**base[symbol], **scenario.foreign_values(asset_id)}
    for index, symbol in enumerate(scenario.drift):
        base[symbol] = drift_edit(base[symbol], index)
    return base, sample


def _foreign_kept(
    infra: Infra, table: str, scenario: Scenario, sample: dict[str, str]
) -> tuple[int, int]:
    """How many sampled assets' attributes are on their asset's item after the run (and how
    many items a new asset took over carry none), out of how many."""
    wanted = {scenario.home(s, a): scenario.foreign_values(a) for s, a in sample.items()}
    items = batch_get(infra.client, table, sorted({*wanted, *scenario.new_holders}))
    kept = sum(
        all(items.get(key, {}).get(name) == value for name, value in values.items())
        for key, values in wanted.items()
    )
    kept += sum(
        not any(name in items.get(key, {}) for name in FOREIGN) for key in scenario.new_holders
    )
    return kept, len(wanted) + len(scenario.new_holders)


def _measure(infra: Infra, spec: dict[str, Any], ledger: Ledger, tables: tuple[str, str]) -> Run:
    """One run of the worker, with what the proxy, moto and the stand-in saw meanwhile."""
    infra.proxy.take()
    moto_cpu0 = process_cpu(infra.moto_pid)
    lookups0, lists0 = len(infra.alpaca.lookups), infra.alpaca.list_requests
    outcome = spawn(spec)
    moto_cpu = process_cpu(infra.moto_pid) - moto_cpu0
    stats, captures = infra.proxy.take()
    bill = ledger.bill(captures)
    run = Run(
        wall_s=outcome["wall_s"],
        cpu_s=outcome["cpu_s"],
        process_cpu_s=outcome["process_cpu_s"],
        peak_rss_mb=outcome["peak_rss_mb"],
        rss_before_mb=outcome["rss_before_mb"],
        moto_cpu_s=moto_cpu,
        code=outcome.get("code"),
        setup_s=0.0,
        load1=os.getloadavg()[0],
        requests=dict(sorted(stats.requests.items())),
        requests_total=stats.total(),
        write_requests=stats.total(WRITE_OPERATIONS),
        request_bytes=stats.request_bytes,
        response_bytes=stats.response_bytes,
        item_writes=bill.item_writes,
        failed_item_writes=bill.failed_item_writes,
        conditional_puts=bill.conditional_puts,
        base_wcu=bill.base_units,
        gsi_wcu=bill.index_units,
        gsi_wcu_by_index=dict(sorted(bill.index_units_by_name.items())),
        wcu=bill.total_units,
        assets_table_item_writes=bill.by_table.get(tables[0], 0),
        assets_wcu=bill.units_by_table.get(tables[0], 0),
        state_table_wcu=bill.units_by_table.get(tables[1], 0),
        transact_wcu=bill.transact_units,
        rcu=bill.read_units,
        rcu_by_op=dict(sorted(bill.read_units_by_op.items())),
        items_read=bill.items_read,
        alpaca_lookups=len(infra.alpaca.lookups) - lookups0,
        alpaca_lists=infra.alpaca.list_requests - lists0,
        phases=[(str(name), float(at)) for name, at in outcome.get("phases", [])],
        result=outcome["result"],
        check="",
    )
    if "profile" in outcome:
        run.profile = outcome["profile"]
    return run


def run_cell(
    infra: Infra,
    n: int,
    scenario: Scenario,
    impl: str,
    repetitions: int,
    log: Callable[[str], None],
    profile: bool = False,
) -> Cell:
    """Measure `repetitions` runs of `impl` on `scenario`; each run from the same start."""
    cell = Cell(n=n, scenario=scenario.name, impl=impl)
    start_items, sample = _start_items(scenario, impl)
    tables: tuple[str, str] | None = None
    ledger = Ledger()
    for repetition in range(repetitions):
        setup0 = time.perf_counter()
        if tables is None or scenario.start is None:
            if tables is not None:
                _drop(infra, *tables)
            tables = _tables(infra, f"b{n}_{scenario.name}_{impl}")
            ledger = Ledger()
            ledger.add_table(tables[0], ASSETS_SPEC.key, ASSETS_SPEC.indexes)
            ledger.add_table(tables[1], "pk")
            if start_items:
                batch_put(infra.client, tables[0], list(start_items.values()))
                for item in start_items.values():
                    ledger.put(tables[0], item)
                if impl == "asset_sync":
                    state = _state_item(n)
                    infra.client.put_item(TableName=tables[1], Item=state)
                    ledger.put(tables[1], state)
        else:  # restore what the previous run changed, delete what it created
            restore = sorted((scenario.touched | set(sample)) & set(start_items))
            batch_put(infra.client, tables[0], [start_items[s] for s in restore])
            for symbol in restore:
                ledger.put(tables[0], start_items[symbol])
            created = sorted(scenario.touched - set(start_items))
            batch_delete(infra.client, tables[0], created)
            for symbol in created:
                ledger.forget(tables[0], symbol)
        setup_s = time.perf_counter() - setup0
        spec = {
            "impl": impl,
            "table": tables[0],
            "state_table": tables[1],
            "endpoint_url": infra.proxy.url,
            "alpaca_url": infra.alpaca.base_url,
            "key_id": KEY_ID,
            "secret_key": SECRET,
            "now": _now(),
            "full": scenario.full,
            "profile": profile and repetition == 0,
        }
        run = _measure(infra, spec, ledger, tables)
        run.setup_s = setup_s
        if sample:
            run.foreign_survived, run.foreign_sample = _foreign_kept(
                infra, tables[0], scenario, sample
            )
        run.check = scenario.check(impl, n, run.result)
        cell.runs.append(run)
        log(
            f"  N={n:>6,} {scenario.name:<12} {impl:<12} run {repetition + 1}/{repetitions}: "
            f"{run.wall_s:7.1f} s, {run.write_requests:>6,} write req, "
            f"{run.wcu:>7,} WCU, {run.rcu:>8,.1f} RCU, "
            f"{run.response_bytes / 1e6:.1f} MB read, lookups {run.alpaca_lookups}, "
            f"rss {run.peak_rss_mb:.0f} MB, cpu {run.cpu_s:.1f} s, "
            f"moto cpu {run.moto_cpu_s:.1f} s, setup {setup_s:.1f} s, load {run.load1:.1f}, "
            f"check {run.check}"
        )
    if tables is not None:
        _drop(infra, *tables)
    return cell


def _now() -> str:
    from asset_sync.logic.sync import utc_timestamp  # noqa: PLC0415

    return utc_timestamp()

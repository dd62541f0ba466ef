"""Scenarios, starting states and one measured cell (N, scenario, implementation).

Each cell gets its own, uniquely named tables. Its starting state is written before the
measured window, straight to moto's server (not through the counting proxy), with
BatchWriteItem of exactly the items each implementation would have stored the day before:
for this project's sync `new_item` + `serialize_item` + `sync_version` 1 (what `put_new`
writes), for the naive peers their own record-as-is items. A sample of items also carries
attributes of another service (`last_pollenation_date`, `sector`).

Runs after the first of a cell start from the same state: the items the previous run changed
(the changed, delisted or drifted symbols) and the foreign-attribute sample are written back,
outside the window. Initial-load runs each get a new empty table.

The full-reconciliation scenarios (`sync --full`) exist for this project's sync only: the naive
peers have no such mode (they overwrite every item every day). Their drifted variant starts
from items edited by hand under an unchanged `sync_hash` (`drift_edit`), which only a full run
sees and repairs.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asset_sync.config import SyncSettings
from asset_sync.dal.assets import AssetTable
from asset_sync.dal.run_state import RunStateTable
from asset_sync.dal.serialization import serialize_item
from asset_sync.local.catalog import Asset, CatalogChanges, dumps_catalog, evolve_catalog
from asset_sync.local.dynamo_proxy import WRITE_OPERATIONS
from asset_sync.local.stand_in import AlpacaStandIn
from asset_sync.logic.item_writes import new_item
from asset_sync.logic.report import RunReport
from asset_sync.logic.validation import validate_catalog
from bench.capture import CapturingProxy
from bench.ledger import Ledger
from bench.units import Item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

YESTERDAY = "2025-06-01T04:00:00.000000Z"  # before any run's own timestamp
FOREIGN = {"last_pollenation_date": {"S": "2026-11-28"}, "sector": {"S": "Technology"}}
SCENARIOS = ("initial", "nochange", "changed1", "delisted5", "fullnochange", "fulldrift")
SCENARIO_TITLES = {
    "initial": "initial load (empty table)",
    "nochange": "re-run, no change",
    "changed1": "1% of assets changed",
    "delisted5": "5% delisted",
    "fullnochange": "full reconciliation, no change",
    "fulldrift": "full reconciliation, 0.1% drifted",
}
IMPLS = ("naive_put", "batch_writer", "asset_sync")
FULL_ONLY = ("fullnochange", "fulldrift")  # `sync --full`: (c) only, the peers have no such mode
DRIFT_FRACTION = 0.001
DELIST_CONFIRM_SAMPLE = SyncSettings().delist_confirm_sample  # lookups at most (default 50)
DELIST_LOOKUPS_PER_SECOND = SyncSettings().delist_lookups_per_second  # the pace (default 2)
IMPL_TITLES = {
    "naive_put": "(a) naive PutItem each",
    "batch_writer": "(b) batch_writer",
    "asset_sync": "(c) asset-sync",
}
KEY_ID, SECRET = "BENCHKEY0001", "bench-secret-not-real"


@dataclass
class Scenario:
    """What the table holds before (None: empty) and what the catalog serves."""

    name: str
    start: list[Asset] | None
    served: list[Asset]
    changes: CatalogChanges | None = None
    full: bool = False  # a full reconciliation (`sync --full`)
    drift: tuple[str, ...] = ()  # symbols whose stored item is edited by hand before the run

    @property
    def touched(self) -> set[str]:
        """Symbols whose item a correct run changes."""
        touched = set(self.drift)
        if self.changes is not None:
            touched |= set(self.changes.changed) | set(self.changes.delisted)
        return touched

    @property
    def impls(self) -> tuple[str, ...]:
        """The implementations measured on this scenario."""
        return ("asset_sync",) if self.name in FULL_ONLY else IMPLS


def make_scenarios(catalog: list[Asset], seed: int) -> dict[str, Scenario]:
    """The four scenarios on one catalog (every record active)."""
    changed, changed_info = evolve_catalog(
        catalog, seed, listings=0, delistings=0, flips=0.008, renames=0.002
    )
    delisted, delisted_info = evolve_catalog(
        catalog, seed + 1, listings=0, delistings=0.05, flips=0, renames=0
    )
    symbols = sorted(str(asset["symbol"]) for asset in catalog)
    k_drift = max(1, round(DRIFT_FRACTION * len(symbols)))
    drifted = tuple(symbols[len(symbols) // (2 * k_drift) :: len(symbols) // k_drift][:k_drift])
    return {
        "initial": Scenario("initial", None, catalog),
        "nochange": Scenario("nochange", catalog, catalog),
        "changed1": Scenario("changed1", catalog, changed, changed_info),
        "delisted5": Scenario("delisted5", catalog, delisted, delisted_info),
        "fullnochange": Scenario("fullnochange", catalog, catalog, full=True),
        "fulldrift": Scenario("fulldrift", catalog, catalog, full=True, drift=drifted),
    }


def drift_edit(item: Item, index: int) -> Item:
    """`item` as a hand edit left it, `sync_hash` untouched: a string, a bool, a number or a
    list changed, or an attribute removed (by `index`, in turn)."""
    edited = dict(item)
    kind = index % 5
    if kind == 0:
        edited["name"] = {"S": f"{item['name']['S']} (edited by hand)"}
    elif kind == 1:
        edited["tradable"] = {"BOOL": not item["tradable"]["BOOL"]}
    elif kind == 2 and "margin_requirement_long" in item:
        edited["margin_requirement_long"] = {"N": "99"}
    elif kind == 3:
        edited["attributes"] = {"L": [{"S": "edited_by_hand"}]}
    else:
        edited.pop("exchange", None)
    return edited


def foreign_sample(catalog: list[Asset], scenario: Scenario) -> list[str]:
    """About 1% of the symbols (20 to 200), including some the scenario changes or delists."""
    symbols = sorted(str(asset["symbol"]) for asset in catalog)
    step = max(1, len(symbols) // 150)
    sample = set(symbols[::step][:200])
    if scenario.changes is not None:
        sample.update(list(scenario.changes.changed)[:20])
        sample.update(list(scenario.changes.delisted)[:20])
    return sorted(sample)


def sync_items(catalog: list[Asset]) -> dict[str, Item]:
    """The items this project's sync stores for `catalog` (as `put_new` writes them)."""
    validated = validate_catalog(dumps_catalog(catalog))
    return {
        symbol: serialize_item(new_item(asset, YESTERDAY, run_seq=1))
        for symbol, asset in validated.assets.items()
    }


def naive_items(catalog: list[Asset]) -> dict[str, Item]:
    """The items the naive peers store for `catalog`."""
    from boto3.dynamodb.types import TypeSerializer  # noqa: PLC0415

    from bench.naive import to_item  # noqa: PLC0415

    serializer = TypeSerializer()
    decoded: list[dict[str, Any]] = json.loads(dumps_catalog(catalog), parse_float=_decimal)
    items: dict[str, Item] = {}
    for asset in decoded:
        item: Item = {}
        for name, value in to_item(asset, YESTERDAY).items():
            item[name] = dict(serializer.serialize(value))
        items[str(asset["symbol"])] = item
    return items


def _decimal(text: str) -> object:
    from decimal import Decimal  # noqa: PLC0415

    return Decimal(text)


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


@dataclass
class CellResult:
    """One (N, scenario, implementation) cell: every run, and their medians."""

    n: int
    scenario: str
    impl: str
    runs: list[dict[str, Any]] = field(default_factory=list)

    def median(self, key: str) -> float:
        """Median of a numeric per-run figure."""
        return float(statistics.median(run[key] for run in self.runs))

    def to_json(self) -> dict[str, Any]:
        """Raw form for bench/results."""
        return {"n": self.n, "scenario": self.scenario, "impl": self.impl, "runs": self.runs}


def _tables(infra: Infra, prefix: str) -> tuple[str, str]:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    settings = SyncSettings(assets_table=name, state_table=f"{name}_sync_state")
    AssetTable(infra.client, settings.assets_table).create()
    RunStateTable(infra.client, settings.state_table).create()
    return settings.assets_table, settings.state_table


def _drop(infra: Infra, *names: str) -> None:
    for name in names:
        infra.client.delete_table(TableName=name)


def _state_item(n: int) -> Item:
    report = RunReport(run_id=str(uuid.uuid4()), last_sync_timestamp=YESTERDAY)
    report.outcome, report.fetched, report.valid, report.created = "succeeded", n, n, n
    record = {"S": json.dumps(report.summary(), sort_keys=True, default=str)}
    return {
        "pk": {"S": "asset-sync"},
        "last_run": record,
        "last_success": record,
        "last_run_outcome": {"S": "succeeded"},
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


CODE_PATH: list[str] = []  # set by bench.run: the snapshot of src/ the workers import


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
        cwd=Path(__file__).resolve().parent.parent,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_cell(
    infra: Infra,
    n: int,
    scenario: Scenario,
    impl: str,
    repetitions: int,
    log: Callable[[str], None],
    profile: bool = False,
) -> CellResult:
    """Measure `repetitions` runs of `impl` on `scenario`; each run from the same start."""
    cell = CellResult(n, scenario.name, impl)
    start_items: dict[str, Item] = {}
    sample: list[str] = []
    if scenario.start is not None:
        base = sync_items(scenario.start) if impl == "asset_sync" else naive_items(scenario.start)
        sample = foreign_sample(scenario.start, scenario)
        for symbol in sample:
            base[symbol] = {**base[symbol], **FOREIGN}
        for index, symbol in enumerate(scenario.drift):
            base[symbol] = drift_edit(base[symbol], index)
        start_items = base
    tables: tuple[str, str] | None = None
    ledger = Ledger()
    for repetition in range(repetitions):
        setup0 = time.perf_counter()
        if tables is None or scenario.start is None:
            if tables is not None:
                _drop(infra, *tables)
            tables = _tables(infra, f"b{n}_{scenario.name}_{impl}")
            ledger = Ledger()
            ledger.add_table(tables[0], "symbol", "status")
            ledger.add_table(tables[1], "pk")
            if start_items:
                batch_put(infra.client, tables[0], list(start_items.values()))
                for item in start_items.values():
                    ledger.put(tables[0], item)
                if impl == "asset_sync":
                    state = _state_item(n)
                    infra.client.put_item(TableName=tables[1], Item=state)
                    ledger.put(tables[1], state)
        else:  # restore what the previous run changed
            restore = sorted((scenario.touched | set(sample)) & set(start_items))
            batch_put(infra.client, tables[0], [start_items[s] for s in restore])
            for symbol in restore:
                ledger.put(tables[0], start_items[symbol])
        setup_s = time.perf_counter() - setup0
        infra.proxy.take()
        moto_cpu0 = process_cpu(infra.moto_pid)
        lookups0, lists0 = len(infra.alpaca.lookups), infra.alpaca.list_requests
        outcome = spawn(
            {
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
        )
        moto_cpu = process_cpu(infra.moto_pid) - moto_cpu0
        stats, captures = infra.proxy.take()
        bill = ledger.bill(captures)
        run: dict[str, Any] = {
            "wall_s": outcome["wall_s"],
            "cpu_s": outcome["cpu_s"],
            "process_cpu_s": outcome["process_cpu_s"],
            "peak_rss_mb": outcome["peak_rss_mb"],
            "rss_before_mb": outcome["rss_before_mb"],
            "moto_cpu_s": moto_cpu,
            "code": outcome.get("code"),
            "setup_s": setup_s,
            "load1": os.getloadavg()[0],
            "requests": dict(sorted(stats.requests.items())),
            "requests_total": stats.total(),
            "write_requests": stats.total(WRITE_OPERATIONS),
            "request_bytes": stats.request_bytes,
            "response_bytes": stats.response_bytes,
            "item_writes": bill.item_writes,
            "failed_item_writes": bill.failed_item_writes,
            "conditional_puts": bill.conditional_puts,
            "base_wcu": bill.base_units,
            "gsi_wcu": bill.index_units,
            "wcu": bill.total_units,
            "assets_table_item_writes": bill.by_table.get(tables[0], 0),
            "assets_wcu": bill.units_by_table.get(tables[0], 0),
            "state_table_wcu": bill.units_by_table.get(tables[1], 0),
            "transact_wcu": bill.transact_units,
            "rcu": bill.read_units,
            "rcu_by_op": dict(sorted(bill.read_units_by_op.items())),
            "items_read": bill.items_read,
            "alpaca_lookups": len(infra.alpaca.lookups) - lookups0,
            "alpaca_lists": infra.alpaca.list_requests - lists0,
            "phases": outcome.get("phases", []),
            "result": outcome["result"],
        }
        if "profile" in outcome:
            run["profile"] = outcome["profile"]
        if sample:
            items = batch_get(infra.client, tables[0], sample)
            kept = [
                s for s in sample if all(items.get(s, {}).get(k) == v for k, v in FOREIGN.items())
            ]
            run["foreign_sample"] = len(sample)
            run["foreign_survived"] = len(kept)
        run["check"] = check(impl, scenario, run["result"], n)
        cell.runs.append(run)
        log(
            f"  N={n:>6,} {scenario.name:<12} {impl:<12} run {repetition + 1}/{repetitions}: "
            f"{run['wall_s']:7.1f} s, {run['write_requests']:>6,} write req, "
            f"{run['wcu']:>7,} WCU, {run['rcu']:>8,.1f} RCU, "
            f"{run['response_bytes'] / 1e6:.1f} MB read, lookups {run['alpaca_lookups']}, "
            f"rss {run['peak_rss_mb']:.0f} MB, cpu {run['cpu_s']:.1f} s, "
            f"moto cpu {moto_cpu:.1f} s, setup {setup_s:.1f} s, load {run['load1']:.1f}, "
            f"check {run['check']}"
        )
    if tables is not None:
        _drop(infra, *tables)
    return cell


def _now() -> str:
    from asset_sync.logic.sync import utc_timestamp  # noqa: PLC0415

    return utc_timestamp()


def check(impl: str, scenario: Scenario, result: dict[str, Any], n: int) -> str:
    """Whether the run did what the scenario asks ("ok" or what differs)."""
    if result.get("outcome") != "succeeded":
        return f"outcome {result.get('outcome')}: {result.get('message', '')}"
    delisted = len(scenario.changes.delisted) if scenario.changes else 0
    served = len(scenario.served)
    if impl == "asset_sync":
        drifted = len(scenario.drift)
        counts: dict[str, int] = {
            "initial": {"created": n},
            "nochange": {"unchanged": n},
            "changed1": {"updated": len(scenario.touched), "unchanged": n - len(scenario.touched)},
            "delisted5": {
                "delisted": delisted,
                "unchanged": served,
                "delist_candidates": delisted,
                "delist_lookups": min(delisted, DELIST_CONFIRM_SAMPLE),
            },
            "fullnochange": {"unchanged": n, "repaired": 0, "updated": 0},
            "fulldrift": {"repaired": drifted, "unchanged": n - drifted, "updated": 0},
        }[scenario.name]
        expected: dict[str, object] = {**counts, "full": scenario.full}
    else:
        expected = {"put": served, "delisted": delisted}
    wrong = {k: (result.get(k), v) for k, v in expected.items() if result.get(k) != v}
    return "ok" if not wrong else f"mismatch {wrong}"

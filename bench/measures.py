"""What `bench.run` measures besides the cells: the machine, the catalogs, item sizes, the
planner's memory per item and the handler's import time."""

from __future__ import annotations

import datetime as dt
import gc
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import tracemalloc
from importlib.metadata import version
from pathlib import Path

from asset_sync.dal.assets import state_from_item
from asset_sync.dal.serialization import deserialize_item
from asset_sync.local.catalog import Asset, generate_catalog
from asset_sync.local.moto_server import LOCAL_CREDENTIALS
from asset_sync.logic.models import ACTIVE
from bench.records import ImportTime, ItemBytes, Meta, StateBytes
from bench.scenarios import naive_items, sync_items
from bench.units import item_size

# What a plain run's status-index Query projects to (written out in AssetTable.read_active).
PLAIN_PROJECTION = ("symbol", "sync_hash", "asset_class")


def machine(mode: str, src_digest: str, repetitions_note: str) -> Meta:
    """What the doc says about the machine and versions."""
    model = "unknown"
    with Path("/proc/cpuinfo").open(encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with Path("/proc/meminfo").open(encoding="utf-8") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return Meta(
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        cpu_model=model,
        nproc=os.cpu_count() or 1,
        mem_gb=mem_kb / 1024 / 1024,
        python=platform.python_version(),
        moto=version("moto"),
        boto3=version("boto3"),
        botocore=version("botocore"),
        mode=mode,
        src_digest=src_digest,
        repetitions_note=repetitions_note,
    )


def equity_catalog(n: int) -> list[Asset]:
    """`n` generated us_equity records: what Alpaca's `/v2/assets` returns by default, so the
    naive peers (which send no `asset_class`) and the sync fetch the same catalog."""
    catalog = [a for a in generate_catalog(n * 11 // 10 + 50, seed=n) if a["class"] == "us_equity"]
    assert len(catalog) >= n, "the generator's class mix changed"
    return catalog[:n]


def item_bytes(n: int) -> ItemBytes:
    """Mean and largest item size (DynamoDB's rules) as each implementation stores them."""
    catalog = equity_catalog(n)
    sync = [item_size(item) for item in sync_items(catalog).values()]
    naive = [item_size(item) for item in naive_items(catalog).values()]
    return ItemBytes(
        asset_sync_mean=statistics.mean(sync),
        asset_sync_max=max(sync),
        naive_mean=statistics.mean(naive),
        naive_max=max(naive),
    )


def state_bytes(n: int) -> StateBytes:
    """Python memory per item of the planner's view of the table (tracemalloc): whole items
    (a full reconciliation keeps `CurrentState.values`) and the plain run's projection."""
    items = list(sync_items(equity_catalog(n)).values())
    per_item: dict[bool, float] = {}
    for whole in (True, False):
        gc.collect()
        tracemalloc.start()
        states = {}
        for raw in items:
            kept = raw if whole else {k: v for k, v in raw.items() if k in PLAIN_PROJECTION}
            item = deserialize_item(kept)
            symbol = str(item["symbol"])
            states[symbol] = state_from_item(symbol, {**item, "status": ACTIVE}, whole=whole)
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        per_item[whole] = held / len(items)
        del states
    return StateBytes(whole_per_item=per_item[True], projected_per_item=per_item[False])


def import_time(samples: int = 5) -> ImportTime:
    """Handler import: `-X importtime` cumulative and a fresh interpreter's wall time."""
    env = {**os.environ, **LOCAL_CREDENTIALS}
    python = sys.executable
    cumulative: list[float] = []
    fresh: list[float] = []
    bare: list[float] = []
    top: dict[str, float] = {}
    for _ in range(samples):
        done = subprocess.run(
            [python, "-X", "importtime", "-c", "import asset_sync.handler"],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        for line in done.stderr.splitlines():
            match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", line)
            if not match:
                continue
            name, micros = match.group(3), int(match.group(2))
            if name == "asset_sync.handler":
                cumulative.append(micros / 1000)
            elif "." not in name and name != "asset_sync":
                top[name] = max(top.get(name, 0.0), micros / 1000)
        for code, into in (("import asset_sync.handler", fresh), ("pass", bare)):
            start = time.perf_counter()
            subprocess.run([python, "-c", code], env=env, check=True)
            into.append((time.perf_counter() - start) * 1000)
    biggest = sorted(top.items(), key=lambda kv: -kv[1])[:6]
    return ImportTime(
        importtime_ms=[round(v) for v in cumulative],
        importtime_ms_median=statistics.median(cumulative),
        fresh_interpreter_ms_median=statistics.median(fresh),
        bare_interpreter_ms_median=statistics.median(bare),
        top=", ".join(f"`{name}` {ms:.0f}" for name, ms in biggest),
    )

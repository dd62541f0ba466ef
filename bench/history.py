"""`python -m bench.history`: the cost of history (issue 24), on moto's server like the rest.

    python -m bench.history            # N = 35,000 assets and a year of versions
    python -m bench.history --quick    # N = 2,000 and 30 days, to a temporary file

Measured, and recorded in bench/results/history.json (the figures docs/history.md quotes):

1. Writing. Real syncs (moto's server, the Alpaca stand-in) of a generated catalog (day 1), of
   the next day as `evolve_catalog` makes it (day 2), and again unchanged; the assets table's
   stream (`TableStream`) goes to the real history writer in batches of 100 records, as the
   event source mapping hands them over, through a proxy that counts its requests. Per change:
   versions, write requests, write units (by DynamoDB's rules, from each item's size: one unit
   per KB of the item, plus one for its `symbol-index` entry, keys only).
2. A year. Day 2's versions per day is the observed rate; a year of it on N assets is built
   with `evolve_catalog` day after day (every listing, delisting and changed record one version,
   as the writer records them) and written to a history table of its own.
3. Reading. `universe --as-of` (the Python API behind it) at the end of the year and on its
   first day (both read every version), and `show SYMBOL --history`: wall and CPU time,
   requests, and read units (0.5 per 4 KB read, eventually consistent, rounded up per request).

Self-contained: it imports the package and the standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from asset_sync.config import AlpacaCredentials, SyncSettings
from asset_sync.dal.client import dynamodb_client
from asset_sync.dal.history import HistoryTable
from asset_sync.dal.serialization import serialize
from asset_sync.events.clock import Deadline, SystemClock
from asset_sync.history.api import History
from asset_sync.history.backfill import backfill
from asset_sync.history.model import parse_moment, universe
from asset_sync.history.versions import Version, timestamp, version_of_record
from asset_sync.history.writer import Writer, process
from asset_sync.local.catalog import dumps_catalog, evolve_catalog, generate_catalog
from asset_sync.local.dynamo_proxy import DynamoProxy
from asset_sync.local.moto_server import LOCAL_CREDENTIALS, MotoServer
from asset_sync.local.stand_in import AlpacaStandIn
from asset_sync.local.stream import TableStream
from asset_sync.logic.models import ACTIVE, INACTIVE
from asset_sync.logic.validation import validate_catalog
from asset_sync.wiring import build_run, tables

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "history.json"
MOTO_UNIVERSE_LIMIT = 50_000  # versions: above it, moto's Query is too slow to measure a read
READ_TIMEOUT = 900.0  # seconds, for the reads of a year of versions from moto
KEY = AlpacaCredentials("BENCHKEY0001", "bench-secret-not-real")
MAPPING_BATCH = 100  # records per invocation, as the stack's event source mapping hands them
KB, READ_BLOCK = 1024, 4096
STORAGE_PER_GB_MONTH = 0.25  # DynamoDB Standard, us-east-1 (check the pricing page)
PITR_PER_GB_MONTH = 0.20
READ_PER_MILLION = 0.125  # on-demand read request units
WRITE_PER_MILLION = 0.625  # on-demand write request units


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- sizes and units, by DynamoDB's rules (a version item holds strings only) --------------------


def item_bytes(item: Mapping[str, Mapping[str, Any]]) -> int:
    """An item's size: each attribute's name plus its value (UTF-8; every value is a string)."""
    return sum(len(name.encode()) + len(str(value["S"]).encode()) for name, value in item.items())


def index_entry_bytes(item: Mapping[str, Mapping[str, Any]]) -> int:
    """The item's `symbol-index` entry (keys only: the index key and the table's keys)."""
    return item_bytes({name: item[name] for name in ("symbol", "shard", "key")})


def write_units(version: Version) -> int:
    """Units of writing one version: the item (1 per KB, rounded up) and its index entry."""
    item = version.to_item()
    return -(-item_bytes(item) // KB) + -(-index_entry_bytes(item) // KB)


def read_units(page_bytes: Sequence[int]) -> float:
    """Query, eventually consistent: 0.5 per 4 KB read, each request rounded up."""
    return sum(max(1, -(-size // READ_BLOCK)) * 0.5 for size in page_bytes)


# -- 1. writing: real syncs, the real writer -----------------------------------------------------


def write_versions(
    records: Sequence[Mapping[str, Any]], writer: Writer, proxy: DynamoProxy
) -> dict[str, Any]:
    """The writer on `records` in batches of 100: versions, requests, units."""
    proxy.reset_stats()
    written = ignored = 0
    units = 0
    for start in range(0, len(records), MAPPING_BATCH):
        batch = records[start : start + MAPPING_BATCH]
        outcome = process(batch, writer, Deadline.after(writer.clock, 600))
        assert outcome.retry_from is None and outcome.quarantined == 0, outcome
        written += outcome.written
        ignored += outcome.ignored
        made = (version_of_record(record) for record in batch)
        units += sum(write_units(version) for version in made if version is not None)
    stats = proxy.reset_stats()
    return {
        "records": len(records),
        "versions": written,
        "records_without_version": ignored,
        "write_requests": stats.total(["BatchWriteItem", "PutItem"]),
        "request_bytes": stats.request_bytes,
        "units": units,
    }


def measure_writing(moto_url: str, assets: int, seed: int) -> dict[str, Any]:
    """Days 1 and 2 and an unchanged run, with the writer behind a counting proxy."""
    catalog = generate_catalog(assets, seed)
    with (
        AlpacaStandIn(catalog, key_id=KEY.key_id, secret_key=KEY.secret_key) as alpaca,
        DynamoProxy(moto_url) as proxy,
    ):
        name = f"bench_history_{os.getpid()}"
        settings = SyncSettings(
            assets_table=name,
            state_table=f"{name}_sync_state",
            dynamodb_endpoint_url=moto_url,
            alpaca_base_url=alpaca.base_url,
            credentials=KEY,
            asset_classes=tuple(sorted({str(a["class"]) for a in catalog})),
            delist_lookups_per_second=50.0,
            full_reconcile_days=0,
        )
        assets_table, state = tables(settings)
        assets_table.create()
        state.create()
        history = HistoryTable(dynamodb_client("us-east-1", moto_url), f"{name}_history")
        history.create()
        writer_table = HistoryTable(dynamodb_client("us-east-1", proxy.url), history.table_name)
        writer = Writer(writer_table, SystemClock())
        backfill(assets_table.client, name, history, timestamp(datetime.now(UTC)))
        stream = TableStream(name, moto_url)
        days: dict[str, Any] = {}
        for label, day_catalog in (
            ("day 1: first load", catalog),
            ("day 2: the next day", evolve_catalog(catalog, seed + 1)[0]),
            ("day 2 again: unchanged", None),
        ):
            if day_catalog is not None:
                alpaca.set_assets(day_catalog)
            log(f"{label}: sync")
            report = build_run(replace(settings, force=True)).run()
            records = stream.read_new()
            log(f"{label}: {len(records):,} stream records -> the history writer")
            written = write_versions(records, writer, proxy)
            changes = (
                report.created
                + report.updated
                + report.delisted
                + report.reactivated
                + report.renamed
                + report.repaired
            )
            days[label] = {
                "changes": changes,
                "sync_write_requests": report.dynamodb_write_requests,
                "versions_stored": len(history.versions()),
                **written,
            }
            log(f"{label}: {days[label]}")
    return days


# -- 2. a year of versions at the observed rate --------------------------------------------------


def states_of(records: Sequence[dict[str, object]]) -> dict[str, dict[str, Any]]:
    """Each record's owned state, as the sync stores it (validated, DynamoDB JSON)."""
    validated = validate_catalog(dumps_catalog(records))
    return {
        symbol: {
            "status": {"S": ACTIVE},
            **{name: serialize(value) for name, value in asset.content.items()},
        }
        for symbol, asset in validated.assets.items()
    }


def _version(
    ids: Mapping[str, str], symbol: str, state: dict[str, Any], day: date, run: int
) -> Version:
    at = f"{day.isoformat()}T04:00:00.000000Z"
    return Version(ids[symbol], f"{run:012d}", symbol, state, at, "catalog", run, "list")


def year_of_versions(assets: int, days: int, seed: int, first: date) -> Iterator[list[Version]]:
    """Day after day of `evolve_catalog`: the versions each day makes (day 1: every asset)."""
    catalog = generate_catalog(assets, seed)
    ids = {str(a["symbol"]): str(a["id"]) for a in catalog}
    yield [_version(ids, s, state, first, 1) for s, state in states_of(catalog).items()]
    for number in range(1, days):
        day, run = first + timedelta(days=number), number + 1
        before = {str(a["symbol"]): a for a in catalog}
        catalog, changes = evolve_catalog(catalog, seed + number)
        ids |= {str(a["symbol"]): str(a["id"]) for a in catalog}
        now = {str(a["symbol"]): a for a in catalog}
        touched = [now[s] for s in (*changes.listed, *changes.changed)]
        versions = [_version(ids, s, st, day, run) for s, st in states_of(touched).items()]
        gone = states_of([before[s] for s in changes.delisted])
        inactive = {"status": {"S": INACTIVE}}
        versions += [_version(ids, s, {**st, **inactive}, day, run) for s, st in gone.items()]
        yield versions


def build_year(
    moto_url: str, assets: int, days: int, seed: int, first: date
) -> tuple[HistoryTable, dict[str, Any]]:
    """The year written to its own history table; its size by DynamoDB's rules."""
    history = HistoryTable(
        dynamodb_client("us-east-1", moto_url, max_pool_connections=16),
        f"bench_year_{os.getpid()}",
    )
    history.create()
    history.mark_begun(f"{first.isoformat()}T03:00:00.000000Z", None)
    count = item_total = index_total = 0
    per_day: list[int] = []
    per_shard: dict[str, int] = {}
    wire: dict[str, list[dict[str, Any]]] = {}  # the items of each shard, as DynamoDB sends them
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for number, versions in enumerate(year_of_versions(assets, days, seed, first)):
            chunks = [versions[i : i + 500] for i in range(0, len(versions), 500)]
            list(pool.map(history.put_versions, chunks))
            items = [v.to_item() for v in versions]
            for item in items:
                shard = str(item["shard"]["S"])
                per_shard[shard] = per_shard.get(shard, 0) + item_bytes(item)
                wire.setdefault(shard, []).append(item)
            count += len(items)
            item_total += sum(item_bytes(item) for item in items)
            index_total += sum(index_entry_bytes(item) for item in items)
            if number:
                per_day.append(len(versions))
            if number % 30 == 0:
                log(f"year: day {number + 1}, {count:,} versions written")
    return history, {
        "days": days,
        "versions": count,
        "versions_per_day_median": statistics.median(per_day) if per_day else 0,
        "table_bytes": item_total,
        "index_bytes": index_total,
        "mean_version_bytes": round(item_total / count),
        "build_seconds": round(time.monotonic() - started, 1),
        "shard_bytes": per_shard,
        "wire_items": wire,
    }


# -- 3. reading ----------------------------------------------------------------------------------


def pages(size: int, limit: int = 1024 * KB) -> list[int]:
    """A shard's bytes as the 1 MB pages a Query returns them in."""
    return [limit] * (size // limit) + ([size % limit] if size % limit else [])


def timed(call: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.monotonic(), time.process_time()
    result = call()
    return result, time.monotonic() - wall, time.process_time() - cpu


def client_work(
    wire: Mapping[str, Sequence[Mapping[str, Any]]], until: datetime
) -> tuple[int, float, float]:
    """What the client does with DynamoDB's answers to a universe read, in process: each
    shard's items decoded from the JSON of their 1 MB pages, made versions, and the universe
    selected. The assets, wall and CPU seconds."""
    bodies = [json.dumps({"Items": list(items)}) for items in wire.values()]
    wall, cpu = time.monotonic(), time.process_time()
    versions = [Version.from_item(item) for body in bodies for item in json.loads(body)["Items"]]
    assets = universe(versions, until)
    return len(assets), time.monotonic() - wall, time.process_time() - cpu


def measure_reading(
    moto_url: str,
    history_name: str,
    first: date,
    days: int,
    per_shard: Mapping[str, int],
    wire: Mapping[str, Sequence[Mapping[str, Any]]],
) -> dict[str, Any]:
    """`universe --as-of` twice and `show --history` once, through a counting proxy; the
    universe over moto only up to MOTO_UNIVERSE_LIMIT versions (moto's Query walks every item
    of the table for each page it returns: a year at 35,000 assets would take hours), and the
    client's own work in process at any size."""
    with DynamoProxy(moto_url, upstream_timeout=READ_TIMEOUT) as proxy:
        table = HistoryTable(
            # moto's server answers a Query of a partition holding a year of versions in
            # seconds, and 32 of them at once far slower than DynamoDB: a long read timeout
            dynamodb_client(
                "us-east-1", proxy.url, max_pool_connections=16, read_timeout=READ_TIMEOUT
            ),
            history_name,
        )
        reader = History(table)
        page_sizes = [page for size in per_shard.values() for page in pages(size)]
        last = first + timedelta(days=days - 1)
        versions = sum(len(items) for items in wire.values())
        out: dict[str, Any] = {
            "read_units_per_universe": read_units(page_sizes),
            "requests_per_universe": {"GetItem": 1, "Query": len(page_sizes)},
            "largest_shard_pages": max(len(pages(size)) for size in per_shard.values()),
        }
        days_read = (("as of the last day", last), ("as of the first day", first))
        for label, day in days_read:
            until = parse_moment(day.isoformat(), datetime.now(UTC)).until
            count, wall, cpu = client_work(wire, until)
            out[f"client, {label}"] = {
                "assets": count,
                "versions": versions,
                "wall_seconds": round(wall, 1),
                "cpu_seconds": round(cpu, 1),
            }
            log(f"client work {label}: {out[f'client, {label}']}")
        for label, day in days_read if versions <= MOTO_UNIVERSE_LIMIT else ():
            proxy.reset_stats()
            moment = parse_moment(day.isoformat(), datetime.now(UTC))
            assets, wall, cpu = timed(partial(reader.universe, moment))
            stats = proxy.reset_stats()
            out[label] = {
                "assets": len(assets),
                "wall_seconds": round(wall, 1),
                "client_cpu_seconds": round(cpu, 1),
                "requests": dict(stats.requests),
                "response_bytes": stats.response_bytes,
            }
            log(f"universe {label}: {out[label]}")
        symbol = min(str(i["symbol"]["S"]) for items in wire.values() for i in items)
        proxy.reset_stats()
        found, wall, cpu = timed(lambda: reader.asset_history(symbol))
        out["show --history"] = {
            "symbol": symbol,
            "versions": len(found),
            "wall_seconds": round(wall, 2),
            "requests": dict(proxy.reset_stats().requests),
        }
        return out


def run(assets: int, days: int, seed: int, output: Path) -> dict[str, Any]:
    os.environ.update(LOCAL_CREDENTIALS)
    started = time.monotonic()
    with MotoServer() as moto:
        writing = measure_writing(moto.url, assets, seed)
        day2 = writing["day 2: the next day"]
        first = datetime.now(UTC).date() - timedelta(days=days)
        history, year = build_year(moto.url, assets, days, seed, first)
        per_shard = year.pop("shard_bytes")
        wire = year.pop("wire_items")
        reading = measure_reading(moto.url, history.table_name, first, days, per_shard, wire)
    year_gb = (year["table_bytes"] + year["index_bytes"]) / 1024**3
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "load_average": os.getloadavg(),
        "assets": assets,
        "writing": writing,
        "per_change": {
            "versions": day2["versions"] / day2["changes"] if day2["changes"] else None,
            "write_requests": day2["write_requests"] / day2["versions"],
            "write_units": day2["units"] / day2["versions"],
        },
        "observed_rate": {
            "changes_per_day": day2["changes"],
            "share_of_assets": day2["changes"] / assets,
        },
        "year": {
            **year,
            "gb": round(year_gb, 3),
            "storage_and_pitr_per_month_usd": round(
                year_gb * (STORAGE_PER_GB_MONTH + PITR_PER_GB_MONTH), 3
            ),
            "write_usd": round(
                (year["versions"] * day2["units"] / day2["versions"]) * WRITE_PER_MILLION / 1e6, 3
            ),
        },
        "reading": {
            **reading,
            "usd_per_universe": round(
                reading["read_units_per_universe"] * READ_PER_MILLION / 1e6, 5
            ),
        },
        "bench_seconds": round(time.monotonic() - started),
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 2,000 and 30 days")
    parser.add_argument("--assets", type=int, default=None)
    parser.add_argument("--days", type=int, default=None)
    parser.add_argument("--seed", type=int, default=24)
    args = parser.parse_args(argv)
    assets = args.assets or (2_000 if args.quick else 35_000)
    days = args.days or (30 if args.quick else 365)
    output = Path(tempfile.mkdtemp()) / "history.json" if args.quick else RESULTS
    result = run(assets, days, args.seed, output)
    print(json.dumps(result, indent=2))
    log(f"written to {output}")
    return 0


if __name__ == "__main__":
    random.seed(24)
    sys.exit(main())

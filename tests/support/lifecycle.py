"""Helpers for the run-lifecycle suites: a proxy that watches (and can hold) asset writes, the
catalogs both days use, and checks that a table holds only whole items and the counts it claims.

Everything binds to 127.0.0.1 and every wait is bounded.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.support import Env
from tests.support.reliability import (
    child_env,
    hash_matches_content,
    owned_view,
    start_cli,
    wait_until,
)

from asset_sync.local.catalog import Asset, evolve_catalog, generate_catalog
from asset_sync.local.dynamo_proxy import DynamoProxy

SIZE = 300
# us_equity only: what a run with the default scope fetches. Day 2 lists and changes assets but
# delists none and renames none, so every planned write is one item going from old to new.
DAY1: list[Asset] = [a for a in generate_catalog(SIZE, seed=41) if a["class"] == "us_equity"]
DAY2: list[Asset] = [
    a
    for a in evolve_catalog(DAY1, seed=42, listings=0.1, delistings=0.0, flips=0.6, renames=0.0)[0]
    if a["class"] == "us_equity"
]
PACE = "40"  # MAX_WRITES_PER_SECOND for the child runs: a whole day-1 run takes ~7 s
WRITE_COUNTERS = ("created", "updated", "reactivated", "delisted", "repaired")
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
Owned = dict[str, dict[str, Any]]


class WriteWatch(DynamoProxy):
    """A counting proxy that also counts asset writes (PutItem/UpdateItem on the assets table)
    when they arrive and once they have been applied, and can hold them `hold_seconds` before
    forwarding (writes in flight that take a while), once `hold_after` writes arrived. It can
    also hold the run lease's acquisition `hold_acquire` seconds (`acquiring` while it does)."""

    def __init__(self, upstream: str, assets_table: str) -> None:
        super().__init__(upstream)
        self.assets_table = assets_table
        self.arrived = 0
        self.applied = 0
        self.holding = 0
        self.hold_seconds = 0.0
        self.hold_after: int | None = None
        self.hold_acquire = 0.0
        self.acquiring = False
        self._count_lock = threading.Lock()

    def _forward(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        operation = str(headers.get("X-Amz-Target", "")).rsplit(".", 1)[-1]
        if operation == "UpdateItem" and b"lock_acquired_at = :acquired" in body:
            self.acquiring = True  # taking the lease: only the acquire sets lock_acquired_at
            time.sleep(self.hold_acquire)
            self.acquiring = False
        if operation not in ("PutItem", "UpdateItem") or not self._is_asset_write(body):
            return super()._forward(method, path, headers, body)
        with self._count_lock:
            self.arrived += 1
            hold = self.hold_after is not None and self.arrived > self.hold_after
            self.holding += int(hold)
        if hold:
            time.sleep(self.hold_seconds)
        try:
            return super()._forward(method, path, headers, body)
        finally:
            with self._count_lock:
                self.applied += 1
                self.holding -= int(hold)

    def _is_asset_write(self, body: bytes) -> bool:
        try:
            return bool(json.loads(body).get("TableName") == self.assets_table)
        except ValueError:
            return False

    def settled(self, timeout: float = 10.0) -> int:
        """Wait (bounded) until no write is held or arrives for 0.5 s; the writes applied."""
        seen = -1
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.holding == 0 and self.applied == seen:
                break
            seen = self.applied
            time.sleep(0.5)
        return self.applied


@dataclass
class Expected:
    """Owned attributes of every item after clean day-1 and day-2 runs."""

    day1: Owned
    day2: Owned


def start_sync(env: Env, proxy: DynamoProxy, *args: str, **extra: str) -> subprocess.Popen[str]:
    """`asset-sync sync --json ...` (the unchanged CLI) through `proxy`, at a slow pace."""
    settings = {"AWS_ENDPOINT_URL_DYNAMODB": proxy.url, "MAX_WRITES_PER_SECOND": PACE, **extra}
    cli_env = child_env(env.cli_env(), **settings)
    return start_cli("sync", "--json", *args, env=cli_env, fast=False)


def signal_at(process: subprocess.Popen[str], reached: Any, sig: int, timeout: float = 60) -> None:
    """Send `sig` once `reached()` holds; fail if the run ended before."""
    assert wait_until(lambda: reached() or process.poll() is not None, timeout, 0.002)
    assert process.poll() is None, "the sync ended before the signal point"
    os.kill(process.pid, sig)


def split_items(snapshot: Owned, old: Owned, new: Owned) -> tuple[set[str], set[str]]:
    """The symbols whose owned attributes are exactly `old`'s / exactly `new`'s; every item
    must be one or the other (and its hash must match its content)."""
    olds, news = set(), set()
    for symbol, item in owned_view(snapshot).items():
        if symbol in new and item == new[symbol]:
            news.add(symbol)
        else:
            assert symbol in old and item == old[symbol], f"{symbol} mixes old and new attributes"
            olds.add(symbol)
        assert hash_matches_content(snapshot[symbol]), symbol
    return olds, news


def written(counts: Mapping[str, Any]) -> int:
    """Items a report (or a stored run record) says it wrote."""
    return sum(int(counts[name]) for name in WRITE_COUNTERS)


def signal_name(sig: int) -> str:
    """`SIGINT` / `SIGTERM`."""
    return signal.Signals(sig).name


def stop_line(stderr: str, sig: int) -> str:
    """The one line that says what a stopped run wrote (its last line on stderr)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "nothing on stderr"
    last = lines[-1]
    name = signal_name(sig)
    assert re.fullmatch(
        rf"asset-sync: stopped \({name}\) after writing [\d,]+ of [\d,]+ planned changes; "
        r"[\d,]+ not written, the next run completes them",
        last,
    ), last
    return last

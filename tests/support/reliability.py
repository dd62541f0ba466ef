"""Helpers for the reliability and security suites.

Table views that compare what matters (owned attributes, foreign attributes), fresh tables next
to the fixture's, fast Alpaca client options, child processes with bounded waits, and a raw
HTTP server for bodies the stand-in cannot send (chunked without a length, a body that breaks
off mid-read). Everything binds to 127.0.0.1 and every wait is bounded.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support import (  # noqa: F401 - asset_record and fresh_env re-exported for the suites
    CREDENTIALS,
    CliResult,
    Env,
    asset_record,
    fresh_env,
)
from tests.support.fast_cli import FAST_CLIENT

from asset_sync import wiring
from asset_sync.alpaca.client import ClientOptions
from asset_sync.dal.serialization import deserialize_item
from asset_sync.local.catalog import Asset
from asset_sync.local.dynamo_proxy import DynamoProxy
from asset_sync.local.stand_in import AlpacaStandIn
from asset_sync.logic.models import CONTENT_ATTRIBUTES, OWNED_ATTRIBUTES, content_hash

REPO_ROOT = Path(__file__).resolve().parents[2]
# Attributes that legitimately differ between two runs of the same catalog: the times, and the
# run number (a skipped run, or an acquire whose reply was lost, takes a number too).
TIMESTAMPS = ("created_at", "updated_at", "last_sync_timestamp", "sync_run_seq")
Snapshot = dict[str, dict[str, Any]]


def fast_options(**overrides: Any) -> ClientOptions:
    """ClientOptions with FAST_CLIENT's values (and any overrides)."""
    return ClientOptions(**{**FAST_CLIENT, **overrides})


def use_fast_alpaca_client(monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> None:
    """Make `wiring.alpaca_client` (what the sync uses) build a fast client."""
    monkeypatch.setattr(
        wiring, "ClientOptions", functools.partial(ClientOptions, **{**FAST_CLIENT, **overrides})
    )


# -- table views ---------------------------------------------------------------------------------


def owned_view(snapshot: Snapshot, ignore: Iterable[str] = TIMESTAMPS) -> Snapshot:
    """Owned attributes of every item (raw attribute values), without the ignored ones."""
    skip = set(ignore)
    return {
        symbol: {k: v for k, v in item.items() if k in OWNED_ATTRIBUTES and k not in skip}
        for symbol, item in snapshot.items()
    }


def reference_views(moto_url: str, *catalogs: list[Asset]) -> list[Snapshot]:
    """Owned attributes after a clean run on each catalog in turn, on a separate pair of tables:
    what a disturbed run on the same catalogs must converge to."""
    views: list[Snapshot] = []
    with AlpacaStandIn([], key_id=CREDENTIALS.key_id, secret_key=CREDENTIALS.secret_key) as api:
        reference = fresh_env(moto_url, api)
        for catalog in catalogs:
            reference.serve(catalog)
            wiring.build_run(reference.settings).run()
            views.append(owned_view(reference.snapshot()))
    return views


def content_view(snapshot: Snapshot) -> Snapshot:
    """Content attributes plus status (what a catalog record decides), per item."""
    keep = {*CONTENT_ATTRIBUTES, "status", "sync_hash"}
    return {s: {k: v for k, v in item.items() if k in keep} for s, item in snapshot.items()}


def foreign_view(snapshot: Snapshot) -> Snapshot:
    """Attributes that belong to other services, per item."""
    return {
        symbol: {k: v for k, v in item.items() if k not in OWNED_ATTRIBUTES}
        for symbol, item in snapshot.items()
    }


def hash_matches_content(raw_item: Mapping[str, Any]) -> bool:
    """Whether an item's `sync_hash` is the digest of the content attributes it holds."""
    item = deserialize_item(raw_item)
    content = {name: item[name] for name in CONTENT_ATTRIBUTES if name in item}
    return item.get("sync_hash") == content_hash(content)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.005) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def wait_for_lease_expiry(env: Env, timeout: float = 10.0) -> None:
    """Sleep until the run lease recorded in the state table has expired (bounded)."""
    expires = env.state.read().lock_expires_at
    if expires is None:
        return
    assert wait_until(lambda: int(time.time()) > int(expires), timeout, 0.05), "lease never expired"


# -- child processes -----------------------------------------------------------------------------


def cli_command(*args: str, fast: bool = True) -> list[str]:
    """argv for the CLI; `fast` runs it through tests.support.fast_cli (small client options)."""
    module = "tests.support.fast_cli" if fast else "asset_sync.cli"
    return [sys.executable, "-m", module, *args]


def child_env(base: Mapping[str, str], **extra: str) -> dict[str, str]:
    """A child's environment that can import `tests.support` (for fast_cli)."""
    path = os.pathsep.join(p for p in (str(REPO_ROOT), base.get("PYTHONPATH", "")) if p)
    return {**base, "PYTHONPATH": path, **extra}


def start_cli(*args: str, env: Mapping[str, str], fast: bool = True) -> subprocess.Popen[str]:
    """Start the CLI in a child process (stdout/stderr piped)."""
    return subprocess.Popen(
        cli_command(*args, fast=fast),
        env=child_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> CliResult:
    """Wait (bounded) for a child started by start_cli; kill it if it overstays."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate(timeout=10)
        raise AssertionError(f"CLI did not finish within {timeout} s: {stderr[-2000:]}") from None
    return CliResult(process.returncode, stdout, stderr)


def run_fast_cli(*args: str, env: Mapping[str, str], timeout: float = 120) -> CliResult:
    """Run the CLI (with fast Alpaca client options) to completion."""
    return finish(start_cli(*args, env=env), timeout)


def kill(process: subprocess.Popen[str]) -> None:
    """SIGKILL a child we started, and reap it."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=10)


# -- a raw HTTP server for bodies the stand-in cannot send -------------------------------------

Responder = Callable[[socket.socket], None]


def chunked_body(total_bytes: int, chunk: int = 64 * 1024) -> Responder:
    """200 with `Transfer-Encoding: chunked` (no length) streaming up to `total_bytes` of JSON-ish
    filler; stops early when the client hangs up."""

    def respond(conn: socket.socket) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        piece = b"[" + b'"xxxxxxxxxxxxxx",' * (chunk // 17)
        sent = 0
        try:
            while sent < total_bytes:
                conn.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                sent += len(piece)
            conn.sendall(b"0\r\n\r\n")
        except OSError:
            return  # the client stopped reading: what the size limit should make it do

    return respond


def short_body(declared: int, body: bytes) -> Responder:
    """200 declaring `declared` bytes but sending only `body`, then closing (IncompleteRead)."""

    def respond(conn: socket.socket) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {declared}\r\nConnection: close\r\n\r\n".encode()
            + body
        )

    return respond


def full_body(body: bytes) -> Responder:
    """An honest 200 with `body`."""
    return short_body(len(body), body)


@dataclass
class RawHttpServer:
    """Serves one scripted response per connection (then `fallback`), on 127.0.0.1."""

    script: list[Responder]
    fallback: Responder
    requests: int = 0

    def __post_init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.1)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._listener.getsockname()[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> RawHttpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            data = b""
            try:
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    piece = conn.recv(4096)
                    if not piece:
                        return
                    data += piece
            except OSError:
                return
            with self._lock:
                self.requests += 1
                respond = self.script.pop(0) if self.script else self.fallback
            try:
                respond(conn)
            except OSError:
                return


def skip_soak_unless_selected(request: pytest.FixtureRequest) -> None:
    """Skip a `@pytest.mark.soak` test unless the run selected soak tests (`-m soak`).

    pyproject registers the marker but does not deselect it by default, so without this the
    long variants would run in `make test`.
    """
    if request.node.get_closest_marker("soak") is None:
        return
    if "soak" not in (request.config.getoption("markexpr", "") or ""):
        pytest.skip("soak variant: run with `pytest -m soak`")


class SerializingProxy(DynamoProxy):
    """A DynamoProxy that forwards one request at a time.

    moto's server evaluates a conditional write and applies it without holding a lock across
    concurrent requests: two `UpdateItem`s with the same `attribute_not_exists(...)` condition
    on one item can both succeed (seen in ~5% of tries with two threads). Real DynamoDB applies
    conditional writes to one item atomically; serializing the requests restores that property
    for tests in which several clients race on the same items.
    """

    _serial = threading.Lock()

    def _forward(
        self, method: str, path: str, headers: object, body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        with self._serial:
            return super()._forward(method, path, headers, body)

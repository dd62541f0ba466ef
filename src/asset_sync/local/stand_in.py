"""Local stand-in for Alpaca's Trading API assets endpoints, over real HTTP on loopback.

Stdlib only: a :class:`http.server.ThreadingHTTPServer` (HTTP/1.1, keep-alive, honest
``Content-Length``) in a daemon thread, bound to ``127.0.0.1`` on an ephemeral port by default.
It is as strict as Alpaca: its defaults are Alpaca's, quoted below from the OpenAPI spec
(``paths./v2/assets``, Trading API v2.0.1, June 2026).

Routes (everything else is ``404 {"code": 40410000, "message": "endpoint not found"}``):

* ``GET /v2/assets`` -- one unpaginated JSON array (the spec has no paging parameter). Every
  parameter is matched exactly (case-sensitive); an empty value counts as absent; a repeated
  parameter uses its first value.

  - ``asset_class``: "Defaults to us_equity." Absent: only ``us_equity``. A value no asset has
    (``bogus``, ``US_EQUITY``): ``[]`` -- the spec does not say what Alpaca does with an
    unknown class and lists no 4xx for this route; an empty array is the stand-in's choice.
  - ``status``: "By default, all statuses are included." Absent: active *and* inactive.
  - ``exchange``: "Optional AMEX, ARCA, BATS, NYSE, NASDAQ, NYSEARCA or OTC". Absent: every
    exchange; other values (``CRYPTO``, ``OPRA``) match the records that carry them.
  - ``attributes``: "Comma separated values [...] Assets which have any of the given attributes
    will be included." (default ``[]``). Absent: no attribute filter.
  - Order: the spec says "Assets are sorted by asset class, exchange and symbol", but Alpaca's
    real output (the 2022 NASDAQ sample) is not sorted by symbol; the stand-in serves the
    current catalog in the order given, then retired assets, and callers must not rely on order.

* ``GET /v2/assets/{symbol_or_asset_id}`` -- the segment is URL-decoded (``BTC%2FUSD`` ->
  ``BTC/USD``; "use the URL encoded version instead, e.g. /v2/assets/BTC%2FUSDT") and matched
  against ``symbol``, then ``id``, then ``cusip`` ("CUSIP is also accepted for US equities":
  ``us_equity`` records only), then the old slash-less crypto symbology (``BTCUSD``); a record
  of the current catalog wins over a retired one for the same key. Inactive assets are found.
  Unknown: ``404 {"code": 40410000, "message": "asset not found for FAKE"}`` (Alpaca's body).

Both routes need ``APCA-API-KEY-ID`` and ``APCA-API-SECRET-KEY`` matching the configured pair,
else ``401 {"code": 40110000, "message": "request is not authorized"}`` (the secret is never
echoed). Authorized responses carry ``X-RateLimit-Limit: 200``, ``X-RateLimit-Remaining`` (a
per-minute counter, informational only) and ``X-RateLimit-Reset`` (unix epoch seconds).

The asset universe: the stand-in keeps every asset it has served, by ``id``.
:meth:`AlpacaStandIn.set_assets` replaces the current catalog; a known asset absent from the new
catalog is *retired* -- kept with ``status: "inactive"`` and ``tradable: false``, as Alpaca
reports a delisted asset -- so lookups still find it and unfiltered or ``status=inactive`` lists
return it. An asset that reappears is served as given again. A ticker change (same ``id``, new
``symbol``) is served under the new symbol; a lookup by the id returns the new record; the old
symbol is unknown (404): neither the spec nor the samples say Alpaca keeps former symbols.
Records without a string ``id`` are served while in the current catalog and then forgotten.

Scripted inconsistencies (they survive :meth:`~AlpacaStandIn.set_assets` until
:meth:`~AlpacaStandIn.clear_inconsistencies`): :meth:`~AlpacaStandIn.omit_from_list` keeps
assets findable by lookup but out of every list response ("listed as active by id but missing
from the list"); :meth:`~AlpacaStandIn.forget` makes them unknown (lookups 404, lists omit).

Faults (:class:`Fault`) queued with :meth:`AlpacaStandIn.script` are consumed one per request to
an assets route (either route, or only ``"list"`` / ``"lookup"`` ones), first in first out,
before normal serving resumes. :attr:`~AlpacaStandIn.lookups` and
:attr:`~AlpacaStandIn.list_requests` count the GETs each route received.

CLI: ``python -m asset_sync.local.stand_in --assets 35000 --port 8080`` prints the base URL on
the first line of stdout and serves until Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import html
import json
import math
import signal
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Literal, NoReturn, cast
from urllib.parse import parse_qs, unquote, urlsplit

from asset_sync.local.catalog import Asset, dumps_catalog, generate_catalog
from asset_sync.local.loopback import LocalService

__all__ = ["DEFAULT_ASSET_CLASS", "RATE_LIMIT", "AlpacaStandIn", "Fault", "FaultRoute", "main"]

RATE_LIMIT = 200
"""Value of ``X-RateLimit-Limit`` (requests per minute)."""

DEFAULT_ASSET_CLASS = "us_equity"
"""What ``GET /v2/assets`` serves without ``asset_class`` (Alpaca: "Defaults to us_equity.")."""

_ASSETS_PATH = "/v2/assets"
_JSON = "application/json"
_RequestLogEntry = tuple[str, str, str]
FaultKind = Literal["respond", "reset", "slow", "truncated"]
FaultRoute = Literal["any", "list", "lookup"]


def _error_body(status: int, message: str) -> bytes:
    """An Alpaca-style error body: ``{"code": <status>10000, "message": ...}``."""
    return json.dumps({"code": status * 100_000 + 10_000, "message": message}).encode()


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted misbehaviour; build it with the classmethods, not the constructor.

    ``respond`` sends a fixed response, ``reset`` aborts the connection with a TCP RST,
    ``slow`` sleeps ``delay`` seconds then serves normally, ``truncated`` serves the normal
    response with its body cut in half (an honest ``Content-Length`` for the prefix).
    """

    kind: FaultKind
    status_code: int = 200
    payload: bytes = b""
    content_type: str = _JSON
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    retry_after: float | None = None
    reset_in: float | None = None

    @classmethod
    def status(
        cls, code: int, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> Fault:
        """Respond ``code`` (e.g. 500/502/503/504) with ``body`` (default: Alpaca-style JSON)."""
        if body is None:
            body = _error_body(code, HTTPStatus(code).phrase.lower())
        return cls("respond", code, body, _JSON, tuple((headers or {}).items()))

    @classmethod
    def rate_limited(cls, retry_after: float | None = None, reset_in: float | None = None) -> Fault:
        """429 with ``Retry-After: <seconds>`` and/or ``X-RateLimit-Reset: now + reset_in``.

        Non-integral ``retry_after`` is sent as decimal text (``0.2``), handy for fast tests.
        """
        body = _error_body(429, "rate limit exceeded")
        return cls("respond", 429, body, _JSON, retry_after=retry_after, reset_in=reset_in)

    @classmethod
    def connection_reset(cls) -> Fault:
        """Read the request, then close the socket with ``SO_LINGER`` 0 (the client sees RST)."""
        return cls("reset")

    @classmethod
    def slow(cls, delay_seconds: float) -> Fault:
        """Sleep ``delay_seconds`` before serving the normal response."""
        return cls("slow", delay=delay_seconds)

    @classmethod
    def truncated(cls) -> Fault:
        """The normal response with the first half of its body: valid HTTP, broken JSON."""
        return cls("truncated")

    @classmethod
    def html_error(cls, code: int = 502) -> Fault:
        """A proxy-style HTML error page (``text/html``), 502 by default."""
        title = html.escape(f"{code} {HTTPStatus(code).phrase}")
        page = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        return cls("respond", code, page.encode(), "text/html")

    @classmethod
    def body(cls, raw: bytes, status: int = 200, content_type: str = _JSON) -> Fault:
        """Respond ``status`` with exactly ``raw`` (``b"[]"``, oversized or hostile bodies)."""
        return cls("respond", status, raw, content_type)


class _Snapshot:
    """An immutable view of the universe: what lists and lookups serve, indexed lazily.

    ``current`` is the catalog as last given (any JSON values, hostile ones included),
    ``retired`` the known assets absent from it; ``omitted`` / ``forgotten`` are the scripted
    inconsistencies (symbols or ids).
    """

    def __init__(
        self,
        current: Sequence[object],
        retired: Sequence[Asset],
        omitted: frozenset[str] = frozenset(),
        forgotten: frozenset[str] = frozenset(),
    ) -> None:
        self.current = current
        self.retired = retired
        self._omitted = omitted
        self._forgotten = forgotten
        self._lock = threading.Lock()
        self._index: dict[str, Asset] | None = None
        self._listed: list[object] | None = None
        self._filtered: dict[tuple[str, str, str, tuple[str, ...]], bytes] = {}

    def _visible(self, records: Sequence[object]) -> list[object]:
        return [r for r in records if not _matches(r, self._forgotten)]

    def lookup(self, key: str) -> Asset | None:
        with self._lock:
            if self._index is None:
                self._index = self._build_index()
            return self._index.get(key)

    def _build_index(self) -> dict[str, Asset]:
        layers = [
            [r for r in self._visible(records) if isinstance(r, dict)]
            for records in (self.retired, self.current)  # the current catalog wins a key
        ]
        index: dict[str, Asset] = {}
        # Lowest precedence first: symbol wins over id, cusip, then the old crypto symbology.
        for field in ("old_crypto", "cusip", "id", "symbol"):
            for records in layers:
                for asset in records:
                    key = _lookup_key(asset, field)
                    if key is not None:
                        index[key] = asset
        return index

    def listing(
        self, status: str, asset_class: str, exchange: str, attrs: tuple[str, ...]
    ) -> bytes:
        """The list body for these (already defaulted) filters; an empty filter matches all."""
        key = (status, asset_class, exchange, attrs)
        with self._lock:
            cached = self._filtered.get(key)
            if cached is not None:
                return cached
            if self._listed is None:
                visible = self._visible([*self.current, *self.retired])
                self._listed = [r for r in visible if not _matches(r, self._omitted)]
            listed = self._listed
        wanted = set(attrs)
        selected = [
            a
            for a in listed
            if not isinstance(a, dict)  # a non-object record passes every filter, to be seen
            or (
                (not status or a.get("status") == status)
                and (not asset_class or a.get("class") == asset_class)
                and (not exchange or a.get("exchange") == exchange)
                and (not wanted or _any_attribute(a, wanted))
            )
        ]
        body = _dumps(selected)
        with self._lock:
            self._filtered[key] = body
        return body


def _lookup_key(asset: Asset, field: str) -> str | None:
    """The key under which ``asset`` is found by ``field``, if it has one."""
    if field == "old_crypto":
        symbol = asset.get("symbol")
        ok = asset.get("class") == "crypto" and isinstance(symbol, str) and "/" in symbol
        return symbol.replace("/", "") if ok and isinstance(symbol, str) else None
    if field == "cusip" and asset.get("class") != "us_equity":
        return None  # "CUSIP is also accepted for US equities"
    value = asset.get(field)
    return value if isinstance(value, str) else None


def _matches(record: object, keys: frozenset[str] | set[str]) -> bool:
    """Whether ``record``'s symbol or id is one of ``keys``."""
    if not keys or not isinstance(record, dict):
        return False
    return any(isinstance(v := record.get(f), str) and v in keys for f in ("symbol", "id"))


def _dumps(records: Sequence[object]) -> bytes:
    """:func:`dumps_catalog` of any JSON values: test catalogs may hold non-object records."""
    return dumps_catalog(cast("Sequence[Asset]", records))


def _private_copy(records: Sequence[object]) -> list[Asset]:
    """A deep copy through JSON: what the stand-in serves never changes behind its back."""
    copy: list[Asset] = json.loads(_dumps(records))
    return copy


def _asset_id(record: object) -> str | None:
    value = record.get("id") if isinstance(record, dict) else None
    return value if isinstance(value, str) else None


def _retire(asset: Asset) -> Asset:
    """``asset`` as Alpaca reports it once delisted: inactive and not tradable."""
    return {**asset, "status": "inactive", "tradable": False}


def _any_attribute(asset: Asset, wanted: set[str]) -> bool:
    attrs = asset.get("attributes")
    return isinstance(attrs, list) and not wanted.isdisjoint(attrs)


class _ConnectionAbortedError(Exception):
    """Raised after a deliberate reset so that the server skips the rest of the request."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs of concurrent clients (1 s retries)

    def __init__(self, address: tuple[str, int], owner: AlpacaStandIn) -> None:
        self.owner = owner
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet: clients that time out or disconnect are part of the test plan."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def version_string(self) -> str:
        return "alpaca-stand-in"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        self.server.owner._track(self.connection, add=False)
        super().finish()

    def log_message(self, format: str, *args: object) -> None:
        """Silence the default stderr access log."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # -- request flow ---------------------------------------------------------------------
    def _dispatch(self) -> None:
        owner = self.server.owner
        split = urlsplit(self.path)
        owner._record(self.command, split.path, split.query)
        if self.command not in ("GET", "HEAD"):
            self._discard_body()
        route = _route(split.path)
        if route is not None and self.command == "GET":
            owner._count(route)
        fault = owner._next_fault(route) if route is not None else None
        if fault is not None:
            if fault.kind == "reset":
                self._reset()
            if fault.kind == "respond":
                self._send(
                    fault.status_code, fault.payload, fault.content_type, _fault_headers(fault)
                )
                return
            if fault.kind == "slow":
                time.sleep(fault.delay)
        status, body, headers = self._normal(route, split.query)
        if fault is not None and fault.kind == "truncated":
            body = body[: len(body) // 2]
        self._send(status, body, _JSON, headers)

    def _normal(self, route: str | None, query: str) -> tuple[int, bytes, list[tuple[str, str]]]:
        owner = self.server.owner
        if route is None:
            return 404, _error_body(404, "endpoint not found"), []
        if not owner._authorized(
            self.headers.get("APCA-API-KEY-ID"), self.headers.get("APCA-API-SECRET-KEY")
        ):
            return 401, _error_body(401, "request is not authorized"), []
        if self.command not in ("GET", "HEAD"):
            return 405, _error_body(405, "method not allowed"), []
        headers = owner._rate_headers()
        catalog = owner._snapshot()
        if route == "":
            params = parse_qs(query, keep_blank_values=True)
            attrs = {a.strip() for v in params.get("attributes", [])[:1] for a in v.split(",")}
            body = catalog.listing(
                _first(params, "status"),  # absent: every status
                _first(params, "asset_class") or DEFAULT_ASSET_CLASS,
                _first(params, "exchange"),
                tuple(sorted(attrs - {""})),
            )
            return 200, body, headers
        key = unquote(route)
        asset = catalog.lookup(key)
        if asset is None:
            return 404, _error_body(404, f"asset not found for {key}"), headers
        return 200, json.dumps(asset, separators=(",", ":")).encode(), headers

    def _send(
        self, status: int, body: bytes, content_type: str, headers: Sequence[tuple[str, str]]
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _discard_body(self) -> None:
        self.close_connection = True
        with contextlib.suppress(ValueError):
            length = int(self.headers.get("Content-Length") or 0)
            if 0 < length <= 1 << 20:
                self.rfile.read(length)

    def _reset(self) -> NoReturn:
        sock = self.connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.server.owner._track(sock, add=False)
        # The makefile() readers hold references; close them so that close() is real.
        self.rfile.close()
        self.wfile.close()
        sock.close()
        raise _ConnectionAbortedError


def _route(path: str) -> str | None:
    """``""`` for the list route, the raw segment for a single asset, ``None`` otherwise."""
    if path == _ASSETS_PATH:
        return ""
    prefix = _ASSETS_PATH + "/"
    if path.startswith(prefix):
        segment = path[len(prefix) :]
        if segment and "/" not in segment:
            return segment
    return None


def _first(params: dict[str, list[str]], name: str) -> str:
    values = params.get(name)
    return values[0].strip() if values else ""


def _fault_headers(fault: Fault) -> list[tuple[str, str]]:
    headers = list(fault.headers)
    if fault.status_code == 429:
        headers.append(("X-RateLimit-Limit", str(RATE_LIMIT)))
        headers.append(("X-RateLimit-Remaining", "0"))
    if fault.retry_after is not None:
        headers.append(("Retry-After", f"{fault.retry_after:g}"))
    if fault.reset_in is not None:
        headers.append(("X-RateLimit-Reset", str(math.ceil(time.time() + fault.reset_in))))
    return headers


class AlpacaStandIn(LocalService):
    """A scriptable Alpaca assets API on loopback; see the module docstring for behaviour."""

    def __init__(
        self,
        assets: Sequence[Asset] | None = None,
        *,
        key_id: str = "local-key",
        secret_key: str = "local-secret",  # noqa: S107 - loopback test credential
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.key_id = key_id
        self._secret = secret_key.encode()
        self._address = (host, port)
        self._lock = threading.Lock()  # request-time state; held briefly
        self._content_lock = threading.Lock()  # serializes changes of the universe
        self._current: list[Asset] = _private_copy(assets or [])
        self._retired: dict[str, Asset] = {}
        self._omitted: frozenset[str] = frozenset()
        self._forgotten: frozenset[str] = frozenset()
        self._catalog = _Snapshot(self._current, [])
        self._faults: dict[FaultRoute, deque[Fault]] = {
            "any": deque(), "list": deque(), "lookup": deque()
        }  # fmt: skip
        self._log: list[_RequestLogEntry] = []
        self._lookups: list[str] = []
        self._list_requests = 0
        self._connections: set[socket.socket] = set()
        self._window_reset = 0
        self._window_count = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> str:
        """Bind, serve in a daemon thread and return the base URL (idempotent)."""
        if self._server is None:
            server = _Server(self._address, self)
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.01},
                name="alpaca-stand-in", daemon=True,
            )  # fmt: skip
            self._server = server
            self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving, close the listener and open connections (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections, self._connections = self._connections, set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` of the running server."""
        if self._server is None:
            raise RuntimeError("stand-in is not running; call start()")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- content -------------------------------------------------------------------------
    def set_assets(self, assets: Sequence[Asset]) -> None:
        """Replace the current catalog atomically; known assets absent from it are retired.

        A retired asset stays known with ``status: "inactive"`` and ``tradable: false``; one
        that reappears (same ``id``) is served as given, as is every record of ``assets``
        (``status: "inactive"`` included). ``assets`` is copied: later changes to it are not
        seen. Scripted inconsistencies and faults are kept.
        """
        records = _private_copy(assets)
        with self._content_lock:
            present = {i for r in records if (i := _asset_id(r)) is not None}
            retired = {i: a for i, a in self._retired.items() if i not in present}
            for record in self._current:
                asset_id = _asset_id(record)
                if asset_id is not None and asset_id not in present and isinstance(record, dict):
                    retired[asset_id] = _retire(record)
            self._current, self._retired = records, retired
            self._publish()

    def omit_from_list(self, symbols_or_ids: str | Iterable[str]) -> None:
        """Leave these assets out of every list response; lookups still find them as they are.

        Alpaca's "listed as active by id but missing from the list". Raises ``ValueError``
        for a key that names no known asset.
        """
        with self._content_lock:
            self._omitted |= self._known_keys(symbols_or_ids)
            self._publish()

    def forget(self, symbols_or_ids: str | Iterable[str]) -> None:
        """Make these assets unknown: lookups answer 404 and lists omit them.

        Raises ``ValueError`` for a key that names no known asset.
        """
        with self._content_lock:
            self._forgotten |= self._known_keys(symbols_or_ids)
            self._publish()

    def clear_inconsistencies(self) -> None:
        """Undo every :meth:`omit_from_list` and :meth:`forget`."""
        with self._content_lock:
            self._omitted = self._forgotten = frozenset()
            self._publish()

    @property
    def assets(self) -> list[Asset]:
        """A decoded copy of the current catalog (as last given, retired assets excluded)."""
        return _private_copy(self._snapshot().current)

    @property
    def universe(self) -> list[Asset]:
        """A decoded copy of every known asset: the current catalog, then the retired ones.

        Scripted inconsistencies do not apply here.
        """
        snapshot = self._snapshot()
        return _private_copy([*snapshot.current, *snapshot.retired])

    # -- faults ----------------------------------------------------------------------------
    def script(self, *faults: Fault, route: FaultRoute = "any") -> None:
        """Queue ``faults`` for requests to ``route``; each such request consumes one, in order.

        ``"any"`` (the default) is shared by both assets routes; ``"list"`` and ``"lookup"``
        queues serve only their route and are consumed before the shared one.
        """
        with self._lock:
            self._faults[route].extend(faults)

    def clear_faults(self) -> None:
        """Drop every queued fault, of every route."""
        with self._lock:
            for queue in self._faults.values():
                queue.clear()

    @property
    def pending_faults(self) -> int:
        """How many scripted faults (of every route) have not been consumed yet."""
        with self._lock:
            return sum(len(queue) for queue in self._faults.values())

    # -- what was asked --------------------------------------------------------------------
    @property
    def lookups(self) -> list[str]:
        """The URL-decoded key of every ``GET /v2/assets/{key}``, faulted or refused included."""
        with self._lock:
            return list(self._lookups)

    @property
    def list_requests(self) -> int:
        """How many ``GET /v2/assets`` requests arrived, faulted or refused included."""
        with self._lock:
            return self._list_requests

    @property
    def request_log(self) -> list[_RequestLogEntry]:
        """A copy of ``(method, raw path, raw query)`` for every request received."""
        with self._lock:
            return list(self._log)

    @property
    def requests_served(self) -> int:
        """Number of requests received, faulted ones included."""
        with self._lock:
            return len(self._log)

    # -- used by the handler --------------------------------------------------------------
    def _snapshot(self) -> _Snapshot:
        with self._lock:
            return self._catalog

    def _publish(self) -> None:
        """Swap in a snapshot of the current state (caller holds ``_content_lock``)."""
        snapshot = _Snapshot(
            self._current, list(self._retired.values()), self._omitted, self._forgotten
        )
        with self._lock:
            self._catalog = snapshot

    def _known_keys(self, symbols_or_ids: str | Iterable[str]) -> frozenset[str]:
        """``symbols_or_ids`` as a set, each naming a known asset (caller holds the lock)."""
        keys = frozenset([symbols_or_ids] if isinstance(symbols_or_ids, str) else symbols_or_ids)
        known = {
            value
            for record in [*self._current, *self._retired.values()]
            if isinstance(record, dict)
            for field in ("symbol", "id")
            if isinstance(value := record.get(field), str)
        }
        unknown = sorted(keys - known)
        if unknown:
            raise ValueError(f"no known asset has the symbol or id {', '.join(unknown)}")
        return keys

    def _record(self, method: str, path: str, query: str) -> None:
        with self._lock:
            self._log.append((method, path, query))

    def _count(self, route: str) -> None:
        with self._lock:
            if route:
                self._lookups.append(unquote(route))
            else:
                self._list_requests += 1

    def _next_fault(self, route: str) -> Fault | None:
        with self._lock:
            own = self._faults["lookup" if route else "list"]
            for queue in (own, self._faults["any"]):
                if queue:
                    return queue.popleft()
            return None

    def _authorized(self, key_id: str | None, secret: str | None) -> bool:
        if key_id is None or secret is None:
            return False
        key_ok = hmac.compare_digest(key_id.encode(), self.key_id.encode())
        return hmac.compare_digest(secret.encode(), self._secret) and key_ok

    def _rate_headers(self) -> list[tuple[str, str]]:
        with self._lock:
            now = time.time()
            if now >= self._window_reset:
                self._window_reset = math.floor(now) + 60
                self._window_count = 0
            self._window_count += 1
            remaining = max(0, RATE_LIMIT - self._window_count)
            reset = self._window_reset
        return [
            ("X-RateLimit-Limit", str(RATE_LIMIT)),
            ("X-RateLimit-Remaining", str(remaining)),
            ("X-RateLimit-Reset", str(reset)),
        ]

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a generated catalog until interrupted; the base URL is stdout's first line."""
    parser = argparse.ArgumentParser(
        prog="python -m asset_sync.local.stand_in", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--assets", type=int, default=35_000, help="catalog size (default 35000)")
    parser.add_argument("--seed", type=int, default=0, help="catalog seed (default 0)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--key-id", default="local-key")
    parser.add_argument("--secret-key", default="local-secret")
    args = parser.parse_args(argv)

    done = threading.Event()

    def _on_term(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _on_term)
    stand_in = AlpacaStandIn(
        generate_catalog(args.assets, args.seed),
        key_id=args.key_id, secret_key=args.secret_key, host=args.host, port=args.port,
    )  # fmt: skip
    with stand_in:
        sys.stdout.write(stand_in.base_url + "\n")
        sys.stdout.flush()
        sys.stderr.write(
            f"serving {args.assets} assets (seed {args.seed}); APCA-API-KEY-ID={args.key_id}; "
            "Ctrl-C to stop\n"
        )
        with contextlib.suppress(KeyboardInterrupt):
            done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

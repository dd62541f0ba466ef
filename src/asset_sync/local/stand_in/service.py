"""`AlpacaStandIn`: the stand-in as a loopback service (start, stop, `with`), what tests script
on it (content, inconsistencies, faults) and what it saw (requests, lookups)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterable, Sequence
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote

from asset_sync.local.catalog import Asset
from asset_sync.local.loopback import LoopbackServer
from asset_sync.local.stand_in.api import Credentials, RateWindow, Reply, answer
from asset_sync.local.stand_in.faults import Fault, FaultQueues, FaultRoute
from asset_sync.local.stand_in.handler import StandInHandler, StandInServer
from asset_sync.local.stand_in.universe import Universe, private_copy

RequestLogEntry = tuple[str, str, str]


class AlpacaStandIn(LoopbackServer):
    """A scriptable Alpaca assets API on loopback; see the package docstring for behaviour."""

    def __init__(
        self,
        assets: Sequence[Asset] | None = None,
        *,
        key_id: str = "local-key",
        secret_key: str = "local-secret",  # noqa: S107 - loopback test credential
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__()
        self._credentials = Credentials(key_id, secret_key)
        self._universe = Universe(assets or [])
        self._faults = FaultQueues()
        self._rate = RateWindow()
        self._address = (host, port)
        self._lock = threading.Lock()  # what was asked; held briefly
        self._log: list[RequestLogEntry] = []
        self._lookups: list[str] = []
        self._list_requests = 0
        self._connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None

    @property
    def key_id(self) -> str:
        """The ``APCA-API-KEY-ID`` the stand-in accepts."""
        return self._credentials.key_id

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> str:
        """Bind, serve in a daemon thread and return the base URL (idempotent)."""
        if self._server is None:
            self._serve(StandInHandler)
        return self.base_url

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> str:
        """The base's server, on the configured address, with a deeper accept queue and a
        short poll (a stop returns at once)."""
        server = StandInServer(self._address, handler, self)
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01},
            name="alpaca-stand-in", daemon=True,
        )  # fmt: skip
        self._server = server
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving, close the listener and open connections (idempotent)."""
        thread, self._thread = self._thread, None
        if self._server is None:
            return
        super().stop()
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
        return self.url

    # -- content -------------------------------------------------------------------------
    def set_assets(self, assets: Sequence[Asset]) -> None:
        """Replace the current catalog atomically; known assets absent from it are retired.

        A retired asset stays known with ``status: "inactive"`` and ``tradable: false``; one
        that reappears (same ``id``) is served as given, as is every record of ``assets``
        (``status: "inactive"`` included). ``assets`` is copied: later changes to it are not
        seen. Scripted inconsistencies and faults are kept.
        """
        self._universe.set_assets(assets)

    def omit_from_list(self, symbols_or_ids: str | Iterable[str]) -> None:
        """Leave these assets out of every list response; lookups still find them as they are.

        Alpaca's "listed as active by id but missing from the list". Raises ``ValueError``
        for a key that names no known asset.
        """
        self._universe.omit_from_list(symbols_or_ids)

    def forget(self, symbols_or_ids: str | Iterable[str]) -> None:
        """Make these assets unknown: lookups answer 404 and lists omit them.

        Raises ``ValueError`` for a key that names no known asset.
        """
        self._universe.forget(symbols_or_ids)

    def clear_inconsistencies(self) -> None:
        """Undo every :meth:`omit_from_list` and :meth:`forget`."""
        self._universe.clear_inconsistencies()

    @property
    def assets(self) -> list[Asset]:
        """A decoded copy of the current catalog (as last given, retired assets excluded)."""
        return private_copy(self._universe.snapshot.current)

    @property
    def universe(self) -> list[Asset]:
        """A decoded copy of every known asset: the current catalog, then the retired ones.

        Scripted inconsistencies do not apply here.
        """
        snapshot = self._universe.snapshot
        return private_copy([*snapshot.current, *snapshot.retired])

    # -- faults ----------------------------------------------------------------------------
    def script(self, *faults: Fault, route: FaultRoute = "any") -> None:
        """Queue ``faults`` for requests to ``route``; each such request consumes one, in order.

        ``"any"`` (the default) is shared by both assets routes; ``"list"`` and ``"lookup"``
        queues serve only their route and are consumed before the shared one.
        """
        self._faults.add(faults, route)

    def clear_faults(self) -> None:
        """Drop every queued fault, of every route."""
        self._faults.clear()

    @property
    def pending_faults(self) -> int:
        """How many scripted faults (of every route) have not been consumed yet."""
        return self._faults.pending()

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
    def request_log(self) -> list[RequestLogEntry]:
        """A copy of ``(method, raw path, raw query)`` for every request received."""
        with self._lock:
            return list(self._log)

    @property
    def requests_served(self) -> int:
        """Number of requests received, faulted ones included."""
        with self._lock:
            return len(self._log)

    # -- used by the handler --------------------------------------------------------------
    def record(self, method: str, path: str, query: str) -> None:
        """Log one request as it arrived."""
        with self._lock:
            self._log.append((method, path, query))

    def count(self, route: str) -> None:
        """Count one GET of an assets route (``""``: the list)."""
        with self._lock:
            if route:
                self._lookups.append(unquote(route))
            else:
                self._list_requests += 1

    def next_fault(self, route: str) -> Fault | None:
        """The scripted fault a request to an assets route consumes, if any."""
        return self._faults.next_for(route)

    def respond(
        self, method: str, route: str | None, query: str, key_id: str | None, secret: str | None
    ) -> Reply:
        """Alpaca's answer to one request, faults aside."""
        authorized = route is not None and self._credentials.accept(key_id, secret)
        return answer(method, route, query, authorized, self._universe.snapshot, self._rate)

    def track(self, conn: socket.socket, *, add: bool) -> None:
        """Keep the open connections, so that `stop` closes the keep-alive ones too."""
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

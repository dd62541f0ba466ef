"""The stand-in's HTTP side: one request handler (HTTP/1.1, keep-alive, TCP_NODELAY) and the
threading server it runs in; what to answer and which fault come from its `AlpacaStandIn`."""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit

from asset_sync.local.stand_in.api import JSON, Headers, route_of

if TYPE_CHECKING:
    from asset_sync.local.stand_in.service import AlpacaStandIn


class FaultResetError(Exception):
    """Raised after a deliberate reset so that the server skips the rest of the request."""


class StandInServer(ThreadingHTTPServer):
    """A threading server that knows its stand-in and keeps quiet about broken clients."""

    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs of concurrent clients (1 s retries)

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        owner: AlpacaStandIn,
    ) -> None:
        self.owner = owner
        super().__init__(address, handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet: clients that time out or disconnect are part of the test plan."""


class StandInHandler(BaseHTTPRequestHandler):
    """Every method on every path goes through `_dispatch`: record, fault, answer."""

    protocol_version = "HTTP/1.1"
    server: StandInServer

    def version_string(self) -> str:
        return "alpaca-stand-in"

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this a keep-alive client's delayed
        # ACK holds every answer's body for ~20-40 ms (Nagle)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.owner.track(self.connection, add=True)

    def finish(self) -> None:
        self.server.owner.track(self.connection, add=False)
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

    def _dispatch(self) -> None:
        owner = self.server.owner
        split = urlsplit(self.path)
        owner.record(self.command, split.path, split.query)
        if self.command not in ("GET", "HEAD"):
            self._discard_body()
        route = route_of(split.path)
        if route is not None and self.command == "GET":
            owner.count(route)
        fault = owner.next_fault(route) if route is not None else None
        if fault is not None:
            if fault.kind == "reset":
                self._reset()
            if fault.kind == "respond":
                self._send(
                    fault.status_code, fault.payload, fault.content_type, fault.response_headers()
                )
                return
            if fault.kind == "slow":
                time.sleep(fault.delay)
        reply = owner.respond(
            self.command,
            route,
            split.query,
            self.headers.get("APCA-API-KEY-ID"),
            self.headers.get("APCA-API-SECRET-KEY"),
        )
        body = reply.body
        if fault is not None and fault.kind == "truncated":
            body = body[: len(body) // 2]
        self._send(reply.status, body, JSON, reply.headers)

    def _send(self, status: int, body: bytes, content_type: str, headers: Headers) -> None:
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
        self.server.owner.track(sock, add=False)
        # The makefile() readers hold references; close them so that close() is real.
        self.rfile.close()
        self.wfile.close()
        sock.close()
        raise FaultResetError

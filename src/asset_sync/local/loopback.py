"""Local services as context managers, and a threaded HTTP server on an ephemeral loopback port."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self


class LocalService:
    """Something this process starts and stops: `with service:` stops it on any way out."""

    def start(self) -> str:
        """Start; return the URL to reach it."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop (idempotent)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class LoopbackServer(LocalService):
    """Base of the local proxies: subclasses build a handler class and call `_serve`."""

    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """The endpoint to give boto3 instead of the upstream's."""
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> str:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

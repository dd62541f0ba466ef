"""`DynamoProxy` that also keeps every read and write request (and the responses of reads), in
the order they completed, for billing by the ledger.

It also sets TCP_NODELAY on the proxy's accepted connections. `DynamoProxy`'s handler writes a
reply's headers and its body in two `send` calls; without TCP_NODELAY, Nagle's algorithm holds
the body until the client acknowledges the headers, and the client delays that ACK (~40 ms on
Linux), so every proxied request stalled ~40 ms (measured: 500 PutItem took 25.8 s through
the proxy, 2.2 s straight to moto). The stand-in already sets TCP_NODELAY the same way.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from asset_sync.local.dynamo_proxy import WRITE_OPERATIONS, DynamoProxy, ProxyStats
from bench.ledger import READ_OPERATIONS, Capture


class CapturingProxy(DynamoProxy):
    """Counts requests by operation (the parent class) and captures reads and writes."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self._captured: list[Capture] = []
        self._capture_lock = threading.Lock()

    def start(self) -> str:
        """Start the parent's server, with TCP_NODELAY on every accepted connection."""
        url = super().start()
        server = self._server
        assert server is not None
        parent: Any = server.RequestHandlerClass

        class NoDelayHandler(parent):  # type: ignore[misc]
            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        server.RequestHandlerClass = NoDelayHandler
        return url

    def _forward(
        self, method: str, path: str, headers: object, body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        status, payload, response_headers = super()._forward(method, path, headers, body)
        target = str(headers.get("X-Amz-Target", ""))  # type: ignore[attr-defined]
        operation = target.rsplit(".", 1)[-1]
        if operation in WRITE_OPERATIONS or operation in READ_OPERATIONS:
            keep = (
                payload
                if status != 200 or operation == "BatchWriteItem" or operation in READ_OPERATIONS
                else b""
            )
            with self._capture_lock:
                self._captured.append(Capture(operation, body, status, keep))
        return status, payload, response_headers

    def take(self) -> tuple[ProxyStats, list[Capture]]:
        """The counts and the captured writes since the last call; start new ones."""
        stats = self.reset_stats()
        with self._capture_lock:
            captured, self._captured = self._captured, []
        return stats, captured

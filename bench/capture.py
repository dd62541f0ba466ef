"""`DynamoProxy` that also keeps every read and write request (and the responses of reads), in
the order they completed, for billing by the ledger. The parent counts the requests and sets
TCP_NODELAY on its connections."""

from __future__ import annotations

import threading

from asset_sync.local.dynamo_proxy import WRITE_OPERATIONS, DynamoProxy, ProxyStats
from bench.ledger import READ_OPERATIONS, Capture


class CapturingProxy(DynamoProxy):
    """Counts requests by operation (the parent class) and captures reads and writes."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self._captured: list[Capture] = []
        self._capture_lock = threading.Lock()

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

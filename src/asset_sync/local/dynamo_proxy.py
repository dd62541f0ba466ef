"""An HTTP proxy in front of a local DynamoDB that counts requests and injects faults.

It sees what goes over the wire, so benchmarks count DynamoDB requests by operation without
trusting the code under test, and reliability tests get throttling, 500s and connections that
drop after the request was applied, at a chosen share of requests, reproducibly (seeded).
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from asset_sync.contract import WRITE_OPERATIONS
from asset_sync.local.loopback import LoopbackServer

__all__ = [  # WRITE_OPERATIONS: bench/ imports it from here
    "DROP_AFTER_APPLY",
    "FAULT_KINDS",
    "SERVER_ERROR",
    "THROTTLE",
    "THROTTLING",
    "WRITE_OPERATIONS",
    "DynamoProxy",
    "FaultPlan",
    "ProxyStats",
]

THROTTLE = "throttle"  # 400 ProvisionedThroughputExceededException, nothing applied
THROTTLING = "throttling"  # 400 ThrottlingException, nothing applied
SERVER_ERROR = "server_error"  # 500 InternalServerError, nothing applied
DROP_AFTER_APPLY = "drop_after_apply"  # forwarded and applied, then the connection is cut
FAULT_KINDS = (THROTTLE, THROTTLING, SERVER_ERROR, DROP_AFTER_APPLY)

_ERRORS = {
    THROTTLE: (
        400,
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded.",
    ),
    THROTTLING: (400, "com.amazon.coral.availability#ThrottlingException", "Rate exceeded"),
    SERVER_ERROR: (500, "com.amazonaws.dynamodb.v20120810#InternalServerError", "Internal error"),
}


@dataclass
class FaultPlan:
    """Which requests fail: a share of the chosen operations, with the chosen kinds."""

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    operations: frozenset[str] | None = None  # None: every operation
    seed: int = 0


@dataclass
class ProxyStats:
    """What went through, by DynamoDB operation (`PutItem`, `Query`, ...)."""

    requests: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    request_bytes: int = 0
    response_bytes: int = 0

    def total(self, operations: Iterable[str] | None = None) -> int:
        """Requests in all, or of the named operations."""
        if operations is None:
            return sum(self.requests.values())
        return sum(self.requests[name] for name in operations)


class DynamoProxy(LoopbackServer):
    """Forward DynamoDB JSON requests to `upstream`, counting them and injecting faults."""

    def __init__(
        self, upstream: str, faults: FaultPlan | None = None, *, upstream_timeout: float = 60
    ) -> None:
        super().__init__()
        self.upstream_timeout = upstream_timeout
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.faults = faults or FaultPlan()
        self.stats = ProxyStats()
        self._rng = random.Random(self.faults.seed)  # noqa: S311 - reproducible faults
        self._lock = threading.Lock()

    def reset_stats(self) -> ProxyStats:
        """Return the counts so far and start new ones."""
        with self._lock:
            stats, self.stats = self.stats, ProxyStats()
        return stats

    def _choose_fault(self, operation: str) -> str | None:
        with self._lock:
            self.stats.requests[operation] += 1
            plan = self.faults
            if plan.rate <= 0 or (plan.operations is not None and operation not in plan.operations):
                return None
            if self._rng.random() >= plan.rate:
                return None
            kind = self._rng.choice(plan.kinds)
            self.stats.faults[kind] += 1
            return kind

    def _count_bytes(self, sent: int, received: int) -> None:
        with self._lock:
            self.stats.request_bytes += sent
            self.stats.response_bytes += received

    def start(self) -> str:
        """Listen on an ephemeral loopback port; return the URL."""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # headers and body go out in two writes: without this each reply waits ~40 ms
                # for the client's delayed ACK
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                target = self.headers.get("X-Amz-Target", "")
                operation = target.rsplit(".", 1)[-1] or "Unknown"
                fault = proxy._choose_fault(operation)
                if fault in _ERRORS:
                    status, error_type, message = _ERRORS[fault]
                    payload = json.dumps({"__type": error_type, "message": message}).encode()
                    self._reply(status, payload, "application/x-amz-json-1.0", {})
                    return
                status, payload, headers = proxy._forward(
                    self.command, self.path, self.headers, body
                )
                proxy._count_bytes(len(body), len(payload))
                if fault == DROP_AFTER_APPLY:
                    self.close_connection = True
                    self.connection.close()  # applied upstream; the client never hears back
                    return
                self._reply(status, payload, headers.get("Content-Type", ""), headers)

            def do_GET(self) -> None:
                status, payload, headers = proxy._forward("GET", self.path, self.headers, b"")
                self._reply(status, payload, headers.get("Content-Type", ""), headers)

            def _reply(
                self, status: int, payload: bytes, content_type: str, headers: dict[str, str]
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name in ("x-amzn-RequestId", "x-amz-crc32"):
                    if name.lower() in headers:
                        self.send_header(name, headers[name.lower()])
                self.end_headers()
                self.wfile.write(payload)

        return self._serve(Handler)

    def _forward(
        self, method: str, path: str, headers: object, body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        connection = http.client.HTTPConnection(
            self.upstream_host, self.upstream_port, timeout=self.upstream_timeout
        )
        try:  # one connection per request: simple, and moto's server dominates the cost anyway
            forwarded = {
                name: value
                for name, value in headers.items()  # type: ignore[attr-defined]
                if name.lower() not in ("host", "connection", "content-length")
            }
            connection.request(method, path, body=body, headers=forwarded)
            response = connection.getresponse()
            payload = response.read()
            return (
                response.status,
                payload,
                {name.lower(): value for name, value in response.getheaders()},
            )
        finally:
            connection.close()

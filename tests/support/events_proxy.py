"""An HTTP proxy in front of moto's EventBridge that fails chosen PutEvents entries.

EventBridge can accept a PutEvents request and still fail some of its entries (HTTP 200,
`FailedEntryCount` > 0, an `ErrorCode` on those entries). moto never does, so this proxy does it
on the wire: entries the plan fails are answered with an error and never reach moto; the others
are forwarded, and the two answers are merged in request order. Everything else passes through.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from asset_sync.local.loopback import LoopbackServer


@dataclass
class FailurePlan:
    """Entries to fail, by the `symbol` in their detail: once (then accepted) or always."""

    once: set[str] = field(default_factory=set)
    always: set[str] = field(default_factory=set)
    code: str = "InternalFailure"
    failed: Counter[str] = field(default_factory=Counter)

    def error_for(self, entry: Mapping[str, Any]) -> str | None:
        """The error code to answer for this entry, or None to let it through."""
        symbol = json.loads(entry.get("Detail") or "{}").get("symbol")
        if symbol in self.always or (symbol in self.once and not self.failed[symbol]):
            self.failed[symbol] += 1
            return self.code
        return None


class PutEventsProxy(LoopbackServer):
    """Forwards to `upstream`; records every PutEvents request's entries; applies the plan."""

    def __init__(self, upstream: str, plan: FailurePlan | None = None) -> None:
        super().__init__()
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.plan = plan or FailurePlan()
        self.requests: list[list[dict[str, Any]]] = []
        self._lock = threading.Lock()

    def _forward(self, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
            connection.request("POST", path, body=body, headers=sent)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def _put_events(self, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        request = json.loads(body)
        entries: list[dict[str, Any]] = request["Entries"]
        with self._lock:
            self.requests.append(entries)
            errors = [self.plan.error_for(entry) for entry in entries]
        passing = [entry for entry, error in zip(entries, errors, strict=True) if error is None]
        accepted: list[dict[str, Any]] = []
        upstream_failed = 0
        if passing:
            status, payload = self._forward(
                path, headers, json.dumps({**request, "Entries": passing}).encode()
            )
            if status != 200:
                return status, payload
            answer = json.loads(payload)
            accepted, upstream_failed = answer["Entries"], int(answer.get("FailedEntryCount", 0))
        results = iter(accepted)
        merged = [
            {"ErrorCode": error, "ErrorMessage": "injected by the test proxy"}
            if error
            else next(results)
            for error in errors
        ]
        failed = sum(error is not None for error in errors) + upstream_failed
        return 200, json.dumps({"FailedEntryCount": failed, "Entries": merged}).encode()

    def start(self) -> str:
        """Listen on an ephemeral loopback port; return the URL."""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                if self.headers.get("X-Amz-Target", "").endswith(".PutEvents"):
                    status, payload = proxy._put_events(self.path, headers, body)
                else:
                    status, payload = proxy._forward(self.path, headers, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return self._serve(Handler)

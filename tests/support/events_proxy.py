"""An HTTP proxy in front of moto's EventBridge that injects PutEvents faults on the wire.

EventBridge can accept a PutEvents request and still fail some of its entries (HTTP 200,
`FailedEntryCount` > 0, an `ErrorCode` on those entries); it can also fail whole requests
(throttling, a lost permission, a deleted bus, 5xx) or not answer at all. moto does none of
this, so the proxy does it:

- `FailurePlan`: entries to fail by the `symbol` in their detail, once or always.
- `Fault` windows on a clock (a `SimClock` in the scenarios): during [start, end) every
  request fails whole with `request_error`, or chosen entries fail with `entry_error`, or the
  proxy never answers (`hang`: it holds the connection until the client gives up).

Failed entries never reach moto; the others are forwarded and the answers merged in request
order. Every other call passes through.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import urlsplit

from asset_sync.local.loopback import LoopbackServer

HANG_SECONDS = 3.0  # how long a hung request is held (longer than the clients' read timeouts)
REQUEST_ERROR_STATUS = {"InternalException": 500, "ServiceUnavailable": 503}


class MonotonicClock(Protocol):
    def monotonic(self) -> float: ...


def symbol_of(entry: Mapping[str, Any]) -> str | None:
    """The `symbol` in an entry's detail."""
    symbol = json.loads(entry.get("Detail") or "{}").get("symbol")
    return str(symbol) if symbol is not None else None


@dataclass
class FailurePlan:
    """Entries to fail, by the `symbol` in their detail: once (then accepted) or always."""

    once: set[str] = field(default_factory=set)
    always: set[str] = field(default_factory=set)
    code: str = "InternalFailure"
    failed: Counter[str] = field(default_factory=Counter)

    def error_for(self, entry: Mapping[str, Any]) -> str | None:
        """The error code to answer for this entry, or None to let it through."""
        symbol = symbol_of(entry)
        if symbol is None:
            return None
        if symbol in self.always or (symbol in self.once and not self.failed[symbol]):
            self.failed[symbol] += 1
            return self.code
        return None


@dataclass(frozen=True)
class Fault:
    """A fault during [start, end) on the proxy's clock (`end=None`: until removed)."""

    start: float = 0.0
    end: float | None = None
    request_error: str | None = None  # every request fails whole with this code
    entry_error: str | None = None  # chosen entries fail with this code
    symbols: frozenset[str] | None = None  # the entries `entry_error` fails (None: all)
    hang: bool = False  # requests are never answered

    def active(self, now: float) -> bool:
        return self.start <= now and (self.end is None or now < self.end)


@dataclass
class PutEventsLog:
    """What the proxy saw: each request's entries and what it answered."""

    requests: list[list[dict[str, Any]]] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)  # "ok", an error code, or "hang"


class PutEventsProxy(LoopbackServer):
    """Forwards to `upstream`; records every PutEvents request; applies the plan and faults."""

    def __init__(
        self,
        upstream: str,
        plan: FailurePlan | None = None,
        clock: MonotonicClock | None = None,
    ) -> None:
        super().__init__()
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.plan = plan or FailurePlan()
        self.clock = clock
        self.faults: list[Fault] = []
        self.log = PutEventsLog()
        self._lock = threading.Lock()
        self._released = threading.Event()

    @property
    def requests(self) -> list[list[dict[str, Any]]]:
        """Every PutEvents request's entries, in order."""
        return self.log.requests

    def _active(self) -> list[Fault]:
        now = self.clock.monotonic() if self.clock is not None else 0.0
        return [fault for fault in self.faults if fault.active(now)]

    def _forward(self, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
            connection.request("POST", path, body=body, headers=sent)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def _entry_error(self, entry: Mapping[str, Any], faults: list[Fault]) -> str | None:
        for fault in faults:
            if fault.entry_error and (fault.symbols is None or symbol_of(entry) in fault.symbols):
                return fault.entry_error
        return self.plan.error_for(entry)

    def _put_events(
        self, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, bytes] | None:
        """The answer to one PutEvents request; None: never answer it."""
        request = json.loads(body)
        entries: list[dict[str, Any]] = request["Entries"]
        with self._lock:
            faults = self._active()
            self.log.requests.append(entries)
            if any(fault.hang for fault in faults):
                self.log.answers.append("hang")
                return None
            failing = next((f.request_error for f in faults if f.request_error), None)
            if failing:
                self.log.answers.append(failing)
                status = REQUEST_ERROR_STATUS.get(failing, 400)
                return status, json.dumps({"__type": failing, "message": "injected"}).encode()
            errors = [self._entry_error(entry, faults) for entry in entries]
            self.log.answers.append("ok")
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
            disable_nagle_algorithm = True  # no delayed-ACK stall per keep-alive response

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                answer: tuple[int, bytes] | None
                if self.headers.get("X-Amz-Target", "").endswith(".PutEvents"):
                    answer = proxy._put_events(self.path, headers, body)
                else:
                    answer = proxy._forward(self.path, headers, body)
                if answer is None:  # hold the connection, then drop it unanswered
                    proxy._released.wait(HANG_SECONDS)
                    self.close_connection = True
                    return
                status, payload = answer
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._released.clear()
        return self._serve(Handler)

    def stop(self) -> None:
        """Release hung requests, then stop listening."""
        self._released.set()
        super().stop()

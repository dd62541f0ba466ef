"""Scripted misbehaviours of the stand-in and the queues that hand them out, one per request."""

from __future__ import annotations

import html
import math
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Literal

from asset_sync.local.stand_in.api import JSON, RATE_LIMIT, error_body

FaultKind = Literal["respond", "reset", "slow", "truncated"]
FaultRoute = Literal["any", "list", "lookup"]


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
    content_type: str = JSON
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
            body = error_body(code, HTTPStatus(code).phrase.lower())
        return cls("respond", code, body, JSON, tuple((headers or {}).items()))

    @classmethod
    def rate_limited(cls, retry_after: float | None = None, reset_in: float | None = None) -> Fault:
        """429 with ``Retry-After: <seconds>`` and/or ``X-RateLimit-Reset: now + reset_in``.

        Non-integral ``retry_after`` is sent as decimal text (``0.2``), handy for fast tests.
        """
        body = error_body(429, "rate limit exceeded")
        return cls("respond", 429, body, JSON, retry_after=retry_after, reset_in=reset_in)

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
    def body(cls, raw: bytes, status: int = 200, content_type: str = JSON) -> Fault:
        """Respond ``status`` with exactly ``raw`` (``b"[]"``, oversized or hostile bodies)."""
        return cls("respond", status, raw, content_type)

    def response_headers(self) -> list[tuple[str, str]]:
        """The headers a ``respond`` fault sends (429's rate-limit headers included)."""
        headers = list(self.headers)
        if self.status_code == 429:
            headers.append(("X-RateLimit-Limit", str(RATE_LIMIT)))
            headers.append(("X-RateLimit-Remaining", "0"))
        if self.retry_after is not None:
            headers.append(("Retry-After", f"{self.retry_after:g}"))
        if self.reset_in is not None:
            headers.append(("X-RateLimit-Reset", str(math.ceil(time.time() + self.reset_in))))
        return headers


class FaultQueues:
    """Queued faults: one per route (``list``, ``lookup``) and one both routes share (``any``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[FaultRoute, deque[Fault]] = {
            "any": deque(), "list": deque(), "lookup": deque()
        }  # fmt: skip

    def add(self, faults: tuple[Fault, ...], route: FaultRoute) -> None:
        """Queue ``faults`` for requests to ``route``, in order."""
        with self._lock:
            self._queues[route].extend(faults)

    def clear(self) -> None:
        """Drop every queued fault, of every route."""
        with self._lock:
            for queue in self._queues.values():
                queue.clear()

    def pending(self) -> int:
        """How many faults (of every route) have not been consumed yet."""
        with self._lock:
            return sum(len(queue) for queue in self._queues.values())

    def next_for(self, route: str) -> Fault | None:
        """The fault a request to ``route`` (``""``: the list) consumes: its own queue first."""
        with self._lock:
            own = self._queues["lookup" if route else "list"]
            for queue in (own, self._queues["any"]):
                if queue:
                    return queue.popleft()
            return None

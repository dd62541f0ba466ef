"""What Alpaca answers on its assets routes: routes, authorization, rate headers, bodies."""

from __future__ import annotations

import hmac
import json
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote

from asset_sync.local.stand_in.universe import Snapshot

RATE_LIMIT = 200
"""Value of ``X-RateLimit-Limit`` (requests per minute)."""

DEFAULT_ASSET_CLASS = "us_equity"
"""What ``GET /v2/assets`` serves without ``asset_class`` (Alpaca: "Defaults to us_equity.")."""

ASSETS_PATH = "/v2/assets"
JSON = "application/json"
Headers = Sequence[tuple[str, str]]


def error_body(status: int, message: str) -> bytes:
    """An Alpaca-style error body: ``{"code": <status>10000, "message": ...}``."""
    return json.dumps({"code": status * 100_000 + 10_000, "message": message}).encode()


@dataclass(frozen=True, slots=True)
class Reply:
    """A status, a JSON body and the headers that go with them."""

    status: int
    body: bytes
    headers: Headers = ()


def route_of(path: str) -> str | None:
    """``""`` for the list route, the raw segment for a single asset, ``None`` otherwise."""
    if path == ASSETS_PATH:
        return ""
    prefix = ASSETS_PATH + "/"
    if path.startswith(prefix):
        segment = path[len(prefix) :]
        if segment and "/" not in segment:
            return segment
    return None


def _first(params: dict[str, list[str]], name: str) -> str:
    values = params.get(name)
    return values[0].strip() if values else ""


class Credentials:
    """The one key pair the stand-in accepts (compared in constant time; never echoed)."""

    def __init__(self, key_id: str, secret_key: str) -> None:
        self.key_id = key_id
        self._secret = secret_key.encode()

    def accept(self, key_id: str | None, secret: str | None) -> bool:
        """Whether both headers match the configured pair."""
        if key_id is None or secret is None:
            return False
        key_ok = hmac.compare_digest(key_id.encode(), self.key_id.encode())
        return hmac.compare_digest(secret.encode(), self._secret) and key_ok


class RateWindow:
    """The per-minute counter behind ``X-RateLimit-Remaining`` (informational only)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset = 0
        self._count = 0

    def headers(self) -> list[tuple[str, str]]:
        """Count one request; the rate-limit headers of its answer."""
        with self._lock:
            now = time.time()
            if now >= self._reset:
                self._reset = math.floor(now) + 60
                self._count = 0
            self._count += 1
            remaining = max(0, RATE_LIMIT - self._count)
            reset = self._reset
        return [
            ("X-RateLimit-Limit", str(RATE_LIMIT)),
            ("X-RateLimit-Remaining", str(remaining)),
            ("X-RateLimit-Reset", str(reset)),
        ]


def answer(
    method: str,
    route: str | None,
    query: str,
    authorized: bool,
    catalog: Snapshot,
    rate: RateWindow,
) -> Reply:
    """Alpaca's answer to one request (no fault): 404, 401, 405, a list or one asset."""
    if route is None:
        return Reply(404, error_body(404, "endpoint not found"))
    if not authorized:
        return Reply(401, error_body(401, "request is not authorized"))
    if method not in ("GET", "HEAD"):
        return Reply(405, error_body(405, "method not allowed"))
    headers = rate.headers()
    if route == "":
        params = parse_qs(query, keep_blank_values=True)
        attrs = {a.strip() for v in params.get("attributes", [])[:1] for a in v.split(",")}
        body = catalog.listing(
            _first(params, "status"),  # absent: every status
            _first(params, "asset_class") or DEFAULT_ASSET_CLASS,
            _first(params, "exchange"),
            tuple(sorted(attrs - {""})),
        )
        return Reply(200, body, headers)
    key = unquote(route)
    asset = catalog.lookup(key)
    if asset is None:
        return Reply(404, error_body(404, f"asset not found for {key}"), headers)
    return Reply(200, json.dumps(asset, separators=(",", ":")).encode(), headers)

"""Alpaca Trading API client for the assets endpoints, over urllib3 (botocore's own HTTP stack).

Retries (429, 5xx, connection and read errors) use urllib3's Retry with exponential backoff and
jitter, honouring `Retry-After` and, failing that, `X-RateLimit-Reset` (epoch seconds on Alpaca's
clock, so measured from the response's `Date`, not this machine's clock); a server that asks for a
longer wait than `max_retry_wait` fails the run at once rather than sleeping past the deadline.
The secret key is sent only as a header and never appears in an error message: wherever it
occurs as a token in text the client builds, the whole token is replaced by `***`, which says
nothing of its length or letters (text that merely contains it inside a longer word is left as
it is; a secret shorter than 8 characters is refused as a configuration error).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Self
from urllib.parse import quote, urlencode, urlsplit

import urllib3
from urllib3.exceptions import HTTPError, MaxRetryError, ProtocolError, ReadTimeoutError
from urllib3.util.retry import Retry

from asset_sync.config import AlpacaCredentials
from asset_sync.logic.catalog import CatalogAssetNotFoundError, CatalogAuthError, CatalogError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "signal9-asset-sync/0.1"
REDACTED = "***"


def redact(text: str, secret: str) -> str:
    """`text` with every occurrence of `secret` as a token (not next to a letter or a digit)
    replaced by `***`: whole, so neither its length nor its letters show."""
    if not secret:
        return text
    token = re.compile(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])")
    return token.sub(REDACTED, text)


class AlpacaError(CatalogError):
    """The catalog could not be fetched; the message says why (never with the secret)."""


class AlpacaAuthError(AlpacaError, CatalogAuthError):
    """Alpaca rejected the credentials (401/403): retrying cannot help."""


class AlpacaEndpointError(AlpacaError):
    """`GET /v2/assets` answered 404: APCA_API_BASE_URL is not the API's root."""


class AssetNotFoundError(AlpacaError, CatalogAssetNotFoundError):
    """`GET /v2/assets/{symbol}` answered 404."""


class CatalogTooLargeError(AlpacaError):
    """The response body exceeded the configured limit."""


class RateLimitWaitTooLongError(AlpacaError):
    """Alpaca asked for a wait longer than the client may sleep."""


class AlpacaRetry(Retry):
    """urllib3 Retry that also understands Alpaca's `X-RateLimit-Reset` (epoch seconds)."""

    max_retry_wait: float = 60.0

    def parse_retry_after(self, retry_after: str) -> float:
        """Seconds, also fractional (`0.5`), or an HTTP date (urllib3 takes only whole numbers)."""
        try:
            seconds = float(retry_after)
        except ValueError:
            return super().parse_retry_after(retry_after)
        if not math.isfinite(seconds):
            return super().parse_retry_after(retry_after)  # urllib3's clear InvalidHeader
        return max(0.0, seconds)

    def get_retry_after(self, response: urllib3.BaseHTTPResponse) -> float | None:
        """Seconds to wait: `Retry-After` first, else until `X-RateLimit-Reset`."""
        wait = super().get_retry_after(response)
        if wait is None:
            reset = response.headers.get("X-RateLimit-Reset")
            if response.status == 429 and reset and reset.strip().isdigit():
                wait = max(0.0, int(reset) - server_time(response))
        if wait is not None and wait > self.max_retry_wait:
            raise RateLimitWaitTooLongError(
                f"Alpaca rate limit: asked to wait {wait:.0f} s, more than the "
                f"{self.max_retry_wait:.0f} s this client may wait; try again later"
            )
        return wait

    def new(self, **kw: Any) -> Self:
        """Carry `max_retry_wait` into the copies urllib3 makes on every attempt."""
        copy = super().new(**kw)
        copy.max_retry_wait = self.max_retry_wait
        return copy


def server_time(response: urllib3.BaseHTTPResponse) -> float:
    """The server's clock when it answered (its `Date`, whole seconds), else this machine's.

    A machine whose clock is days behind would otherwise read a reset one minute away on
    Alpaca's clock as days away, and give up.
    """
    try:
        moment = parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError, IndexError, OverflowError):
        return time.time()
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True)
class ClientOptions:
    """Timeouts and retry budget."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_retries: int = 5
    backoff_factor: float = 0.5
    backoff_max: float = 20.0
    backoff_jitter: float = 0.5
    max_retry_wait: float = 60.0
    max_body_bytes: int = 32 * 1024 * 1024


class AlpacaClient:
    """`GET /v2/assets` and `GET /v2/assets/{symbol}`."""

    def __init__(
        self,
        base_url: str,
        credentials: AlpacaCredentials,
        options: ClientOptions | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.options = options or ClientOptions()
        self._credentials = credentials
        self._pool = urllib3.PoolManager(
            headers={
                "APCA-API-KEY-ID": credentials.key_id,
                "APCA-API-SECRET-KEY": credentials.secret_key,
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            timeout=urllib3.Timeout(
                connect=self.options.connect_timeout, read=self.options.read_timeout
            ),
        )
        self.attempts = 0  # HTTP attempts made so far, retries included

    def _retry(self) -> AlpacaRetry:
        options = self.options
        retry = AlpacaRetry(
            total=options.max_retries,
            connect=options.max_retries,
            read=options.max_retries,
            status=options.max_retries,
            redirect=False,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET"}),
            backoff_factor=options.backoff_factor,
            backoff_max=options.backoff_max,
            backoff_jitter=options.backoff_jitter,
            respect_retry_after_header=True,
            retry_after_max=int(options.max_retry_wait * 10),
            raise_on_status=False,
        )
        retry.max_retry_wait = options.max_retry_wait
        return retry

    def list_assets_body(
        self,
        status: str | None = "active",
        asset_class: str | None = None,
        exchange: str | None = None,
    ) -> bytes:
        """The raw `/v2/assets` body (one JSON array), read within the size limit."""
        query = {
            key: value
            for key, value in (
                ("status", status),
                ("asset_class", asset_class),
                ("exchange", exchange),
            )
            if value
        }
        path = "/v2/assets" + (f"?{urlencode(query)}" if query else "")
        return self._get(path)

    def list_assets_bodies(self, asset_classes: Sequence[str] = ()) -> list[bytes]:
        """One body per requested asset class, or one unfiltered body."""
        if not asset_classes:
            return [self.list_assets_body()]
        return [self.list_assets_body(asset_class=c) for c in asset_classes]

    def get_asset(self, symbol_or_id: str) -> dict[str, Any]:
        """One asset; the symbol is URL-encoded (`BTC/USD` -> `BTC%2FUSD`)."""
        body = self._get(f"/v2/assets/{quote(symbol_or_id, safe='')}")
        try:
            value = json.loads(body)
        except ValueError:
            raise AlpacaError(f"asset {symbol_or_id!r}: response is not JSON") from None
        if not isinstance(value, dict):
            raise AlpacaError(f"asset {symbol_or_id!r}: response is not a JSON object")
        return value

    def _get(self, path: str) -> bytes:
        url = self.base_url + path
        retry = self._retry()
        before = self.attempts
        while True:
            try:
                response = self._pool.request(
                    "GET", url, retries=retry, preload_content=False, redirect=False
                )
            except MaxRetryError as error:
                self.attempts = before + self.options.max_retries + 1
                raise AlpacaError(
                    f"GET {path} failed after {self.options.max_retries} retries: "
                    f"{self._redact(str(error.reason))}"
                ) from None
            except HTTPError as error:
                raise AlpacaError(f"GET {path} failed: {self._redact(str(error))}") from None
            retry = response.retries if isinstance(response.retries, AlpacaRetry) else retry
            self.attempts = before + len(retry.history) + 1
            try:
                self._check_status(path, response)
                return self._read_limited(path, response)
            except (ProtocolError, ReadTimeoutError) as error:
                # The body broke off mid-read: spend one retry of the same budget on it.
                try:
                    retry = retry.increment("GET", url, error=error)
                except MaxRetryError:
                    raise AlpacaError(
                        f"GET {path}: the response body broke off: {self._redact(str(error))}"
                    ) from None
                retry.sleep()
            finally:
                response.release_conn()

    def _check_status(self, path: str, response: urllib3.BaseHTTPResponse) -> None:
        status = response.status
        if 200 <= status < 300:
            return
        detail = self._error_detail(response)
        if status in (401, 403):
            raise AlpacaAuthError(
                f"Alpaca rejected the API keys for GET {path} (HTTP {status}{detail}); check "
                "APCA_API_KEY_ID and APCA_API_SECRET_KEY (not swapped), and that "
                "APCA_API_BASE_URL matches the keys (paper or live)"
            )
        if status == 404 and path.startswith("/v2/assets/"):
            raise AssetNotFoundError(f"GET {path}: asset not found (HTTP 404{detail})")
        if status == 404:
            raise AlpacaEndpointError(
                f"GET {self._shown_url(path)} answered HTTP 404{detail}; APCA_API_BASE_URL must "
                "be the API's root without a path, such as https://paper-api.alpaca.markets"
            )
        tries = len(response.retries.history) if response.retries else 0
        retried = f" after {tries} retries" if tries else ""
        raise AlpacaError(f"GET {path} answered HTTP {status}{retried}{detail}")

    def _error_detail(self, response: urllib3.BaseHTTPResponse) -> str:
        """`: <message>` from an Alpaca error body, or the content type of anything else."""
        raw = response.read(4096, decode_content=True)
        content_type = response.headers.get("Content-Type", "")
        try:
            message = json.loads(raw).get("message")
        except (ValueError, AttributeError):
            return f", {content_type or 'no content type'} body"
        return f": {self._redact(str(message))[:200]}" if message else ""

    def _read_limited(self, path: str, response: urllib3.BaseHTTPResponse) -> bytes:
        limit = self.options.max_body_bytes
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise CatalogTooLargeError(
                f"GET {path}: body of {int(declared):,} bytes exceeds the {limit:,}-byte limit"
            )
        chunks: list[bytes] = []
        size = 0
        for chunk in response.stream(256 * 1024, decode_content=True):
            size += len(chunk)
            if size > limit:
                raise CatalogTooLargeError(
                    f"GET {path}: body exceeds the {limit:,}-byte limit; stopped reading"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _shown_url(self, path: str) -> str:
        """The full URL of `path`, without any user:password part of the base URL."""
        parts = urlsplit(self.base_url)
        host = parts.netloc.rpartition("@")[2]
        return f"{parts.scheme}://{host}{parts.path}{path}"

    def _redact(self, text: str) -> str:
        return redact(text, self._credentials.secret_key)

    def close(self) -> None:
        """Close pooled connections."""
        self._pool.clear()

"""Tests of the local Alpaca stand-in over real HTTP on loopback."""

from __future__ import annotations

import http.client
import json
import math
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, urlsplit

import pytest

from asset_sync.local.catalog import Asset, generate_catalog
from asset_sync.local.stand_in import AlpacaStandIn, Fault

KEY, SECRET = "test-key", "test-secret-value"
AUTH = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
NOT_FOUND_ENDPOINT = {"code": 40410000, "message": "endpoint not found"}


class Reply:
    """A status, headers and raw body, whatever the status."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> object:
        return json.loads(self.body)


def get(
    base: str, path: str, headers: Mapping[str, str] | None = None, timeout: float = 10
) -> Reply:
    request = urllib.request.Request(
        base + path, headers=dict(AUTH if headers is None else headers)
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as err:
        with err:
            return Reply(err.code, err.headers, err.read())


@pytest.fixture(scope="module")
def catalog() -> list[Asset]:
    return generate_catalog(2000, seed=9, inactive=0.1)


@pytest.fixture
def stand_in(catalog: list[Asset]) -> Iterator[AlpacaStandIn]:
    with AlpacaStandIn(catalog, key_id=KEY, secret_key=SECRET) as server:
        yield server


@pytest.fixture
def base(stand_in: AlpacaStandIn) -> str:
    return stand_in.base_url


def first(catalog: list[Asset], predicate: object) -> Asset:
    assert callable(predicate)
    return next(a for a in catalog if predicate(a))


def equities(catalog: list[Asset]) -> list[Asset]:
    """What ``GET /v2/assets`` serves without ``asset_class`` (Alpaca's default class)."""
    return [a for a in catalog if a.get("class") == "us_equity"]


# -- basics -----------------------------------------------------------------------------------
def test_lifecycle() -> None:
    server = AlpacaStandIn()
    with pytest.raises(RuntimeError):
        _ = server.base_url
    url = server.start()
    assert url.startswith("http://127.0.0.1:")
    assert server.start() == url  # idempotent
    assert get(url, "/v2/assets", {
        "APCA-API-KEY-ID": "local-key", "APCA-API-SECRET-KEY": "local-secret"
    }).json() == []  # fmt: skip
    server.stop()
    server.stop()
    with pytest.raises(OSError):
        get(url, "/v2/assets", timeout=2)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"APCA-API-KEY-ID": KEY},
        {"APCA-API-SECRET-KEY": SECRET},
        {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": "wrong-secret-guess"},
        {"APCA-API-KEY-ID": "other-key", "APCA-API-SECRET-KEY": SECRET},
    ],
)
def test_unauthorized(base: str, headers: dict[str, str]) -> None:
    for path in ("/v2/assets", "/v2/assets/AAPL"):
        reply = get(base, path, headers)
        assert reply.status == 401
        assert reply.json() == {"code": 40110000, "message": "request is not authorized"}
        assert SECRET.encode() not in reply.body
        assert b"wrong-secret-guess" not in reply.body
        assert "X-RateLimit-Limit" not in reply.headers


def test_list_defaults_to_us_equity_of_every_status_unpaginated(
    base: str, catalog: list[Asset]
) -> None:
    reply = get(base, "/v2/assets")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert int(reply.headers["Content-Length"]) == len(reply.body)
    assert reply.json() == equities(catalog)
    assert {a["status"] for a in equities(catalog)} == {"active", "inactive"}


def test_every_class_on_request(base: str, catalog: list[Asset]) -> None:
    classes = sorted({str(a["class"]) for a in catalog})
    assert {"us_equity", "crypto", "crypto_perp", "us_option", "ipo"} <= set(classes)
    served = {c: get(base, "/v2/assets?asset_class=" + c).json() for c in classes}
    for cls, assets in served.items():
        assert assets == [a for a in catalog if a["class"] == cls]


def _eq(a: Asset) -> bool:
    return a["class"] == "us_equity"


def _has(a: Asset, *attributes: str) -> bool:
    attrs = a.get("attributes", [])
    return isinstance(attrs, list) and bool(set(attributes) & set(attrs))


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ("asset_class=crypto", lambda a: a["class"] == "crypto"),
        ("asset_class=us_equity", _eq),
        ("status=active", lambda a: _eq(a) and a["status"] == "active"),
        ("status=inactive", lambda a: _eq(a) and a["status"] == "inactive"),
        (
            "status=active&asset_class=crypto",
            lambda a: (a["class"], a["status"]) == ("crypto", "active"),
        ),
        ("exchange=NASDAQ", lambda a: _eq(a) and a["exchange"] == "NASDAQ"),
        ("exchange=ASCX", lambda a: _eq(a) and a["exchange"] == "ASCX"),
        ("exchange=CRYPTO", lambda a: False),  # crypto is not the default class
        ("exchange=CRYPTO&asset_class=crypto", lambda a: a["class"] == "crypto"),
        ("attributes=ipo,has_options", lambda a: _eq(a) and _has(a, "ipo", "has_options")),
        ("attributes=ipo&asset_class=ipo", lambda a: a["class"] == "ipo" and _has(a, "ipo")),
        (
            "status=active&asset_class=us_equity&exchange=NYSE",
            lambda a: (a["status"], a["class"], a["exchange"]) == ("active", "us_equity", "NYSE"),
        ),
        ("asset_class=", _eq),  # an empty value counts as absent
        ("status=&exchange=&attributes=", _eq),
        ("unknown_param=1", _eq),
        ("asset_class=bonds", lambda a: False),  # unknown class: an empty array (our choice)
        ("asset_class=US_EQUITY", lambda a: False),  # exact, case-sensitive
        ("status=bogus", lambda a: False),
        ("exchange=nasdaq", lambda a: False),
    ],
)
def test_list_filters(base: str, catalog: list[Asset], query: str, keep: object) -> None:
    assert callable(keep)
    expected = [a for a in catalog if keep(a)]
    reply = get(base, "/v2/assets?" + query)
    assert reply.status == 200
    assert reply.json() == expected
    # A second identical query (served from the filter cache) is the same.
    assert get(base, "/v2/assets?" + query).body == reply.body


def test_rate_limit_headers(base: str) -> None:
    replies = [get(base, "/v2/assets?asset_class=crypto") for _ in range(3)]
    now = time.time()
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in replies]
    for r in replies:
        assert r.headers["X-RateLimit-Limit"] == "200"
        reset = int(r.headers["X-RateLimit-Reset"])
        assert now - 1 <= reset <= now + 61
    assert remaining == sorted(remaining, reverse=True)
    assert remaining[0] <= 199


# -- single asset -------------------------------------------------------------------------------
def test_single_asset_by_url_encoded_slash_symbol(base: str, catalog: list[Asset]) -> None:
    crypto = first(catalog, lambda a: a["class"] == "crypto")
    symbol = str(crypto["symbol"])
    assert "/" in symbol
    reply = get(base, "/v2/assets/" + quote(symbol, safe=""))
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json() == crypto
    # Alpaca's old slash-less crypto symbology is accepted too.
    assert get(base, "/v2/assets/" + symbol.replace("/", "")).json() == crypto


def test_single_asset_by_dot_symbol_id_and_cusip(base: str, catalog: list[Asset]) -> None:
    dotted = first(catalog, lambda a: "." in str(a["symbol"]))
    assert get(base, "/v2/assets/" + str(dotted["symbol"])).json() == dotted
    assert get(base, "/v2/assets/" + str(dotted["id"])).json() == dotted
    with_cusip = first(catalog, lambda a: isinstance(a.get("cusip"), str))
    assert get(base, "/v2/assets/" + str(with_cusip["cusip"])).json() == with_cusip


def test_single_asset_not_found(base: str) -> None:
    reply = get(base, "/v2/assets/FAKE")
    assert reply.status == 404
    assert reply.json() == {"code": 40410000, "message": "asset not found for FAKE"}
    reply = get(base, "/v2/assets/NOPE%2FUSD")
    assert reply.json() == {"code": 40410000, "message": "asset not found for NOPE/USD"}


@pytest.mark.parametrize(
    "path", ["/v2/account", "/v2/assets/", "/v2/assets/A/B", "/v1/assets", "/"]
)
def test_other_paths_are_404(base: str, path: str) -> None:
    reply = get(base, path)
    assert reply.status == 404
    assert reply.json() == NOT_FOUND_ENDPOINT


def test_non_get_is_405(base: str) -> None:
    request = urllib.request.Request(base + "/v2/assets", data=b"{}", headers=AUTH, method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 405
    info.value.close()


def test_request_log_and_count(stand_in: AlpacaStandIn, base: str) -> None:
    get(base, "/v2/assets?status=active&asset_class=crypto")
    get(base, "/v2/assets/BTC%2FUSD")
    get(base, "/v2/nothing", {})
    assert stand_in.request_log == [
        ("GET", "/v2/assets", "status=active&asset_class=crypto"),
        ("GET", "/v2/assets/BTC%2FUSD", ""),
        ("GET", "/v2/nothing", ""),
    ]
    assert stand_in.requests_served == 3


def test_keep_alive_connection_reused(base: str) -> None:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        conn.request("GET", "/v2/assets?asset_class=crypto", headers=AUTH)
        first_reply = conn.getresponse()
        first_reply.read()
        sock = conn.sock
        conn.request("GET", "/v2/assets/FAKE", headers=AUTH)
        second = conn.getresponse()
        assert json.loads(second.read())["code"] == 40410000
        assert conn.sock is sock
        assert first_reply.version == 11
    finally:
        conn.close()


def test_concurrent_clients(stand_in: AlpacaStandIn, base: str, catalog: list[Asset]) -> None:
    with ThreadPoolExecutor(max_workers=16) as pool:
        replies = list(pool.map(lambda _: get(base, "/v2/assets"), range(16)))
    assert {r.status for r in replies} == {200}
    assert all(r.json() == equities(catalog) for r in replies)
    assert stand_in.requests_served == 16


def test_set_assets_replaces_catalog(stand_in: AlpacaStandIn, base: str) -> None:
    replacement = equities(generate_catalog(10, seed=1))
    stand_in.set_assets(replacement)
    assert get(base, "/v2/assets?status=active").json() == replacement
    replacement[0]["name"] = "changed after set_assets"
    assert get(base, "/v2/assets?status=active").json() != replacement  # a private copy
    assert stand_in.assets == equities(generate_catalog(10, seed=1))
    stand_in.set_assets([])
    assert stand_in.assets == []
    assert get(base, "/v2/assets?status=active").json() == []


def test_serves_a_full_size_catalog(stand_in: AlpacaStandIn, base: str) -> None:
    full = generate_catalog(35_000)
    stand_in.set_assets(full)
    reply = get(base, "/v2/assets?status=active")  # the fixture's catalog is retired, inactive
    assert reply.status == 200
    assert len(reply.body) == int(reply.headers["Content-Length"])
    assert reply.json() == equities(full)


# -- faults ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_fault_status(stand_in: AlpacaStandIn, base: str, code: int) -> None:
    stand_in.script(Fault.status(code))
    reply = get(base, "/v2/assets")
    assert reply.status == code
    assert reply.headers["Content-Type"] == "application/json"
    body = reply.json()
    assert isinstance(body, dict)
    assert body["code"] == code * 100_000 + 10_000
    assert get(base, "/v2/assets").status == 200


def test_fault_status_custom_body_and_headers(stand_in: AlpacaStandIn, base: str) -> None:
    stand_in.script(Fault.status(503, body=b'{"message":"down"}', headers={"Retry-After": "3"}))
    reply = get(base, "/v2/assets")
    assert (reply.status, reply.body, reply.headers["Retry-After"]) == (
        503,
        b'{"message":"down"}',
        "3",
    )


def test_fault_rate_limited(stand_in: AlpacaStandIn, base: str) -> None:
    stand_in.script(
        Fault.rate_limited(retry_after=2, reset_in=30),
        Fault.rate_limited(retry_after=0.25),
        Fault.rate_limited(reset_in=5),
    )
    reply = get(base, "/v2/assets")
    now = time.time()
    assert reply.status == 429
    assert reply.json() == {"code": 42910000, "message": "rate limit exceeded"}
    assert reply.headers["Retry-After"] == "2"
    assert reply.headers["X-RateLimit-Remaining"] == "0"
    assert reply.headers["X-RateLimit-Limit"] == "200"
    assert math.floor(now + 28) <= int(reply.headers["X-RateLimit-Reset"]) <= math.ceil(now + 31)
    reply = get(base, "/v2/assets")
    assert reply.headers["Retry-After"] == "0.25"
    assert "X-RateLimit-Reset" not in reply.headers
    reply = get(base, "/v2/assets")
    assert "Retry-After" not in reply.headers
    assert int(reply.headers["X-RateLimit-Reset"]) >= math.floor(time.time() + 3)


def test_fault_connection_reset_seen_by_urllib(stand_in: AlpacaStandIn, base: str) -> None:
    stand_in.script(Fault.connection_reset())
    with pytest.raises((ConnectionError, urllib.error.URLError)):
        get(base, "/v2/assets")
    assert get(base, "/v2/assets").status == 200


def test_fault_connection_reset_is_a_tcp_rst(stand_in: AlpacaStandIn, base: str) -> None:
    stand_in.script(Fault.connection_reset())
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname or "", parts.port or 0), timeout=5) as sock:
        sock.sendall(b"GET /v2/assets HTTP/1.1\r\nHost: localhost\r\n\r\n")
        with pytest.raises(ConnectionResetError):
            sock.recv(1024)  # an orderly close would return b"" instead


def test_fault_slow_times_out_client(stand_in: AlpacaStandIn, base: str) -> None:
    stand_in.script(Fault.slow(1.0))
    started = time.monotonic()
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        get(base, "/v2/assets", timeout=0.2)
    assert time.monotonic() - started < 0.9
    assert stand_in.pending_faults == 0
    assert get(base, "/v2/assets").status == 200


def test_fault_slow_then_serves(stand_in: AlpacaStandIn, base: str, catalog: list[Asset]) -> None:
    stand_in.script(Fault.slow(0.3))
    started = time.monotonic()
    reply = get(base, "/v2/assets", timeout=5)
    assert time.monotonic() - started >= 0.3
    assert reply.json() == equities(catalog)


def test_fault_truncated(stand_in: AlpacaStandIn, base: str) -> None:
    full = get(base, "/v2/assets").body
    stand_in.script(Fault.truncated())
    reply = get(base, "/v2/assets")
    assert reply.status == 200
    assert int(reply.headers["Content-Length"]) == len(reply.body) == len(full) // 2
    assert full.startswith(reply.body)
    with pytest.raises(json.JSONDecodeError):
        reply.json()


def test_fault_html_error(stand_in: AlpacaStandIn, base: str) -> None:
    stand_in.script(Fault.html_error(), Fault.html_error(504))
    reply = get(base, "/v2/assets")
    assert reply.status == 502
    assert reply.headers["Content-Type"] == "text/html"
    assert reply.body.startswith(b"<html>")
    assert b"502 Bad Gateway" in reply.body
    with pytest.raises(json.JSONDecodeError):
        reply.json()
    assert get(base, "/v2/assets").status == 504


def test_fault_raw_body(stand_in: AlpacaStandIn, base: str) -> None:
    hostile = b'[{"symbol": 1e999999, "id": null}' + b" " * 100_000
    stand_in.script(
        Fault.body(b"[]"),
        Fault.body(hostile),
        Fault.body(b"not json", status=500, content_type="text/plain"),
    )
    assert get(base, "/v2/assets").json() == []
    assert get(base, "/v2/assets").body == hostile
    reply = get(base, "/v2/assets")
    assert (reply.status, reply.headers["Content-Type"], reply.body) == (
        500,
        "text/plain",
        b"not json",
    )


def test_faults_consumed_in_order_then_normal(
    stand_in: AlpacaStandIn, base: str, catalog: list[Asset]
) -> None:
    stand_in.script(Fault.status(503), Fault.rate_limited(retry_after=1))
    stand_in.script(Fault.body(b"[]"))
    assert stand_in.pending_faults == 3
    statuses = [get(base, "/v2/assets").status for _ in range(3)]
    assert statuses == [503, 429, 200]
    assert stand_in.pending_faults == 0
    assert get(base, "/v2/assets").json() == equities(catalog)
    assert stand_in.requests_served == 4


def test_faults_apply_to_single_asset_route_only_assets_paths(
    stand_in: AlpacaStandIn, base: str, catalog: list[Asset]
) -> None:
    stand_in.script(Fault.status(500), Fault.truncated())
    assert get(base, "/v2/account").status == 404  # does not consume a fault
    assert get(base, "/v2/assets/FAKE").status == 500
    symbol = str(catalog[0]["symbol"])
    reply = get(base, "/v2/assets/" + quote(symbol, safe=""))
    with pytest.raises(json.JSONDecodeError):
        reply.json()
    assert get(base, "/v2/assets/" + quote(symbol, safe="")).json() == catalog[0]


def test_faults_precede_auth(stand_in: AlpacaStandIn, base: str) -> None:
    stand_in.script(Fault.html_error())
    assert get(base, "/v2/assets", {}).status == 502
    assert get(base, "/v2/assets", {}).status == 401


def test_clear_faults(stand_in: AlpacaStandIn, base: str) -> None:
    stand_in.script(Fault.status(500), Fault.connection_reset())
    stand_in.clear_faults()
    assert stand_in.pending_faults == 0
    assert get(base, "/v2/assets").status == 200


# -- CLI ---------------------------------------------------------------------------------------
def test_cli_serves_until_terminated() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "asset_sync.local.stand_in", "--assets", "50", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        headers = {"APCA-API-KEY-ID": "local-key", "APCA-API-SECRET-KEY": "local-secret"}
        assert get(url, "/v2/assets", headers).json() == equities(generate_catalog(50))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

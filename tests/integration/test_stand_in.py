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
from typing import Any
from urllib.parse import quote, urlsplit

import jsonschema
import pytest
from tests.support import asset_record, shared_file

from asset_sync.alpaca.client import AlpacaClient, AssetNotFoundError, ClientOptions
from asset_sync.config import AlpacaCredentials
from asset_sync.local.catalog import Asset, generate_catalog
from asset_sync.local.stand_in import DEFAULT_ASSET_CLASS, AlpacaStandIn, Fault

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
    with_cusip = first(catalog, lambda a: _eq(a) and isinstance(a.get("cusip"), str))
    assert get(base, "/v2/assets/" + str(with_cusip["cusip"])).json() == with_cusip
    # "CUSIP is also accepted for US equities": not for other classes.
    ipo = first(catalog, lambda a: a["class"] == "ipo" and isinstance(a.get("cusip"), str))
    assert get(base, "/v2/assets/" + str(ipo["cusip"])).status == 404
    assert get(base, "/v2/assets/" + str(ipo["symbol"])).json() == ipo


def test_single_asset_not_found(base: str) -> None:
    reply = get(base, "/v2/assets/FAKE")
    assert reply.status == 404
    assert reply.json() == {"code": 40410000, "message": "asset not found for FAKE"}
    assert reply.json() == json.loads(shared_file("yuelirex_get_404_error.json").read_text())
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


def test_answers_are_sent_with_tcp_nodelay(stand_in: AlpacaStandIn, base: str) -> None:
    """The handler writes a reply's headers and body apart: without TCP_NODELAY, Nagle holds the
    body until a keep-alive client's delayed ACK (~20-40 ms per answer)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        for path in ("/v2/assets", "/v2/assets/FAKE"):
            conn.request("GET", path, headers=AUTH)
            conn.getresponse().read()
        served = set(stand_in._connections)  # the server's side of the open connection
        assert len(served) == 1
        assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in served)
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
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        get(base, "/v2/assets", timeout=0.2)
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


# -- the asset universe: retirement, ticker changes -------------------------------------------
A, B, C = asset_record("A"), asset_record("B"), asset_record("C")
BRK = asset_record("BRK.B", exchange="NYSE")
BTC = asset_record(
    "BTC/USD", **{"class": "crypto", "exchange": "CRYPTO", "attributes": []}
)  # fmt: skip
DAY1 = [A, B, C, BTC, BRK]


@pytest.fixture
def small() -> Iterator[AlpacaStandIn]:
    """A stand-in serving DAY1: three plain equities, ``BRK.B`` and ``BTC/USD``."""
    with AlpacaStandIn(DAY1, key_id=KEY, secret_key=SECRET) as server:
        yield server


def lookup(server: AlpacaStandIn, key: str) -> Reply:
    return get(server.base_url, "/v2/assets/" + quote(key, safe=""))


def symbols(server: AlpacaStandIn, query: str = "") -> list[str]:
    reply = get(server.base_url, "/v2/assets" + query)
    assert reply.status == 200
    records = reply.json()
    assert isinstance(records, list)
    return [r["symbol"] for r in records]


def retired(asset: Asset) -> Asset:
    return {**asset, "status": "inactive", "tradable": False}


def test_set_assets_retires_absent_assets(small: AlpacaStandIn) -> None:
    small.set_assets([A, C])

    for key in ("B", str(B["id"])):
        assert lookup(small, key).json() == retired(B)
    for key in ("BTC/USD", "BTCUSD", str(BTC["id"])):
        assert lookup(small, key).json() == retired(BTC)
    assert lookup(small, "BRK.B").json() == retired(BRK)
    assert symbols(small) == ["A", "C", "B", "BRK.B"]  # no status: active and inactive
    assert symbols(small, "?status=active") == ["A", "C"]
    assert symbols(small, "?status=inactive") == ["B", "BRK.B"]
    assert symbols(small, "?status=inactive&asset_class=crypto") == ["BTC/USD"]
    assert symbols(small, "?status=active&asset_class=crypto") == []
    assert small.assets == [A, C]
    assert small.universe == [A, C, retired(B), retired(BTC), retired(BRK)]


def test_a_retired_asset_stays_retired_until_it_returns(small: AlpacaStandIn) -> None:
    small.set_assets([A, C])
    small.set_assets([A])
    assert symbols(small, "?status=inactive") == ["B", "BRK.B", "C"]  # each once
    assert lookup(small, "C").json() == retired(C)

    small.set_assets([A, B])  # relisted: served as given again
    assert lookup(small, "B").json() == B
    assert symbols(small, "?status=active") == ["A", "B"]
    assert symbols(small, "?status=inactive") == ["BRK.B", "C"]


def test_records_given_inactive_are_served_as_given(small: AlpacaStandIn) -> None:
    halted = asset_record("D", status="inactive")  # tradable stays as given
    small.set_assets([A, halted])
    assert lookup(small, "D").json() == halted
    assert symbols(small, "?status=active") == ["A"]
    assert symbols(small, "?status=inactive") == ["D", "B", "C", "BRK.B"]


def test_a_ticker_change_is_served_under_the_new_symbol(small: AlpacaStandIn) -> None:
    renamed = {**B, "symbol": "BNEW", "name": "B New Inc."}  # same asset id
    small.set_assets([A, renamed, C, BTC, BRK])

    assert lookup(small, "BNEW").json() == renamed
    assert lookup(small, str(B["id"])).json() == renamed
    old = lookup(small, "B")
    assert old.status == 404  # the spec and samples say nothing of former symbols
    assert old.json() == {"code": 40410000, "message": "asset not found for B"}
    assert symbols(small) == ["A", "BNEW", "C", "BRK.B"]
    assert len(small.universe) == len(DAY1)


def test_a_symbol_reused_by_a_new_asset(small: AlpacaStandIn) -> None:
    newcomer = asset_record("B", id="00000000-0000-4000-8000-00000000000b", name="Another B")
    small.set_assets([A, newcomer, C, BTC, BRK])

    assert lookup(small, "B").json() == newcomer  # the current catalog wins the symbol
    assert lookup(small, str(B["id"])).json() == retired(B)
    assert lookup(small, str(newcomer["id"])).json() == newcomer
    assert symbols(small, "?status=inactive") == ["B"]


def test_records_without_an_id_are_not_kept(small: AlpacaStandIn) -> None:
    anonymous = {k: v for k, v in asset_record("ANON").items() if k != "id"}
    small.set_assets([A, anonymous])
    assert lookup(small, "ANON").json() == anonymous
    small.set_assets([A])
    assert lookup(small, "ANON").status == 404
    assert "ANON" not in symbols(small)


def test_lookups_decode_slash_and_dot_symbols(small: AlpacaStandIn) -> None:
    base = small.base_url
    for path in ("BRK.B", "BRK%2EB", "BTC%2FUSD", "BTC%2fUSD", "BTCUSD"):
        reply = get(base, "/v2/assets/" + path)
        assert reply.status == 200, path
        assert reply.json() == (BRK if path.startswith("BRK") else BTC)
    assert get(base, "/v2/assets/BTC/USD").json() == NOT_FOUND_ENDPOINT
    assert small.lookups == ["BRK.B", "BRK.B", "BTC/USD", "BTC/USD", "BTCUSD"]


# -- scripted inconsistencies -------------------------------------------------------------------
LIST_QUERIES = ("", "?status=active", "?exchange=NASDAQ", "?attributes=has_options")


def test_omit_from_list_keeps_assets_findable_by_lookup(small: AlpacaStandIn) -> None:
    small.omit_from_list(["B", str(C["id"])])

    for query in LIST_QUERIES:
        listed = symbols(small, query)
        assert "A" in listed and "B" not in listed and "C" not in listed, query
    assert lookup(small, str(B["id"])).json() == B  # "listed as active by id but missing"
    assert lookup(small, "C").json() == C
    small.set_assets(DAY1)  # survives a new catalog
    assert symbols(small, "?status=active") == ["A", "BRK.B"]

    small.clear_inconsistencies()
    assert symbols(small, "?status=active") == ["A", "B", "C", "BRK.B"]


def test_forget_makes_assets_unknown(small: AlpacaStandIn) -> None:
    small.forget(["B", str(BTC["id"])])

    for key in ("B", str(B["id"]), "BTC/USD", "BTCUSD"):
        reply = lookup(small, key)
        assert reply.status == 404
        assert reply.json() == {"code": 40410000, "message": f"asset not found for {key}"}
    assert symbols(small) == ["A", "C", "BRK.B"]
    assert symbols(small, "?asset_class=crypto") == []
    small.set_assets([A, C])  # B is retired, and still forgotten
    assert symbols(small, "?status=inactive") == ["BRK.B"]
    assert lookup(small, "B").status == 404

    small.clear_inconsistencies()
    assert lookup(small, "B").json() == retired(B)
    assert symbols(small, "?status=inactive") == ["B", "BRK.B"]


def test_a_string_names_one_asset(small: AlpacaStandIn) -> None:
    small.omit_from_list("BRK.B")  # not the characters B, R, K, ".", B
    assert symbols(small) == ["A", "B", "C"]


@pytest.mark.parametrize("method", ["omit_from_list", "forget"])
def test_an_unknown_key_is_refused_and_nothing_changes(small: AlpacaStandIn, method: str) -> None:
    with pytest.raises(ValueError, match="NOPE"):
        getattr(small, method)(["A", "NOPE"])
    assert symbols(small) == ["A", "B", "C", "BRK.B"]
    assert lookup(small, "A").status == 200
    small.set_assets([A])
    getattr(small, method)("B")  # a retired asset is known


# -- lookups: faults and counts -------------------------------------------------------------------
def test_lookup_faults(small: AlpacaStandIn) -> None:
    small.script(
        Fault.rate_limited(retry_after=0.25),
        Fault.status(503),
        Fault.connection_reset(),
        Fault.truncated(),
        route="lookup",
    )
    assert symbols(small) == ["A", "B", "C", "BRK.B"]  # a list does not consume them
    assert small.pending_faults == 4
    key = str(B["id"])

    reply = lookup(small, key)
    assert (reply.status, reply.headers["Retry-After"]) == (429, "0.25")
    assert reply.json() == {"code": 42910000, "message": "rate limit exceeded"}
    assert lookup(small, key).status == 503
    with pytest.raises((ConnectionError, urllib.error.URLError)):
        lookup(small, key)
    with pytest.raises(json.JSONDecodeError):
        lookup(small, key).json()
    assert lookup(small, key).json() == B
    assert small.lookups == [key] * 5
    assert small.list_requests == 1


def test_a_slow_lookup_times_out_the_client(small: AlpacaStandIn) -> None:
    small.script(Fault.slow(1.0), route="lookup")
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        get(small.base_url, "/v2/assets/A", timeout=0.2)
    assert small.pending_faults == 0
    assert lookup(small, "A").json() == A


def test_route_queues_come_before_the_shared_queue(small: AlpacaStandIn) -> None:
    small.script(Fault.status(500))
    small.script(Fault.status(502), route="list")
    small.script(Fault.status(504), route="lookup")
    assert get(small.base_url, "/v2/assets").status == 502
    assert lookup(small, "A").status == 504
    assert lookup(small, "A").status == 500
    assert get(small.base_url, "/v2/assets").status == 200
    small.script(Fault.status(500), route="lookup")
    small.script(Fault.status(500), route="list")
    small.clear_faults()
    assert small.pending_faults == 0


def test_counts_are_per_route_and_of_gets_only(small: AlpacaStandIn) -> None:
    base = small.base_url
    get(base, "/v2/assets/B", {})  # refused: still a lookup received
    get(base, "/v2/assets/NOPE%2FX")
    get(base, "/v2/assets?asset_class=crypto")
    get(base, "/v2/account")
    head = urllib.request.Request(base + "/v2/assets/A", headers=AUTH, method="HEAD")
    urllib.request.urlopen(head, timeout=5).close()
    post = urllib.request.Request(base + "/v2/assets/A", data=b"{}", headers=AUTH, method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(post, timeout=5)
    info.value.close()
    assert small.lookups == ["B", "NOPE/X"]
    assert small.list_requests == 1
    assert small.requests_served == 6


def test_confirmation_lookups_through_the_client(small: AlpacaStandIn) -> None:
    options = ClientOptions(max_retries=3, backoff_factor=0, backoff_jitter=0, read_timeout=2)
    client = AlpacaClient(small.base_url, AlpacaCredentials(KEY, SECRET), options)
    small.set_assets([A, C, BRK])  # B and BTC/USD delisted
    small.omit_from_list(str(C["id"]))
    small.forget("A")
    small.script(Fault.rate_limited(retry_after=0), Fault.status(503), route="lookup")
    try:
        assert [a["symbol"] for a in json.loads(client.list_assets_body())] == ["BRK.B"]
        assert client.get_asset(str(B["id"]))["status"] == "inactive"  # after two retries
        assert client.get_asset("BTC/USD") == retired(BTC)
        assert client.get_asset(str(C["id"])) == C  # active by id, missing from the list
        with pytest.raises(AssetNotFoundError):
            client.get_asset(str(A["id"]))
    finally:
        client.close()
    assert small.lookups == [str(B["id"])] * 3 + ["BTC/USD", str(C["id"]), str(A["id"])]
    assert small.list_requests == 1


# -- Alpaca's spec ------------------------------------------------------------------------------
SPEC = "alpaca_trading-api_openapi_2026-06.json"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(shared_file(SPEC).read_text())
    return loaded


def test_the_defaults_are_the_specs(spec: dict[str, Any]) -> None:
    """The spec wording the stand-in's defaults (module docstring) are taken from."""
    route = spec["paths"]["/v2/assets"]["get"]
    params = {p["name"]: p for p in route["parameters"]}
    assert set(params) == {"status", "asset_class", "exchange", "attributes"}  # no paging
    assert params["asset_class"]["description"] == f"Defaults to {DEFAULT_ASSET_CLASS}."
    assert "By default, all statuses are included." in params["status"]["description"]
    assert params["attributes"]["schema"]["default"] == []
    assert set(route["responses"]) == {"200"}  # nothing says what an unknown class gives
    one = spec["paths"]["/v2/assets/{symbol_or_asset_id}"]
    assert "CUSIP is also accepted for US equities." in one["parameters"][0]["description"]
    assert "/v2/assets/BTC%2FUSDT" in one["get"]["description"]
    assert set(one["get"]["responses"]) == {"200", "404"}


def _open_enums(schema: Any) -> Any:
    """The schema without enums: class, exchange, attributes... are open strings."""
    if isinstance(schema, dict):
        return {k: _open_enums(v) for k, v in schema.items() if k != "enum"}
    if isinstance(schema, list):
        return [_open_enums(v) for v in schema]
    return schema


def test_served_records_match_the_assets_schema(
    spec: dict[str, Any], stand_in: AlpacaStandIn, catalog: list[Asset]
) -> None:
    components = _open_enums(spec["components"])
    schema = {**components["schemas"]["Assets"], "components": components}
    schema["properties"]["status"] = spec["components"]["schemas"]["Assets"]["properties"]["status"]
    validator = jsonschema.Draft7Validator(schema)
    stand_in.set_assets(catalog[: len(catalog) // 2])  # the other half is retired
    base = stand_in.base_url
    served: list[Asset] = []
    for cls in sorted({str(a["class"]) for a in catalog}):
        records = get(base, "/v2/assets?asset_class=" + cls).json()
        assert isinstance(records, list)
        served.extend(records)
    retired_one = catalog[-1]
    served.append(lookup(stand_in, str(retired_one["id"])).json())  # type: ignore[arg-type]
    assert len(served) == len(catalog) + 1
    assert served[-1]["status"] == "inactive"
    errors = [
        f"{asset['symbol']}: {error.message}"
        for asset in served
        # OpenAPI 3.0 `nullable: true` (cusip) is not JSON Schema: drop the null it allows.
        for error in validator.iter_errors(
            {k: v for k, v in asset.items() if not (k == "cusip" and v is None)}
        )
    ]
    assert errors == []
    broken = {**served[-1], "status": "retired", "tradable": "no"}
    assert len(list(validator.iter_errors(broken))) == 2  # the validator does check


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

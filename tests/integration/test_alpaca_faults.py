"""Alpaca misbehaving: the client's retries and limits, and what a sync does with each fault.

(i) `AlpacaClient` directly, with small timeouts and backoff, against the stand-in's scripted
faults (and a raw socket server for bodies the stand-in cannot send); (ii) the whole sync
in-process (`wiring.build_run(settings).run()`), asserting on the table: a fault either ends in
success after retries, or in a clean failure with a clear message and the table unchanged.
Timing assertions are lower bounds only (a wait was honoured), never upper bounds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from tests.support import CANARY_SECRET, CREDENTIALS, Env
from tests.support.reliability import (
    RawHttpServer,
    asset_record,
    chunked_body,
    fast_options,
    fresh_env,
    full_body,
    owned_view,
    short_body,
    use_fast_alpaca_client,
)

from asset_sync.alpaca.client import (
    AlpacaAuthError,
    AlpacaClient,
    AlpacaError,
    AssetNotFoundError,
    CatalogTooLargeError,
    RateLimitWaitTooLongError,
)
from asset_sync.config import AlpacaCredentials
from asset_sync.local.catalog import dumps_catalog, evolve_catalog, generate_catalog
from asset_sync.local.stand_in import AlpacaStandIn, Fault
from asset_sync.logic.sync import GuardRefusedError, SyncError
from asset_sync.logic.validation import CatalogFormatError
from asset_sync.wiring import build_run

# One asset class, so that one scripted fault or body stands for the whole fetch (a run fetches
# one body per class in its scope).
CATALOG = [a for a in generate_catalog(44, seed=4) if a["class"] == "us_equity"]
_DAY2, _CHANGES = evolve_catalog(CATALOG, seed=5, listings=0.05, delistings=0.05, flips=0.1)
DAY2 = [a for a in _DAY2 if a["class"] == "us_equity"]
_DAY2_SYMBOLS = {a["symbol"] for a in DAY2}
DAY2_CHANGES = replace(
    _CHANGES,
    listed=tuple(s for s in _CHANGES.listed if s in _DAY2_SYMBOLS),
    changed=tuple(s for s in _CHANGES.changed if s in _DAY2_SYMBOLS),
)
MAX_RETRIES = 5  # ClientOptions' default retry budget: 1 + 5 requests at most
FIFTY_MB = 50 * 1024 * 1024
pytestmark = pytest.mark.xdist_group("alpaca_faults")  # one worker builds `expected_day2` once
READ_TIMEOUT = 0.5  # the stand-in answers in milliseconds; Fault.slow(0.8) overruns this

TRANSIENT: dict[str, Fault] = {
    "429-retry-after-0": Fault.rate_limited(retry_after=0),
    "500": Fault.status(500),
    "502": Fault.status(502),
    "503": Fault.status(503),
    "504": Fault.status(504),
    "connection-reset": Fault.connection_reset(),
    "slow-beyond-read-timeout": Fault.slow(0.8),
    "html-502": Fault.html_error(),
    "html-504": Fault.html_error(504),
}


@pytest.fixture
def client(stand_in: AlpacaStandIn) -> AlpacaClient:
    stand_in.set_assets(CATALOG)
    return AlpacaClient(stand_in.base_url, CREDENTIALS, fast_options(read_timeout=READ_TIMEOUT))


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sync's own client gets small timeouts and backoff."""
    use_fast_alpaca_client(monkeypatch, read_timeout=READ_TIMEOUT)


def requests_to_assets(stand_in: AlpacaStandIn) -> int:
    return sum(1 for _, path, _ in stand_in.request_log if path.startswith("/v2/assets"))


# -- (i) the client ------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_a_transient_fault_is_retried_until_the_catalog_arrives(
    stand_in: AlpacaStandIn, client: AlpacaClient, fault: Fault
) -> None:
    stand_in.script(fault, fault)

    body = client.list_assets_body()

    assert json.loads(body) == CATALOG
    assert requests_to_assets(stand_in) == 3
    assert client.attempts == 3
    assert stand_in.pending_faults == 0


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault.status(500), "answered HTTP 500 after 5 retries"),
        (Fault.status(503), "answered HTTP 503 after 5 retries: service unavailable"),
        (Fault.rate_limited(retry_after=0), "answered HTTP 429 after 5 retries"),
        (Fault.html_error(), "answered HTTP 502 after 5 retries, text/html body"),
        (Fault.connection_reset(), "failed after 5 retries"),
    ],
    ids=["500", "503", "429", "html-502", "connection-reset"],
)
def test_retries_are_bounded_and_exhaustion_fails_with_a_clear_message(
    stand_in: AlpacaStandIn, client: AlpacaClient, fault: Fault, message: str
) -> None:
    stand_in.script(*[fault] * 10)

    with pytest.raises(AlpacaError) as raised:
        client.list_assets_body()

    assert message in str(raised.value)
    assert "GET /v2/assets" in str(raised.value)
    assert requests_to_assets(stand_in) == 1 + MAX_RETRIES
    assert stand_in.pending_faults == 10 - (1 + MAX_RETRIES)


def test_a_response_slower_than_the_read_timeout_every_time_fails_clearly(
    stand_in: AlpacaStandIn,
) -> None:
    client = AlpacaClient(
        stand_in.base_url, CREDENTIALS, fast_options(read_timeout=0.2, max_retries=2)
    )
    stand_in.script(*[Fault.slow(0.6)] * 3)

    with pytest.raises(AlpacaError, match="Read timed out"):
        client.list_assets_body()

    assert requests_to_assets(stand_in) == 3


def test_retry_after_is_honoured(stand_in: AlpacaStandIn, client: AlpacaClient) -> None:
    stand_in.script(Fault.rate_limited(retry_after=1))
    started = time.monotonic()

    client.list_assets_body()

    assert time.monotonic() - started >= 0.95
    assert requests_to_assets(stand_in) == 2


def test_retry_after_on_a_503_is_honoured(stand_in: AlpacaStandIn, client: AlpacaClient) -> None:
    stand_in.script(Fault.status(503, headers={"Retry-After": "1"}))
    started = time.monotonic()

    client.list_assets_body()

    assert time.monotonic() - started >= 0.95
    assert requests_to_assets(stand_in) == 2


def test_x_ratelimit_reset_is_honoured_when_there_is_no_retry_after(
    stand_in: AlpacaStandIn, client: AlpacaClient
) -> None:
    stand_in.script(Fault.rate_limited(reset_in=1))
    started = time.monotonic()

    client.list_assets_body()

    # the header is whole epoch seconds, rounded up: the wait is at least ~1 s
    assert time.monotonic() - started >= 0.9
    assert requests_to_assets(stand_in) == 2


def test_a_fractional_retry_after_is_waited_for_not_fatal(
    stand_in: AlpacaStandIn, client: AlpacaClient
) -> None:
    stand_in.script(Fault.rate_limited(retry_after=0.2))

    body = client.list_assets_body()

    assert json.loads(body) == CATALOG
    assert requests_to_assets(stand_in) == 2


@pytest.mark.parametrize(
    "fault",
    [Fault.rate_limited(retry_after=3600), Fault.rate_limited(reset_in=3600)],
    ids=["retry-after", "x-ratelimit-reset"],
)
def test_a_wait_longer_than_allowed_fails_at_once_with_a_clear_message(
    stand_in: AlpacaStandIn, client: AlpacaClient, fault: Fault
) -> None:
    stand_in.script(fault)

    with pytest.raises(RateLimitWaitTooLongError) as raised:
        client.list_assets_body()

    message = str(raised.value)
    assert "rate limit" in message
    assert "more than the 5 s this client may wait" in message
    assert "try again later" in message
    assert requests_to_assets(stand_in) == 1  # no retry, no sleep


def test_401_from_wrong_keys_is_not_retried(stand_in: AlpacaStandIn) -> None:
    stand_in.set_assets(CATALOG)
    wrong = AlpacaCredentials(CREDENTIALS.key_id, CANARY_SECRET + "-wrong")
    client = AlpacaClient(stand_in.base_url, wrong, fast_options())

    with pytest.raises(AlpacaAuthError) as raised:
        client.list_assets_body()

    assert "HTTP 401" in str(raised.value)
    assert "rejected the API keys" in str(raised.value)
    assert requests_to_assets(stand_in) == 1


def test_403_is_not_retried(stand_in: AlpacaStandIn, client: AlpacaClient) -> None:
    stand_in.script(Fault.status(403), Fault.status(403))

    with pytest.raises(AlpacaAuthError, match="HTTP 403"):
        client.list_assets_body()

    assert requests_to_assets(stand_in) == 1


def test_a_body_over_max_body_bytes_fails_with_a_clear_message(stand_in: AlpacaStandIn) -> None:
    stand_in.set_assets(CATALOG)
    client = AlpacaClient(stand_in.base_url, CREDENTIALS, fast_options(max_body_bytes=1000))

    with pytest.raises(CatalogTooLargeError) as raised:
        client.list_assets_body()

    assert "exceeds the 1,000-byte limit" in str(raised.value)
    assert requests_to_assets(stand_in) == 1  # a size limit is not a transient fault


def test_a_50_mb_body_is_rejected_by_its_declared_length(
    stand_in: AlpacaStandIn, client: AlpacaClient
) -> None:
    stand_in.script(Fault.body(b"[" + b" " * (FIFTY_MB - 2) + b"]"))

    with pytest.raises(CatalogTooLargeError) as raised:
        client.list_assets_body()

    assert "body of 52,428,800 bytes exceeds the 33,554,432-byte limit" in str(raised.value)


def test_a_chunked_body_without_a_length_stops_being_read_at_the_limit() -> None:
    limit = 1024 * 1024
    with RawHttpServer([], chunked_body(20 * limit)) as server:
        client = AlpacaClient(server.base_url, CREDENTIALS, fast_options(max_body_bytes=limit))

        with pytest.raises(CatalogTooLargeError, match="stopped reading"):
            client.list_assets_body()

        assert server.requests == 1


def test_a_body_that_breaks_off_mid_read_is_retried() -> None:
    catalog = dumps_catalog(CATALOG)
    script = [short_body(len(catalog), catalog[:100])]
    with RawHttpServer(script, full_body(catalog)) as server:
        client = AlpacaClient(server.base_url, CREDENTIALS, fast_options())

        assert client.list_assets_body() == catalog
        assert server.requests == 2


def test_a_body_that_always_breaks_off_fails_clearly() -> None:
    catalog = dumps_catalog(CATALOG)
    with RawHttpServer([], short_body(len(catalog), catalog[:100])) as server:
        client = AlpacaClient(server.base_url, CREDENTIALS, fast_options(max_retries=2))

        with pytest.raises(AlpacaError, match="broke off"):
            client.list_assets_body()

        assert server.requests == 3


def test_a_truncated_body_with_an_honest_length_reaches_the_caller_as_broken_json(
    stand_in: AlpacaStandIn, client: AlpacaClient
) -> None:
    stand_in.script(Fault.truncated())

    body = client.list_assets_body()

    with pytest.raises(ValueError):  # the sync turns this into CatalogFormatError
        json.loads(body)
    assert requests_to_assets(stand_in) == 1


def test_a_symbol_lookup_is_url_encoded(stand_in: AlpacaStandIn, client: AlpacaClient) -> None:
    stand_in.set_assets([asset_record("BTC/USD", **{"class": "crypto"}), asset_record("BRK.B")])

    btc = client.get_asset("BTC/USD")
    brk = client.get_asset("BRK.B")

    assert btc["symbol"] == "BTC/USD" and brk["symbol"] == "BRK.B"
    paths = [path for _, path, _ in stand_in.request_log]
    assert paths == ["/v2/assets/BTC%2FUSD", "/v2/assets/BRK.B"]


def test_an_unknown_symbol_is_asset_not_found_and_not_retried(
    stand_in: AlpacaStandIn, client: AlpacaClient
) -> None:
    with pytest.raises(AssetNotFoundError, match="HTTP 404"):
        client.get_asset("NOPE/X")

    assert stand_in.request_log == [("GET", "/v2/assets/NOPE%2FX", "")]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault.body(b"<html>oops</html>", content_type="text/html"), "not JSON"),
        (Fault.body(b"[]"), "not a JSON object"),
    ],
    ids=["html-200", "array"],
)
def test_a_lookup_with_an_odd_body_fails_clearly(
    stand_in: AlpacaStandIn, client: AlpacaClient, fault: Fault, message: str
) -> None:
    stand_in.script(fault)

    with pytest.raises(AlpacaError, match=message):
        client.get_asset("AAPL")


# -- (ii) the whole sync -------------------------------------------------------------------------


def first_day(env: Env) -> dict[str, dict[str, Any]]:
    """Sync CATALOG without faults; then serve DAY2 (so a successful run would change things)."""
    env.serve(CATALOG)
    build_run(env.settings).run()
    env.serve(DAY2)
    return env.snapshot()


@pytest.fixture(scope="module")
def expected_day2(moto_url: str) -> dict[str, dict[str, Any]]:
    """The owned attributes a fault-free day 1 + day 2 produces, on a separate table."""
    with AlpacaStandIn(
        CATALOG, key_id=CREDENTIALS.key_id, secret_key=CREDENTIALS.secret_key
    ) as server:
        ref = fresh_env(moto_url, server)
        ref.serve(CATALOG)
        build_run(ref.settings).run()
        ref.serve(DAY2)
        build_run(ref.settings).run()
        return owned_view(ref.snapshot())


@pytest.mark.parametrize(
    "faults",
    [
        [Fault.rate_limited(retry_after=1)],
        [Fault.rate_limited(reset_in=1)],
        [Fault.status(500), Fault.status(502), Fault.status(503), Fault.status(504)],
        [Fault.connection_reset(), Fault.connection_reset()],
        [Fault.slow(0.8)],
        [Fault.html_error(), Fault.html_error(503)],
    ],
    ids=["429-retry-after", "429-reset", "5xx", "reset", "slow", "html"],
)
@pytest.mark.usefixtures("fast")
def test_sync_succeeds_after_transient_faults_with_the_right_table(
    env: Env, expected_day2: dict[str, dict[str, Any]], faults: list[Fault]
) -> None:
    first_day(env)
    env.stand_in.script(*faults)
    started = time.monotonic()

    report = build_run(env.settings).run()

    assert report.outcome == "succeeded"
    assert report.alpaca_attempts == len(faults) + len(env.settings.scope)  # a body per class
    assert (report.created, report.delisted) == (
        len(DAY2_CHANGES.listed),
        len(DAY2_CHANGES.delisted),
    )
    assert owned_view(env.snapshot()) == expected_day2
    if faults[0].status_code == 429:
        assert time.monotonic() - started >= 0.9  # the server's wait was honoured


CLEAN_FAILURES: dict[str, tuple[list[Fault], type[Exception], str]] = {
    "5xx-exhausted": ([Fault.status(503)] * 8, AlpacaError, "HTTP 503 after 5 retries"),
    "resets-exhausted": ([Fault.connection_reset()] * 8, AlpacaError, "after 5 retries"),
    "html-exhausted": ([Fault.html_error()] * 8, AlpacaError, "text/html body"),
    "429-exhausted": ([Fault.rate_limited(retry_after=0)] * 8, AlpacaError, "HTTP 429"),
    "429-too-long": (
        [Fault.rate_limited(retry_after=3600)],
        RateLimitWaitTooLongError,
        "try again later",
    ),
    "401": ([Fault.status(401)], AlpacaAuthError, "HTTP 401"),
    "403": ([Fault.status(403)], AlpacaAuthError, "HTTP 403"),
    "truncated": ([Fault.truncated()], CatalogFormatError, "not a complete JSON array"),
    "html-200": (
        [Fault.body(b"<html><body>maintenance</body></html>", content_type="text/html")],
        CatalogFormatError,
        "not a complete JSON array",
    ),
    "object-not-array": ([Fault.body(b'{"assets": []}')], CatalogFormatError, "JSON array"),
    "50-MB-body": (
        [Fault.body(b"[" + b" " * (FIFTY_MB - 2) + b"]")],
        CatalogTooLargeError,
        "52,428,800 bytes exceeds",
    ),
}


@pytest.mark.parametrize(
    ("faults", "error", "message"), CLEAN_FAILURES.values(), ids=CLEAN_FAILURES.keys()
)
@pytest.mark.usefixtures("fast")
def test_sync_fails_cleanly_and_leaves_the_table_unchanged(
    env: Env, faults: list[Fault], error: type[Exception], message: str
) -> None:
    before = first_day(env)
    env.stand_in.script(*faults)

    with pytest.raises(SyncError) as raised:
        build_run(env.settings).run()

    assert isinstance(raised.value.__cause__, error)
    assert message in str(raised.value)
    assert env.snapshot() == before
    state = env.state.read()
    assert state.lock_owner is None  # the lease was given back
    assert state.last_run_outcome == "failed"
    assert state.last_sync_timestamp != state.last_run_started_at  # not advanced


@pytest.mark.usefixtures("fast")
def test_a_slow_response_every_time_fails_cleanly(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_fast_alpaca_client(monkeypatch, read_timeout=0.2)
    before = first_day(env)
    env.stand_in.script(*[Fault.slow(0.5)] * 6)

    with pytest.raises(SyncError, match="Read timed out") as raised:
        build_run(env.settings).run()

    assert isinstance(raised.value.__cause__, AlpacaError)
    assert env.snapshot() == before


@pytest.mark.usefixtures("fast")
def test_an_empty_array_is_refused_by_the_guard(env: Env) -> None:
    before = first_day(env)
    env.stand_in.script(Fault.body(b"[]"))

    with pytest.raises(GuardRefusedError) as refused:
        build_run(env.settings).run()

    assert refused.value.report.outcome == "refused"
    assert "no valid assets (0 records fetched)" in refused.value.report.message
    assert env.snapshot() == before
    assert env.state.read().last_run_outcome == "refused"


@pytest.mark.usefixtures("fast")
def test_one_failing_asset_class_fails_the_whole_fetch(env: Env) -> None:
    coin = asset_record("BTC/USD", **{"class": "crypto"})
    env.serve([*CATALOG, coin])
    settings = replace(env.settings, asset_classes=("us_equity", "crypto"))  # fetched in order
    build_run(settings).run()
    env.serve([*DAY2, coin])
    before = env.snapshot()
    # the us_equity request is served (a no-op fault), the crypto one keeps failing
    env.stand_in.script(Fault.slow(0), *[Fault.status(500)] * 8)

    with pytest.raises(SyncError, match="asset_class=crypto") as raised:
        build_run(settings).run()

    assert isinstance(raised.value.__cause__, AlpacaError)
    assert env.snapshot() == before


MALFORMATIONS: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("tradable-not-bool", lambda r: r.update(tradable="yes")),
    ("id-missing", lambda r: r.pop("id")),
    ("decimal-not-a-number", lambda r: r.update(margin_requirement_long="abc")),
    ("decimal-infinite", lambda r: r.update(margin_requirement_short="Infinity")),
    ("decimal-too-precise", lambda r: r.update(margin_requirement_long="1." + "1" * 40)),
    ("name-not-a-string", lambda r: r.update(name=42)),
    ("class-missing", lambda r: r.pop("class")),
    ("attributes-not-strings", lambda r: r.update(attributes=[1, 2])),
    ("status-null", lambda r: r.update(status=None)),
    ("name-control-char", lambda r: r.update(name="bad\x07name")),
]


@pytest.mark.usefixtures("fast")
def test_a_catalog_with_a_fraction_of_malformed_records_applies_the_rest(env: Env) -> None:
    before = first_day(env)
    malformed: dict[str, str] = {}
    catalog = [dict(record) for record in DAY2]
    existing = [r for r in catalog if r["symbol"] in before]
    for number, record in enumerate(existing[: len(MALFORMATIONS)]):
        kind, mutate = MALFORMATIONS[number]
        mutate(record)
        malformed[str(record["symbol"])] = kind
    catalog.append({"symbol": "JUNK", "id": "x"})  # a new symbol whose record is incomplete
    catalog.append("not an object")  # type: ignore[arg-type]
    env.stand_in.script(Fault.body(dumps_catalog(catalog)))  # the stand-in cannot filter it

    report = build_run(env.settings).run()

    assert report.outcome == "succeeded"
    assert report.invalid == len(malformed) + 2
    assert {r.symbol for r in report.invalid_records} == {*malformed, "JUNK", None}
    after = env.snapshot()
    for symbol, kind in malformed.items():
        assert after[symbol] == before[symbol], kind  # left exactly as it was
    assert "JUNK" not in after
    valid_changes = [s for s in DAY2_CHANGES.changed if s not in malformed]
    assert report.updated == len(valid_changes)
    assert report.created == len(DAY2_CHANGES.listed)
    assert report.delisted == len(DAY2_CHANGES.delisted)


@pytest.mark.usefixtures("fast")
def test_deeply_nested_json_in_an_unknown_field_fails_cleanly(env: Env) -> None:
    before = first_day(env)
    body = dumps_catalog([asset_record("DEEP")])
    env.stand_in.script(Fault.body(body[:-2] + b',"extra":' + b"[" * 5000 + b"]" * 5000 + b"}]"))

    with pytest.raises(SyncError) as raised:  # the body is refused whole, or its one record
        build_run(env.settings).run()

    assert isinstance(raised.value, GuardRefusedError) or isinstance(
        raised.value.__cause__, CatalogFormatError
    )

    assert env.snapshot() == before


def test_the_stand_in_serves_a_catalog_with_a_non_object_record(
    stand_in: AlpacaStandIn, client: AlpacaClient
) -> None:
    stand_in.set_assets([asset_record("A"), "not an object"])  # type: ignore[list-item]

    body = client.list_assets_body()  # filtered by status=active

    assert json.loads(body) == [asset_record("A"), "not an object"]  # the odd record is kept

"""Full reconciliation (issue 8): `sync --full`, the Lambda with `{"full": true}` and the
FULL_RECONCILE_DAYS cadence compare every stored owned value with the catalog and repair drift.

The CLI runs in a child process (tests/support/skewed_clock.py, with the clock shifted where a test
says so), the handler in process with its keys in Secrets Manager; moto's server and the Alpaca
stand-in over HTTP.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.support import CANARY_SECRET, CREDENTIALS, CliResult, Env, asset_record, run_cli
from tests.support import skewed_clock as clock
from tests.support.lambda_env import lambda_function_env
from tests.support.lambda_invocation import LambdaContext, scheduled_event
from tests.support.reliability import (
    content_view,
    finish,
    foreign_view,
    fresh_env,
    hash_matches_content,
)

from asset_sync import handler
from asset_sync.dal.run_state import STATE_KEY
from asset_sync.local.dynamo_proxy import WRITE_OPERATIONS, DynamoProxy
from asset_sync.local.stand_in import AlpacaStandIn
from asset_sync.wiring import build_run

DAY = clock.DAY
PLAIN = [f"P{i:02d}" for i in range(20)]
# Each symbol gets one kind of drift, written straight to the table as a hand edit would.
DRIFT: dict[str, tuple[str, dict[str, Any] | None]] = {
    "STR": ("name", {"S": "Hand Edited"}),  # a string
    "BOOL": ("tradable", {"BOOL": False}),  # a bool
    "DEC": ("margin_requirement_long", {"N": "31"}),  # a decimal with another value
    "LIST": ("attributes", {"L": [{"S": "has_options"}, {"S": "hand_added"}]}),  # a list
    "MISSING": ("exchange", None),  # an owned attribute removed
    "EXTRA": ("cusip", {"S": "037833100"}),  # an owned attribute the catalog does not have
    "HASH": ("sync_hash", {"S": "0" * 32}),  # a wrong hash over the right values
    "NULL": ("borrow_status", {"NULL": True}),  # types the sync never writes
    "SSET": ("attributes", {"SS": ["has_options", "x"]}),
    "MAP": ("name", {"M": {"en": {"S": "Map Inc."}}}),
}
SAME = "DECSAME"  # margin_requirement_long "30" stored as "30.000": equal, never repaired
DELETED = "DELETED"  # deleted by hand: created again
CATALOG = [asset_record(s) for s in [*PLAIN, *DRIFT, SAME, DELETED]]
EXPECTED_FIELD = {
    "STR": ("name", "Hand Edited", "STR Inc."),
    "BOOL": ("tradable", False, True),
    "DEC": ("margin_requirement_long", "31", "30"),
    "LIST": ("attributes", ["has_options", "hand_added"], ["has_options"]),
    "MISSING": ("exchange", None, "NASDAQ"),
    "EXTRA": ("cusip", "037833100", None),
    "NULL": ("borrow_status", {"NULL": True}, "easy_to_borrow"),
    "SSET": ("attributes", {"SS": ["has_options", "x"]}, ["has_options"]),
    "MAP": ("name", {"M": {"en": {"S": "Map Inc."}}}, "MAP Inc."),
}


def sync(env: Env, *args: str, offset: float = 0.0, **extra_env: str) -> CliResult:
    """`asset-sync sync ARGS` in a child process (its clock `offset` seconds off)."""
    process = clock.start("sync", *args, env={**env.cli_env(), **extra_env}, offset=offset)
    result = finish(process)
    assert CANARY_SECRET not in result.stdout + result.stderr
    return result


def sync_json(env: Env, *args: str, offset: float = 0.0, **extra_env: str) -> dict[str, Any]:
    result = sync(env, "--json", *args, offset=offset, **extra_env)
    assert result.code == 0, result.stderr
    return dict(result.json())


def status(env: Env) -> dict[str, Any]:
    result = run_cli("status", "--json", env=env.cli_env())
    assert result.code == 0, result.stderr
    return dict(result.json())


def annotate(env: Env) -> None:
    """Another service's attributes on every item."""
    for symbol in env.snapshot():
        env.assets.client.update_item(
            TableName=env.settings.assets_table,
            Key={"symbol": {"S": symbol}},
            UpdateExpression="SET sector = :s, last_pollenation_date = :d",
            ExpressionAttributeValues={":s": {"S": f"sector-{symbol}"}, ":d": {"S": "2026-11-28"}},
        )


def hand_edit(env: Env, symbol: str, name: str, value: dict[str, Any] | None) -> None:
    """What a person or script ignoring the writer rules does: SET or REMOVE an owned
    attribute, nothing else (no `sync_version` bump)."""
    request: dict[str, Any] = {
        "TableName": env.settings.assets_table,
        "Key": {"symbol": {"S": symbol}},
        "UpdateExpression": "REMOVE #a" if value is None else "SET #a = :v",
        "ExpressionAttributeNames": {"#a": name},
    }
    if value is not None:
        request["ExpressionAttributeValues"] = {":v": value}
    env.assets.client.update_item(**request)


def drift(env: Env) -> None:
    for symbol, (name, value) in DRIFT.items():
        hand_edit(env, symbol, name, value)
    hand_edit(env, SAME, "margin_requirement_long", {"N": "30.000"})
    env.assets.client.delete_item(
        TableName=env.settings.assets_table, Key={"symbol": {"S": DELETED}}
    )


@pytest.fixture(scope="module")
def reference(moto_url: str) -> dict[str, dict[str, Any]]:
    """Content, status and hash of every item after a clean sync of CATALOG."""
    keys = {"key_id": CREDENTIALS.key_id, "secret_key": CREDENTIALS.secret_key}
    with AlpacaStandIn(CATALOG, **keys) as api:
        ref = fresh_env(moto_url, api)
        ref.serve(CATALOG)
        assert build_run(ref.settings).run().outcome == "succeeded"
        return content_view(ref.snapshot())


def check_repaired(
    env: Env,
    report: dict[str, Any],
    before: dict[str, dict[str, Any]],
    reference: dict[str, dict[str, Any]],
) -> None:
    """Every drift repaired (and listed field by field), nothing else written."""
    assert report["full"] is True
    assert report["outcome"] == "succeeded", report["message"]
    assert report["repaired"] == len(DRIFT)
    assert (report["created"], report["updated"], report["delisted"]) == (1, 0, 0)
    assert report["unchanged"] == len(CATALOG) - len(DRIFT) - 1
    changes = report["changes"]
    assert set(changes) == {*DRIFT, DELETED}
    assert changes[DELETED] == {"action": "create"}
    for symbol, (name, old, new) in EXPECTED_FIELD.items():
        assert changes[symbol] == {"action": "repair", "fields": {name: {"old": old, "new": new}}}
    right_hash = reference["HASH"]["sync_hash"]["S"]
    assert changes["HASH"] == {
        "action": "repair",
        "fields": {"sync_hash": {"old": "0" * 32, "new": right_hash}},
    }
    after = env.snapshot()
    assert after[SAME] == before[SAME]  # an equal decimal in another spelling is left as stored
    assert after[SAME]["margin_requirement_long"] == {"N": "30.000"}
    want = {s: v for s, v in reference.items() if s != SAME}
    assert {s: v for s, v in content_view(after).items() if s != SAME} == want
    assert {s: v for s, v in foreign_view(after).items() if s != DELETED} == {
        s: v for s, v in foreign_view(before).items() if s != DELETED
    }
    for symbol in DRIFT:
        assert hash_matches_content(after[symbol]), symbol
        assert int(after[symbol]["sync_run_seq"]["N"]) == report["run_seq"], symbol
        version = int(before[symbol]["sync_version"]["N"]) + 1
        assert after[symbol]["sync_version"] == {"N": str(version)}, symbol
    for symbol in PLAIN:
        assert after[symbol] == before[symbol], symbol


def test_sync_full_repairs_every_kind_of_owned_drift_and_leaves_foreign_attributes(
    env: Env, reference: dict[str, dict[str, Any]]
) -> None:
    env.serve(CATALOG)
    assert sync_json(env)["created"] == len(CATALOG)
    annotate(env)
    drift(env)
    before = env.snapshot()

    report = sync_json(env, "--full")

    check_repaired(env, report, before, reference)
    again = sync_json(env, "--full")
    assert (again["repaired"], again["unchanged"], again["changes"]) == (0, len(CATALOG), {})

    hand_edit(env, "STR", "name", {"S": "Edited Again"})
    text = sync(env, "--full")  # the terminal report lists the repaired field, old -> new
    assert text.code == 0, text.stderr
    assert "full reconciliation" in text.stdout and "repaired 1" in text.stdout
    assert "STR          repair     name: 'Edited Again' -> 'STR Inc.'" in text.stdout


def test_a_full_run_of_an_untouched_table_makes_exactly_two_write_requests(
    moto_url: str, stand_in: AlpacaStandIn
) -> None:
    with DynamoProxy(moto_url) as proxy:
        env = fresh_env(moto_url, stand_in, endpoint_url=proxy.url)
        env.serve(CATALOG)
        assert sync_json(env)["created"] == len(CATALOG)
        before = env.snapshot()
        for args in (("--full",), ()):
            proxy.reset_stats()

            report = sync_json(env, *args)

            stats = proxy.reset_stats()
            assert report["full"] is bool(args)
            assert report["unchanged"] == len(CATALOG) and report["repaired"] == 0
            assert stats.total(WRITE_OPERATIONS) == 2, stats.requests
            assert (stats.requests["UpdateItem"], stats.requests["TransactWriteItems"]) == (1, 1)
            assert report["dynamodb"]["write_requests"] == 2
            assert env.snapshot() == before


# -- the cadence: FULL_RECONCILE_DAYS -------------------------------------------------------------


def set_last_full(env: Env, moment: datetime) -> None:
    """Record the last full reconciliation at `moment`, as if it had run then."""
    env.state.client.update_item(
        TableName=env.settings.state_table,
        Key=STATE_KEY,
        UpdateExpression="SET last_full_at = :t",
        ExpressionAttributeValues={":t": {"S": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}},
    )


def days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def test_a_run_whose_last_full_reconciliation_is_older_than_the_setting_runs_full_on_its_own(
    env: Env,
) -> None:
    env.serve(CATALOG)
    first = sync_json(env)
    assert first["full"] is True  # no full reconciliation recorded yet: due
    state = status(env)
    assert (state["last_full_at"], state["last_full_run_seq"]) == (
        first["last_sync_timestamp"],
        first["run_seq"],
    )
    hand_edit(env, "STR", "name", {"S": "Hand Edited"})

    plain = sync_json(env)  # the last full one ran moments ago: a plain run trusts the hash
    assert plain["full"] is False and plain["repaired"] == 0
    assert env.item("STR")["name"] == "Hand Edited"  # type: ignore[index]

    set_last_full(env, days_ago(8))
    not_yet = sync_json(env, FULL_RECONCILE_DAYS="10")
    assert not_yet["full"] is False and not_yet["repaired"] == 0

    due = sync_json(env)  # default 7 days

    assert due["full"] is True and due["repaired"] == 1
    assert due["changes"]["STR"]["fields"]["name"] == {"old": "Hand Edited", "new": "STR Inc."}
    assert env.item("STR")["name"] == "STR Inc."  # type: ignore[index]
    state = status(env)
    assert state["last_full_at"] == due["last_sync_timestamp"]
    assert state["last_full_run_seq"] == due["run_seq"]
    assert state["last_run"]["full"] is True
    text = run_cli("status", env=env.cli_env()).stdout
    line = f"last full reconciliation: {due['last_sync_timestamp']} (run number {due['run_seq']})"
    assert line in text
    assert "(full reconciliation)" in text


def test_full_reconcile_days_0_disables_the_cadence_but_not_sync_full(env: Env) -> None:
    off = {"FULL_RECONCILE_DAYS": "0"}
    env.serve(CATALOG)
    first = sync_json(env, **off)
    assert first["full"] is False  # never reconciled, and never due
    assert status(env)["last_full_at"] is None
    hand_edit(env, "BOOL", "tradable", {"BOOL": False})
    set_last_full(env, days_ago(365))

    plain = sync_json(env, **off)

    assert plain["full"] is False and plain["repaired"] == 0
    assert env.item("BOOL")["tradable"] is False  # type: ignore[index]
    full = sync_json(env, "--full", **off)
    assert full["full"] is True and full["repaired"] == 1
    assert env.item("BOOL")["tradable"] is True  # type: ignore[index]
    assert status(env)["last_full_at"] == full["last_sync_timestamp"]


def test_a_full_reconciliation_recorded_on_a_clock_ahead_does_not_postpone_the_next(
    env: Env,
) -> None:
    """A full run on a clock 30 days ahead records a `last_full_at` 30 days in the future. Its
    age cannot be judged on a right clock: the next run reconciles in full rather than waiting
    37 days with drift in the table."""
    env.serve(CATALOG)
    assert sync_json(env)["full"] is True
    ahead = sync_json(env, offset=30 * DAY)
    assert ahead["full"] is True  # 30 days after the first one, by its clock
    hand_edit(env, "STR", "name", {"S": "Hand Edited"})

    right = sync_json(env)

    assert right["full"] is True and right["repaired"] == 1
    assert env.item("STR")["name"] == "STR Inc."  # type: ignore[index]
    assert status(env)["last_full_at"] == right["last_sync_timestamp"]


# -- the Lambda with {"full": true} ---------------------------------------------------------------

LOG_STREAM = io.StringIO()
SCHEDULED_EVENT = scheduled_event("4f5e1b0e-5b8e-4a55-9b8a-full00000001")


@pytest.fixture
def lambda_env(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """The function's environment as the stack sets it, the Alpaca keys in moto's Secrets
    Manager."""
    with lambda_function_env(env, monkeypatch, LOG_STREAM) as function_env:
        yield function_env


def invoke(capsys: pytest.CaptureFixture[str], event: dict[str, Any]) -> dict[str, Any]:
    result = handler.lambda_handler(event, LambdaContext())  # type: ignore[arg-type]
    out = capsys.readouterr()
    assert CANARY_SECRET not in out.out + out.err + LOG_STREAM.getvalue()
    LOG_STREAM.seek(0)
    LOG_STREAM.truncate()
    return result


def test_the_lambda_with_full_true_repairs_owned_drift_and_leaves_foreign_attributes(
    lambda_env: Env, capsys: pytest.CaptureFixture[str], reference: dict[str, dict[str, Any]]
) -> None:
    env = lambda_env
    env.serve(CATALOG)
    assert invoke(capsys, SCHEDULED_EVENT)["created"] == len(CATALOG)
    annotate(env)
    drift(env)

    scheduled = invoke(capsys, SCHEDULED_EVENT)  # the daily run: the last full one was today
    assert scheduled["full"] is False and scheduled["repaired"] == 0
    assert scheduled["created"] == 1 and scheduled["updated"] == 1  # the deleted item, the hash
    assert env.snapshot()["STR"]["name"] == {"S": "Hand Edited"}  # a plain run trusts the hash
    before = env.snapshot()  # the hash is right again: it differed from the catalog's

    full = invoke(capsys, {**SCHEDULED_EVENT, "full": True})

    assert full["outcome"] == "succeeded" and full["full"] is True
    assert full["repaired"] == len(DRIFT) - 1  # every drift but the hash, already put right
    assert (full["created"], full["updated"], full["unchanged"]) == (
        0,
        0,
        len(CATALOG) - len(DRIFT) + 1,
    )
    after = env.snapshot()
    assert {s: v for s, v in content_view(after).items() if s != SAME} == {
        s: v for s, v in reference.items() if s != SAME
    }
    assert after[SAME] == before[SAME]
    assert foreign_view(after) == foreign_view(before)
    assert status(env)["last_full_run_seq"] == full["run_seq"]

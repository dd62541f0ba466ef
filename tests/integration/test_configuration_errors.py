"""Exit codes, `--json` on failures, secrets and state tables, through the real CLI.

* Problems no retry can fix (rejected keys, a missing table, an unknown class, an invalid region
  or endpoint) exit 2; a fetch failure exits 1, a guard refusal 3, a held lease 4. Each prints one
  `asset-sync: ...` line on stderr, and with `--json` exactly one JSON object on stdout with
  `outcome` and `message`.
* No part of either key is printed when the keys are swapped.
* `SYNC_STATE_TABLE` is honoured with `--table`; a state table that records another assets
  table's runs is refused (exit 2) and nothing is written into it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.support import Env, run_cli
from tests.support import asset_record as asset
from tests.support.cli_output import one_error_line, one_json_object, unique
from tests.support.reliability import run_fast_cli

from asset_sync.local.moto_server import free_port
from asset_sync.local.stand_in import AlpacaStandIn, Fault

# Keys whose every 4 characters hold a digit and a letter no hex number or word printed has.
KEY_ID = "PKZQ7XW9VJ3M8NQ2RT5Y"
SECRET = "zq9xw7vj3mtnq2rt5yk4hw6gr1pu0sx9lp7ow3u"


def state_items(env: Env, table: str | None = None) -> dict[str, Any]:
    """Every item of a state table (the state item and the run history), raw, by key."""
    name = table or env.settings.state_table
    items = env.state.client.scan(TableName=name, ConsistentRead=True)["Items"]
    return {item["pk"]["S"]: item for item in items}


def table_exists(env: Env, table: str) -> bool:
    return table in env.assets.client.list_tables()["TableNames"]


# Each case: (what to do to the env, CLI args, exit code, outcome, part of the message).
Setup = Callable[[Env], dict[str, str]]


def rejected_keys(env: Env) -> dict[str, str]:
    return {"APCA_API_SECRET_KEY": "wrong-secret"}


def missing_table(env: Env) -> dict[str, str]:
    return {"ASSETS_TABLE": unique("no_such_table")}


def unknown_class(env: Env) -> dict[str, str]:
    return {"ASSET_CLASSES": "bogus_class"}


def invalid_region(env: Env) -> dict[str, str]:
    return {"AWS_REGION": "us east 1"}


def malformed_endpoint(env: Env) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL_DYNAMODB": "localhost:8000"}


def no_credentials(env: Env) -> dict[str, str]:
    return {"APCA_API_SECRET_KEY": ""}


def bad_fraction(env: Env) -> dict[str, str]:
    return {"MAX_DELIST_FRACTION": "lots"}


def wrong_base_path(env: Env) -> dict[str, str]:
    return {"APCA_API_BASE_URL": env.stand_in.base_url + "/api"}


def fetch_failure(env: Env) -> dict[str, str]:
    env.stand_in.script(*[Fault.status(503)] * 8)
    return {}


def guard_refusal(env: Env) -> dict[str, str]:
    env.stand_in.script(Fault.body(b"[]"))
    return {}


def lease_held(env: Env) -> dict[str, str]:
    env.hold_lease()
    return {}


CASES: dict[str, tuple[Setup, int, str, str]] = {
    "rejected-keys": (rejected_keys, 2, "failed", "Alpaca rejected the API keys"),
    "missing-table": (missing_table, 2, "failed", "create-table"),
    "unknown-class": (unknown_class, 2, "failed", "no assets of class 'bogus_class'"),
    "invalid-region": (invalid_region, 2, "failed", "'us east 1' (from AWS_REGION)"),
    "bad-endpoint": (malformed_endpoint, 2, "failed", "AWS_ENDPOINT_URL_DYNAMODB must be"),
    "no-credentials": (no_credentials, 2, "failed", "APCA_API_SECRET_KEY"),
    "bad-setting": (bad_fraction, 2, "failed", "MAX_DELIST_FRACTION"),
    "wrong-base-url": (wrong_base_path, 2, "failed", "/api/v2/assets"),
    "fetch-failure": (fetch_failure, 1, "failed", "answered HTTP 503 after 5 retries"),
    "guard-refusal": (guard_refusal, 3, "refused", "guard refused the plan"),
    "lease-held": (lease_held, 4, "skipped", "another sync holds the run lease"),
}


@pytest.fixture
def seeded(env: Env) -> Iterator[Env]:
    """The fixture's tables after one successful sync of two assets."""
    env.serve([asset("A"), asset("B")])
    assert run_cli("sync", env=env.cli_env()).code == 0
    yield env


@pytest.mark.parametrize(("setup", "code", "outcome", "message"), CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_each_failure_has_its_exit_code_and_one_json_object(
    seeded: Env, setup: Setup, code: int, outcome: str, message: str, as_json: bool
) -> None:
    env = seeded
    before = env.snapshot()
    cli_env = {**env.cli_env(), **setup(env)}

    result = run_fast_cli("sync", *(["--json"] if as_json else []), env=cli_env)

    assert result.code == code, result.stderr
    line = one_error_line(result)
    assert message in line
    assert "Error:" not in line  # words for an operator, not an exception's class name
    assert "Traceback" not in result.stdout
    if as_json:
        report = one_json_object(result)
        assert report["outcome"] == outcome
        assert message in report["message"]
    assert env.snapshot() == before


def test_an_unreachable_dynamodb_endpoint_is_a_configuration_error(env: Env) -> None:
    env.serve([asset("A")])
    cli_env = {**env.cli_env(), "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{free_port()}"}

    result = run_cli("sync", "--json", env=cli_env)

    assert result.code == 2, result.stderr
    assert "cannot reach DynamoDB" in one_error_line(result)
    assert "Could not connect to the endpoint URL" in one_json_object(result)["message"]


@pytest.mark.parametrize("command", ["status", "unlock"])
def test_on_call_commands_print_one_json_object_on_failure(env: Env, command: str) -> None:
    cli_env = {**env.cli_env(), "ASSETS_TABLE": unique("no_such_table")}

    result = run_cli(command, "--json", env=cli_env)

    assert result.code == 2, result.stderr
    assert "create-table" in one_error_line(result)
    failure = one_json_object(result)
    assert failure["outcome"] == "failed"
    assert "create-table" in failure["message"]


def four_grams(text: str) -> set[str]:
    return {text[i : i + 4] for i in range(len(text) - 3)}


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_swapped_keys_print_no_part_of_either_key(env: Env, as_json: bool) -> None:
    with AlpacaStandIn([asset("A")], key_id=KEY_ID, secret_key=SECRET) as stand_in:
        cli_env = {
            **env.cli_env(),
            "APCA_API_BASE_URL": stand_in.base_url,
            "APCA_API_KEY_ID": SECRET,
            "APCA_API_SECRET_KEY": KEY_ID,
        }
        result = run_cli("sync", *(["--json"] if as_json else []), env=cli_env)
        assert len(stand_in.request_log) == 1  # refused at once, not retried

    assert result.code == 2, result.stderr
    assert "rejected the API keys" in one_error_line(result)
    assert "not swapped" in result.stderr
    output = result.stdout + result.stderr
    leaked = {gram for gram in four_grams(KEY_ID) | four_grams(SECRET) if gram in output}
    assert leaked == set()
    assert env.snapshot() == {}


# -- state tables --------------------------------------------------------------------------------


def test_sync_state_table_is_honoured_with_the_table_flag(env: Env) -> None:
    table, state = unique("assets"), unique("custom_state")
    cli_env = {**env.cli_env(), "SYNC_STATE_TABLE": state}
    env.serve([asset("A")])

    created = run_cli("create-table", "--table", table, env=cli_env)
    synced = run_cli("sync", "--json", "--table", table, env=cli_env)
    status = run_cli("status", "--json", "--table", table, env=cli_env)

    assert created.code == 0, created.stderr
    assert created.stdout.splitlines() == [
        f"{table}: created",
        f"{state}: created",
        f"{table}_history: created",
    ]
    assert synced.code == 0, synced.stderr
    assert not table_exists(env, f"{table}_sync_state")
    state_item = state_items(env, state)["asset-sync"]
    assert state_item["assets_table"] == {"S": table}
    assert json.loads(state_item["last_run"]["S"])["created"] == 1
    assert status.code == 0, status.stderr
    assert status.json()["state_table"] == state
    assert status.json()["last_run"]["created"] == 1
    assert env.snapshot() == {}  # the fixture's ASSETS_TABLE: overridden by --table


@pytest.mark.parametrize("assets", ["another", "missing"])
@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_a_state_table_of_another_assets_table_is_refused(
    seeded: Env, assets: str, as_json: bool
) -> None:
    env = seeded
    other = unique("other_assets")
    if assets == "another":
        assert run_cli("create-table", "--table", other, env=env.cli_env()).code == 0
    history, items = state_items(env), env.snapshot()
    cli_env = {**env.cli_env(), "ASSETS_TABLE": other, "SYNC_STATE_TABLE": env.settings.state_table}

    result = run_cli("sync", *(["--json"] if as_json else []), env=cli_env)

    assert result.code == 2, result.stderr
    expected = (
        f"state table {env.settings.state_table!r} records the runs of assets table "
        f"{env.settings.assets_table!r}, not {other!r}"
    )
    assert expected in one_error_line(result)
    if as_json:
        assert expected in one_json_object(result)["message"]
    assert state_items(env) == history  # no lease, no run record, no history entry
    assert env.snapshot() == items
    if assets == "another":
        assert env.assets.client.scan(TableName=other)["Items"] == []


def test_a_dry_run_with_a_state_table_of_another_assets_table_is_refused(seeded: Env) -> None:
    env = seeded
    other = unique("other_assets")
    assert run_cli("create-table", "--table", other, env=env.cli_env()).code == 0
    history = state_items(env)
    cli_env = {**env.cli_env(), "SYNC_STATE_TABLE": env.settings.state_table}

    result = run_cli("sync", "--dry-run", "--json", "--table", other, env=cli_env)

    assert result.code == 2, result.stderr  # what the real run would do
    assert "records the runs of assets table" in one_json_object(result)["message"]
    assert state_items(env) == history


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_a_dry_run_needs_the_state_table(env: Env, as_json: bool) -> None:
    env.serve([asset("A")])
    missing = unique("no_such_state")
    cli_env = {**env.cli_env(), "SYNC_STATE_TABLE": missing}

    result = run_cli("sync", "--dry-run", *(["--json"] if as_json else []), env=cli_env)

    assert result.code == 2, result.stderr
    assert f"table {missing!r} does not exist" in one_error_line(result)
    assert "create-table" in result.stderr
    if as_json:
        assert one_json_object(result)["outcome"] == "failed"


def test_table_names_dynamodb_would_reject_are_configuration_errors(env: Env) -> None:
    for args, extra, source in (
        (["--table", "bad name!"], {}, "--table"),
        ([], {"ASSETS_TABLE": "bad name!"}, "ASSETS_TABLE"),
        ([], {"SYNC_STATE_TABLE": "state\x1b[2J"}, "SYNC_STATE_TABLE"),
    ):
        for command in ("sync", "status") if args else ("sync",):
            result = run_cli(command, *args, env={**env.cli_env(), **extra})
            assert result.code == 2, (command, source, result.stderr)
            line = one_error_line(result)
            assert "configuration error" in line and source in line, line
            assert "\x1b" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["sync", "--max-delist-fraction", "5"],
            "'--max-delist-fraction': 5.0 is not in the range",
        ),
        (["sync", "--deadline-seconds", "soon"], "'--deadline-seconds'"),
        (["status", "--no-such-flag"], "No such option '--no-such-flag'"),
    ],
)
def test_a_usage_error_with_json_is_one_json_object_too(
    env: Env, args: list[str], message: str
) -> None:
    human = run_cli(*args, env=env.cli_env())
    as_json = run_cli(*args, "--json", env=env.cli_env())

    assert human.code == as_json.code == 2
    assert human.stdout == ""
    assert message in human.stderr and message in as_json.stderr
    failure = one_json_object(as_json)
    assert failure["outcome"] == "failed"
    assert message in failure["message"]


def test_status_and_unlock_refuse_a_state_table_of_another_assets_table(seeded: Env) -> None:
    env = seeded
    env.hold_lease("a-live-run")  # unlock must not clear this lease for another table
    history = state_items(env)
    cli_env = {**env.cli_env(), "SYNC_STATE_TABLE": env.settings.state_table}
    other = unique("other_assets")

    status = run_cli("status", "--json", "--table", other, env=cli_env)
    unlock = run_cli("unlock", "--force", "--table", other, env=cli_env)

    for result in (status, unlock):
        assert result.code == 2, result.stderr
        assert "records the runs of assets table" in one_error_line(result)
    assert "records the runs of assets table" in one_json_object(status)["message"]
    assert state_items(env) == history  # the lease is still held

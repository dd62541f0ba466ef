"""Tables and endpoints that are not what the sync needs, through the real CLI: each is named as
such with its fix and exits 2 (a table without its index, a table keyed otherwise, an endpoint
that is not DynamoDB, a state table of another assets table), and `create-table` never answers
"already exists" to a table it cannot use (no create-table loop).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support import Env, run_cli
from tests.support import asset_record as asset
from tests.support.cli_output import (
    odd_table,
    one_error_line,
    one_json_object,
    state_table_for,
    unique,
)

from asset_sync.wiring import build_run

JSON = pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])


def flags(as_json: bool) -> list[str]:
    return ["--json"] if as_json else []


@pytest.fixture
def seeded(env: Env) -> Iterator[Env]:
    """The fixture's tables after one successful sync of two assets."""
    env.serve([asset("A"), asset("B")])
    build_run(env.settings).run()
    yield env


# -- an assets table without its index, or keyed otherwise ------------------------------------


@JSON
def test_sync_names_the_missing_index_with_its_fix(env: Env, as_json: bool) -> None:
    table = odd_table(env, "symbol")  # no status-index
    state_table_for(env, table)
    env.serve([asset("A")])

    result = run_cli("sync", *flags(as_json), env={**env.cli_env(), "ASSETS_TABLE": table})

    assert result.code == 2, result.stderr
    line = one_error_line(result)
    assert f"table {table!r} has no index 'status-index'" in line, line
    assert "aws dynamodb update-table" in line and "does not exist" not in line
    if as_json:
        assert "has no index 'status-index'" in one_json_object(result)["message"]
    assert env.assets.client.scan(TableName=table)["Items"] == []


def test_create_table_adds_the_indexes_a_table_lacks_instead_of_answering_already_exists(
    env: Env,
) -> None:
    table = odd_table(env, "symbol")
    cli_env = {**env.cli_env(), "ASSETS_TABLE": table}

    created = run_cli("create-table", env=cli_env)
    again = run_cli("create-table", "--json", env=cli_env)
    env.serve([asset("AAPL")])
    synced = run_cli("sync", "--dry-run", "--json", env=cli_env)

    assert created.code == again.code == 0, created.stderr
    assert f"{table}: already exists (added status-index, asset-id-index)" in created.stdout
    assert f"{table}_sync_state: created" in created.stdout
    assert one_json_object(again)["tables"][table] == "already exists"
    assert synced.code == 0, synced.stderr  # the table now serves


@JSON
def test_an_assets_table_keyed_otherwise_is_named_for_sync_and_show(
    env: Env, as_json: bool
) -> None:
    table = odd_table(env, "id", "status")  # status-index, but the key is `id`
    state_table_for(env, table)
    env.serve([asset("A")])
    cli_env = {**env.cli_env(), "ASSETS_TABLE": table}

    for args in (["sync"], ["show", "A"]):
        result = run_cli(*args, *flags(as_json), env=cli_env)
        assert result.code == 2, (args, result.stderr)
        line = one_error_line(result)
        assert f"table {table!r} has the key 'id' (S), not 'symbol' (S)" in line, line
        assert "create-table" in line  # the fix: another table, or a new one


@pytest.mark.parametrize("command", ["sync", "status", "unlock", "history"])
def test_a_state_table_keyed_otherwise_is_named_with_its_fix(seeded: Env, command: str) -> None:
    env = seeded
    state = odd_table(env, "id")
    before = env.snapshot()

    result = run_cli(command, env={**env.cli_env(), "SYNC_STATE_TABLE": state})

    assert result.code == 2, result.stderr
    line = one_error_line(result)
    assert f"table {state!r} has the key 'id' (S), not 'pk' (S)" in line, line
    assert "SYNC_STATE_TABLE" in line
    assert env.snapshot() == before


def test_doctor_names_a_state_table_keyed_otherwise_instead_of_blaming_credentials(
    seeded: Env,
) -> None:
    env = seeded
    state = odd_table(env, "id")

    result = run_cli("doctor", env={**env.cli_env(), "SYNC_STATE_TABLE": state})

    assert result.code == 1, result.stdout + result.stderr
    assert f"FAIL  run-state table {state}: has the key 'id' (S), not 'pk' (S)" in result.stdout
    assert "check the region and credentials" not in result.stdout
    assert one_error_line(result).startswith("asset-sync: doctor: ")


# -- an endpoint that is not DynamoDB -------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["sync"], ["status"], ["unlock"], ["history"], ["show", "A"], ["create-table"]],
    ids=lambda args: args[0],
)
def test_an_endpoint_that_is_not_dynamodb_is_named_as_such(env: Env, args: list[str]) -> None:
    env.serve([asset("A")])
    endpoint = env.stand_in.base_url  # an HTTP server that answers 404 to DynamoDB's requests
    cli_env = {**env.cli_env(), "AWS_ENDPOINT_URL_DYNAMODB": endpoint}

    result = run_cli(*args, env=cli_env)
    as_json = run_cli(*args, "--json", env=cli_env)

    assert result.code == as_json.code == 2, result.stderr
    line = one_error_line(result)
    assert f"{endpoint} is not a DynamoDB endpoint (it answered HTTP 404" in line, line
    assert "AWS_ENDPOINT_URL_DYNAMODB" in line
    assert one_json_object(as_json)["exit_code"] == 2


# -- a state table of another assets table ------------------------------------------------------


@pytest.mark.parametrize("command", ["history", "doctor"])
@JSON
def test_history_and_doctor_refuse_a_state_table_of_another_assets_table(
    seeded: Env, command: str, as_json: bool
) -> None:
    env = seeded
    other = unique("other_assets")
    cli_env = {**env.cli_env(), "SYNC_STATE_TABLE": env.settings.state_table}

    result = run_cli(command, "--table", other, *flags(as_json), env=cli_env)
    status = run_cli("status", "--table", other, env=cli_env)

    assert result.code == status.code == 2, result.stdout + result.stderr
    expected = (
        f"state table {env.settings.state_table!r} records the runs of assets table "
        f"{env.settings.assets_table!r}, not {other!r}"
    )
    assert expected in one_error_line(result)
    if as_json:
        failure = one_json_object(result)
        assert failure["exit_code"] == 2 and expected in failure["message"]
        assert "runs" not in failure  # none of the other table's runs is shown as this one's
    else:
        assert "succeeded" not in result.stdout

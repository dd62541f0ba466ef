"""Settings, through the real CLI: each command parses what it uses, and a bad value is refused
with a message that names where it came from (a flag or an environment variable).
"""

from __future__ import annotations

import pytest
from tests.support import Env, run_cli
from tests.support import asset_record as asset

# Settings only a sync uses, each with a value it refuses.
SYNC_ONLY = {
    "MAX_DELIST_FRACTION": "lots",
    "MAX_WRITES_PER_SECOND": "0",
    "SYNC_LOCK_LEASE_SECONDS": "99999999999",
    "WRITE_CONCURRENCY": "many",
    "ASSET_CLASSES": "bogus_class",
}


def test_demo_with_a_negative_size_is_a_usage_error() -> None:
    result = run_cli("demo", "--assets", "-3", env={})

    assert result.code == 2
    assert "Traceback" not in result.stderr
    assert "Invalid value for '--assets'" in result.stderr
    assert "-3 is not in the range 10<=x<=200000" in result.stderr


def test_a_fractional_write_rate_is_accepted(env: Env) -> None:
    env.serve([asset("A"), asset("B")])

    result = run_cli("sync", "--json", env={**env.cli_env(), "MAX_WRITES_PER_SECOND": "0.5"})

    assert result.code == 0, result.stderr
    assert result.json()["created"] == 2
    assert {"A", "B"} <= set(env.snapshot())


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf", "40001"])
def test_an_impossible_write_rate_is_refused(env: Env, value: str) -> None:
    result = run_cli("sync", env={**env.cli_env(), "MAX_WRITES_PER_SECOND": value})

    assert result.code == 2, result.stderr
    assert "MAX_WRITES_PER_SECOND must be " in result.stderr
    assert repr(value) in result.stderr
    assert env.snapshot() == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("4", "between 5 and 86400, got '4'"),
        ("0", "between 5 and 86400, got '0'"),
        ("86401", "between 5 and 86400, got '86401'"),
        ("99999999999", "between 5 and 86400, got '99999999999'"),
        ("-5", "between 5 and 86400, got '-5'"),
        ("9" * 400, "between 5 and 86400, got '999"),
        ("1e9", "a whole number, got '1e9'"),
        ("30.5", "a whole number, got '30.5'"),
        ("nan", "a whole number, got 'nan'"),
    ],
)
def test_an_absurd_lease_is_refused_with_a_clear_message(
    env: Env, value: str, message: str
) -> None:
    env.serve([asset("A")])

    result = run_cli("sync", env={**env.cli_env(), "SYNC_LOCK_LEASE_SECONDS": value})

    assert result.code == 2, result.stderr
    assert f"configuration error: SYNC_LOCK_LEASE_SECONDS must be {message}" in result.stderr
    assert env.snapshot() == {}
    assert env.state.read().run_seq == 0  # refused before the lease was taken


@pytest.mark.parametrize("value", ["5", "86400", " 60 "])
def test_a_lease_within_bounds_is_used(env: Env, value: str) -> None:
    env.serve([asset("A")])

    result = run_cli("sync", env={**env.cli_env(), "SYNC_LOCK_LEASE_SECONDS": value})

    assert result.code == 0, result.stderr


@pytest.mark.parametrize("name", SYNC_ONLY)
def test_commands_other_than_sync_ignore_the_syncs_settings(env: Env, name: str) -> None:
    cli_env = {**env.cli_env(), name: SYNC_ONLY[name]}

    results = {
        command: run_cli(command, env=cli_env) for command in ("status", "create-table", "unlock")
    }
    sync = run_cli("sync", env=cli_env)

    for command, result in results.items():
        assert result.code == 0, (command, result.stderr)
    assert "already exists" in results["create-table"].stdout
    assert sync.code == 2, sync.stderr  # the sync itself refuses the value
    assert name in sync.stderr or "bogus_class" in sync.stderr


@pytest.mark.parametrize("suffix", ["/v2", "/v2/", "/"])
def test_a_base_url_as_the_dashboard_shows_it_works(env: Env, suffix: str) -> None:
    env.serve([asset("A")])
    cli_env = {**env.cli_env(), "APCA_API_BASE_URL": env.stand_in.base_url + suffix}

    result = run_cli("sync", "--json", env=cli_env)

    assert result.code == 0, result.stderr
    assert result.json()["created"] == 1
    assert [path for _, path, _ in env.stand_in.request_log] == ["/v2/assets"]


@pytest.mark.parametrize("command", ["sync", "status", "create-table", "unlock"])
def test_a_malformed_endpoint_names_its_source(env: Env, command: str) -> None:
    flag = run_cli(command, "--endpoint-url", "foo", env=env.cli_env())
    variable = run_cli(command, env={**env.cli_env(), "AWS_ENDPOINT_URL_DYNAMODB": "foo"})
    generic = {**env.cli_env(), "AWS_ENDPOINT_URL": "bar"}
    generic.pop("AWS_ENDPOINT_URL_DYNAMODB")
    fallback = run_cli(command, env=generic)

    for result, source, value in (
        (flag, "--endpoint-url", "foo"),
        (variable, "AWS_ENDPOINT_URL_DYNAMODB", "foo"),
        (fallback, "AWS_ENDPOINT_URL", "bar"),
    ):
        assert result.code == 2, (source, result.stderr)
        assert f"{source} must be an http(s) URL, got '{value}'" in result.stderr
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in flag.stderr


def test_the_endpoint_flag_overrides_the_variable(env: Env) -> None:
    env.serve([asset("A")])
    endpoint = env.settings.dynamodb_endpoint_url or ""
    cli_env = {**env.cli_env(), "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9"}

    result = run_cli("sync", "--json", "--endpoint-url", endpoint, env=cli_env)

    assert result.code == 0, result.stderr
    assert result.json()["dynamodb"]["endpoint"] == endpoint
    assert "A" in env.snapshot()


def test_flags_replace_bad_variables(env: Env) -> None:
    env.serve([asset("A")])
    endpoint = env.settings.dynamodb_endpoint_url or ""
    cli_env = {**env.cli_env(), "AWS_ENDPOINT_URL_DYNAMODB": "foo", "ASSETS_TABLE": "bad name!"}

    result = run_cli(
        "sync", "--json", "--endpoint-url", endpoint, "--table", env.settings.assets_table,
        env=cli_env,
    )  # fmt: skip

    assert result.code == 0, result.stderr
    assert "A" in env.snapshot()

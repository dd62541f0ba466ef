"""Configuration, through the real CLI (a child process, moto's server and the stand-in over HTTP).

* Region: the flag-free rule is AWS_REGION, AWS_DEFAULT_REGION, then boto3's own resolution (the
  profile in the AWS config file), then `us-east-1`; moto's server keeps regions apart, so a run
  that used the wrong region would read and write the wrong tables.
* Scope: a run's scope is the classes it requested, each once, or `us_equity` (Alpaca's default);
  only items in scope can be delisted; a class Alpaca and the table both do not know is a
  configuration error (exit 2), an empty answer for a class the table holds is the guard's.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from tests.support import Env, run_cli
from tests.support import asset_record as asset

from asset_sync.dal.client import dynamodb_client
from asset_sync.dal.run_state import RunStateTable
from asset_sync.local.catalog import dumps_catalog
from asset_sync.local.stand_in import Fault

REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE")


def crypto(symbol: str, **overrides: Any) -> dict[str, Any]:
    return asset(symbol, **{"class": "crypto", "exchange": "CRYPTO", **overrides})


def profile_env(env: Env, tmp_path: Path, config: str, **extra: str) -> dict[str, str]:
    """The CLI's environment with no region variable and `config` as the AWS config file."""
    config_file = tmp_path / "aws_config"
    config_file.write_text(config)
    base = {k: v for k, v in env.cli_env().items() if k not in REGION_VARIABLES}
    return {
        **base,
        "AWS_CONFIG_FILE": str(config_file),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no_credentials_file"),
        **extra,
    }


def items_in(region: str, endpoint: str, table: str) -> dict[str, dict[str, Any]]:
    """Every item of `table` in `region` on moto, raw, by symbol."""
    client = dynamodb_client(region, endpoint)
    items = client.scan(TableName=table, ConsistentRead=True)["Items"]
    return {item["symbol"]["S"]: item for item in items}


def table_exists(region: str, endpoint: str, table: str) -> bool:
    client = dynamodb_client(region, endpoint)
    return table in client.list_tables()["TableNames"]


def list_queries(env: Env) -> list[str]:
    """The sorted query string of every `GET /v2/assets` the stand-in received."""
    return [
        "&".join(sorted(query.split("&")))
        for method, path, query in env.stand_in.request_log
        if method == "GET" and path == "/v2/assets"
    ]


# -- region --------------------------------------------------------------------------------------


def test_the_profile_region_is_read_and_written_and_printed(env: Env, tmp_path: Path) -> None:
    endpoint = env.settings.dynamodb_endpoint_url or ""
    table = env.settings.assets_table  # exists in us-east-1 too (the fixture made it there)
    cli_env = profile_env(env, tmp_path, "[default]\nregion = eu-west-1\n")
    env.serve([asset("A"), asset("B")])

    created = run_cli("create-table", env=cli_env)
    synced = run_cli("sync", env=cli_env)
    status = run_cli("status", env=cli_env)
    status_json = run_cli("status", "--json", env=cli_env)

    assert created.code == 0, created.stderr
    assert f"{table}: created" in created.stdout  # not "already exists": another region
    assert synced.code == 0, synced.stderr
    assert f"DynamoDB region eu-west-1 ({endpoint})" in synced.stdout
    assert set(items_in("eu-west-1", endpoint, table)) == {"A", "B"}
    assert env.snapshot() == {}  # the us-east-1 table of the same name: untouched
    assert env.state.read().last_run is None
    eu_state = RunStateTable(dynamodb_client("eu-west-1", endpoint), f"{table}_sync_state")
    assert (eu_state.read().last_run or {}).get("created") == 2
    assert status.code == 0, status.stderr
    assert f"in region eu-west-1 (from the AWS config file), endpoint {endpoint}" in status.stdout
    assert "created 2" in status.stdout
    assert status_json.json()["region"] == "eu-west-1"
    assert status_json.json()["endpoint"] == endpoint
    assert status_json.json()["last_run"]["created"] == 2


def test_a_named_profile_gives_its_region(env: Env, tmp_path: Path) -> None:
    endpoint = env.settings.dynamodb_endpoint_url or ""
    table = f"assets_{uuid.uuid4().hex[:10]}"
    config = "[default]\nregion = eu-west-1\n\n[profile research]\nregion = ap-southeast-2\n"
    cli_env = profile_env(env, tmp_path, config, AWS_PROFILE="research", ASSETS_TABLE=table)

    assert run_cli("create-table", env=cli_env).code == 0
    status = run_cli("status", "--json", env=cli_env)

    assert status.code == 0, status.stderr
    assert status.json()["region"] == "ap-southeast-2"
    assert table_exists("ap-southeast-2", endpoint, table)
    assert not table_exists("eu-west-1", endpoint, table)
    assert not table_exists("us-east-1", endpoint, table)


@pytest.mark.parametrize(
    ("variables", "region", "source"),
    [
        ({"AWS_REGION": "ca-central-1"}, "ca-central-1", "AWS_REGION"),
        ({"AWS_DEFAULT_REGION": "sa-east-1"}, "sa-east-1", "AWS_DEFAULT_REGION"),
        (
            {"AWS_REGION": "ca-central-1", "AWS_DEFAULT_REGION": "sa-east-1"},
            "ca-central-1",
            "AWS_REGION",
        ),
    ],
)
def test_region_variables_come_before_the_profile(
    env: Env, tmp_path: Path, variables: dict[str, str], region: str, source: str
) -> None:
    cli_env = profile_env(env, tmp_path, "[default]\nregion = eu-west-1\n", **variables)
    assert run_cli("create-table", env=cli_env).code == 0

    status = run_cli("status", env=cli_env)

    assert status.code == 0, status.stderr
    assert f"in region {region} (from {source})" in status.stdout


def test_the_region_flag_comes_before_everything(env: Env, tmp_path: Path) -> None:
    endpoint = env.settings.dynamodb_endpoint_url or ""
    table = f"assets_{uuid.uuid4().hex[:10]}"
    cli_env = profile_env(
        env, tmp_path, "[default]\nregion = eu-west-1\n", AWS_REGION="ca-central-1",
        ASSETS_TABLE=table,
    )  # fmt: skip

    created = run_cli("create-table", "--region", "ap-northeast-1", env=cli_env)
    status = run_cli("status", "--region", "ap-northeast-1", env=cli_env)

    assert created.code == 0, created.stderr
    assert table_exists("ap-northeast-1", endpoint, table)
    assert not table_exists("ca-central-1", endpoint, table)
    assert "in region ap-northeast-1 (from --region)" in status.stdout
    assert run_cli("status", "--region", "not a region", env=cli_env).code == 2


def test_without_any_region_the_documented_default_is_used(env: Env, tmp_path: Path) -> None:
    cli_env = profile_env(env, tmp_path, "[default]\noutput = json\n")  # a config without region

    status = run_cli("status", env=cli_env)

    assert status.code == 0, status.stderr  # the fixture's tables are in us-east-1
    assert "in region us-east-1 (from the default)" in status.stdout


@pytest.mark.parametrize(
    ("config", "extra", "message"),
    [
        ("[default]\nregion = eu west 1\n", {}, "'eu west 1' (from the AWS config file)"),
        ("[default]\nregion = eu-west-1\n", {"AWS_REGION": "eu_west!1"}, "(from AWS_REGION)"),
        ("[default]\nregion = eu-west-1\n", {"AWS_PROFILE": "nobody"}, "profile (nobody)"),
        ("[default]\n", {"AWS_PROFILE": "nobody", "AWS_REGION": "eu-west-1"}, "profile (nobody)"),
        ("[default\nregion", {}, "Unable to parse config file"),
    ],
    ids=["config-file", "variable", "unknown-profile", "unknown-profile-with-region", "unparsable"],
)
def test_an_invalid_region_or_profile_is_a_configuration_error(
    env: Env, tmp_path: Path, config: str, extra: dict[str, str], message: str
) -> None:
    cli_env = profile_env(env, tmp_path, config, **extra)
    env.serve([asset("A")])

    for command in (["sync"], ["status"], ["create-table"]):
        result = run_cli(*command, env=cli_env)
        assert result.code == 2, (command, result.stderr)
        assert message in result.stderr, command
        assert "Traceback" not in result.stderr
    as_json = run_cli("sync", "--json", env=cli_env)
    assert as_json.code == 2
    assert as_json.json()["outcome"] == "failed"
    assert message in as_json.json()["message"]
    assert env.snapshot() == {}


# -- scope ---------------------------------------------------------------------------------------


def test_a_plain_run_after_a_crypto_run_never_delists_crypto(env: Env) -> None:
    equities = [asset(f"EQ{i:02d}") for i in range(40)]
    coins = [crypto("BTC/USD"), crypto("ETH/USD")]  # 2 of 42: a delisting the guard would allow
    env.stand_in.set_assets([*equities, *coins])
    cli_env = {**env.cli_env(), "ASSET_CLASSES": ""}

    first = run_cli("sync", "--json", "--asset-class", "crypto", env=cli_env)
    plain = run_cli("sync", "--json", env=cli_env)
    again = run_cli("sync", "--json", env=cli_env)

    assert first.code == 0, first.stderr
    assert first.json()["created"] == 2 and first.json()["scope"] == ["crypto"]
    assert plain.code == 0, plain.stderr
    report = plain.json()
    assert report["scope"] == ["us_equity"]
    assert (report["created"], report["delisted"]) == (40, 0)
    assert again.code == 0 and again.json()["delisted"] == 0
    for symbol in ("BTC/USD", "ETH/USD"):
        item = env.item(symbol)
        assert item is not None and item["status"] == "active", symbol
    assert list_queries(env) == [
        "asset_class=crypto&status=active",
        "asset_class=us_equity&status=active",
        "asset_class=us_equity&status=active",
    ]


@pytest.mark.parametrize(
    ("args", "classes"),
    [
        (["--asset-class", "crypto", "--asset-class", "crypto"], ""),
        ([], "crypto,crypto"),
        ([], " crypto , crypto ,"),
        (["--asset-class", "crypto", "--asset-class", "us_equity", "--asset-class", "crypto"], ""),
    ],
    ids=["flag", "variable", "variable-spaces", "flag-mixed"],
)
def test_repeated_classes_are_fetched_once(env: Env, args: list[str], classes: str) -> None:
    coins = [crypto("BTC/USD"), crypto("ETH/USD"), crypto("SOL/USD")]
    env.stand_in.set_assets([asset("A"), *coins])
    cli_env = {**env.cli_env(), "ASSET_CLASSES": classes}

    result = run_cli("sync", "--json", *args, env=cli_env)

    assert result.code == 0, result.stderr
    report = result.json()
    assert report["duplicate_symbols"] == []
    assert report["invalid"] == 0
    wanted = ["crypto", "us_equity"] if "us_equity" in args else ["crypto"]
    assert report["scope"] == wanted
    assert report["created"] == len(coins) + ("us_equity" in args)
    assert sorted(list_queries(env)) == [f"asset_class={c}&status=active" for c in wanted]


@pytest.mark.parametrize("bad_class", ["bogus_class", "US_EQUITY"])
@pytest.mark.parametrize("how", ["flag", "variable"])
def test_an_unknown_class_is_a_configuration_error(env: Env, bad_class: str, how: str) -> None:
    env.serve([asset("A"), asset("B")])
    assert run_cli("sync", env=env.cli_env()).code == 0  # the table holds us_equity
    before = env.snapshot()
    if how == "flag":
        cli_env, args = {**env.cli_env(), "ASSET_CLASSES": ""}, ["--asset-class", bad_class]
    else:
        cli_env, args = {**env.cli_env(), "ASSET_CLASSES": bad_class}, []
    expected = (
        f"Alpaca returned no assets of class {bad_class!r}; "
        "known classes: crypto, us_equity, us_option"
    )

    human = run_cli("sync", *args, env=cli_env)
    as_json = run_cli("sync", "--json", *args, env=cli_env)
    dry_run = run_cli("sync", "--dry-run", *args, env=cli_env)

    assert human.code == 2, human.stderr
    assert expected in human.stderr
    assert "guard" not in human.stdout + human.stderr
    assert "Traceback" not in human.stderr
    assert as_json.code == 2
    report = as_json.json()
    assert report["outcome"] == "failed"
    assert expected in report["message"]
    assert report["delisted"] == 0
    assert dry_run.code == 2 and expected in dry_run.stderr
    assert env.snapshot() == before


def test_an_empty_answer_for_a_class_the_table_holds_is_the_guards(env: Env) -> None:
    env.serve([asset("A"), crypto("BTC/USD"), crypto("ETH/USD")])
    assert run_cli("sync", env=env.cli_env()).code == 0
    before = env.snapshot()
    env.stand_in.set_assets([asset("A")])  # Alpaca answers [] for crypto
    cli_env = {**env.cli_env(), "ASSET_CLASSES": ""}

    result = run_cli("sync", "--json", "--asset-class", "crypto", env=cli_env)

    assert result.code == 3, result.stderr
    assert result.json()["outcome"] == "refused"
    assert "guard refused the plan" in result.json()["message"]
    assert "Alpaca returned no assets" not in result.stdout + result.stderr
    assert env.snapshot() == before


def test_a_record_outside_the_scope_is_written_but_never_delisted(env: Env) -> None:
    env.serve([asset("A")])
    extra = crypto("DOGE/USD")  # in a us_equity answer: validated and written like the others
    env.stand_in.script(Fault.body(dumps_catalog([asset("A"), extra])), route="list")

    first = run_cli("sync", "--json", env=env.cli_env())
    second = run_cli("sync", "--json", env=env.cli_env())  # DOGE/USD absent, out of scope

    assert first.code == 0, first.stderr
    assert first.json()["scope"] == ["us_equity"]
    assert first.json()["created"] == 2
    item = env.item("DOGE/USD")
    assert item is not None and item["asset_class"] == "crypto"
    assert second.code == 0, second.stderr
    assert second.json()["delisted"] == 0
    item = env.item("DOGE/USD")
    assert item is not None and item["status"] == "active"

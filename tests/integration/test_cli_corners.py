"""Corners of the command line, through the real CLI: `doctor`'s Alpaca check and its failure
line, usage errors, a refused plan's delisting candidates, `demo --json`, and which settings each
command reads (flags over variables; Alpaca's settings only where Alpaca is called).
"""

from __future__ import annotations

import pytest
from tests.support import Env, run_cli
from tests.support import asset_record as asset
from tests.support.cli_output import one_error_line, one_json_object

from asset_sync.local.stand_in import Fault
from asset_sync.wiring import build_run

# -- doctor ----------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["moto's server", "a wrong path", "not an array"])
def test_doctors_alpaca_check_fails_unless_the_list_answers_like_alpaca(
    env: Env, moto_url: str, where: str
) -> None:
    env.serve([asset("A")])
    build_run(env.settings).run()
    base_url = {
        "moto's server": moto_url,
        "a wrong path": env.stand_in.base_url + "/api",
        "not an array": env.stand_in.base_url,
    }[where]
    if where == "not an array":
        env.stand_in.script(Fault.body(b'{"assets": []}'))
    cli_env = {**env.cli_env(), "APCA_API_BASE_URL": base_url}

    doctor = run_cli("doctor", env=cli_env)

    assert doctor.code == 1, doctor.stdout + doctor.stderr
    assert "FAIL  Alpaca: " in doctor.stdout, doctor.stdout
    assert doctor.stdout.count("ok  ") == 4  # every other check passes
    assert one_error_line(doctor) == "asset-sync: doctor: 1 of 5 checks failed (Alpaca)"
    if where != "not an array":  # what sync does with the same setting
        assert run_cli("sync", env=cli_env).code == 2


def test_a_failing_doctor_with_json_prints_one_object_and_one_line(env: Env) -> None:
    result = run_cli("doctor", "--json", env=env.cli_env())  # no run recorded yet

    assert result.code == 1
    report = one_json_object(result)
    assert report["ok"] is False and report["exit_code"] == 1
    assert [c["name"] for c in report["checks"] if not c["ok"]] == ["last run"]
    assert one_error_line(result) == "asset-sync: doctor: 1 of 5 checks failed (last run)"


# -- usage errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["show", ""], "Invalid value for 'SYMBOL': must not be empty"),
        (["status", "--no-such-flag"], "No such option '--no-such-flag'"),
        (["sync", "--max-delist-fraction", "5"], "5.0 is not in the range"),
        (["no-such-command"], "No such command 'no-such-command'"),
        (["demo", "--assets", "-3"], "-3 is not in the range 10<=x<=200000"),
        (["history", "--limit", "0"], "'--limit'"),
    ],
    ids=lambda value: value[0] if isinstance(value, list) else None,
)
def test_a_usage_error_is_one_line_and_exit_2(env: Env, args: list[str], words: str) -> None:
    result = run_cli(*args, env=env.cli_env())

    assert result.code == 2, result.stderr
    line = one_error_line(result)
    assert line.startswith("asset-sync: usage error: ") and words in line, line
    assert result.stdout == ""


# -- a refused plan --------------------------------------------------------------------------


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_a_refused_plan_lists_its_delisting_candidates(env: Env, dry_run: bool) -> None:
    env.serve([asset(f"S{i:02d}") for i in range(25)])
    build_run(env.settings).run()
    env.serve([asset(f"S{i:02d}") for i in range(20)])  # 5 of 25 gone: more than 10 %
    args = ["sync", *(["--dry-run"] if dry_run else [])]
    before = env.snapshot()

    human = run_cli(*args, env=env.cli_env())
    as_json = run_cli(*args, "--json", env=env.cli_env())

    assert human.code == as_json.code == 3, human.stderr
    assert "would delist 5 of 25 active assets in scope: S20, S21, S22, S23, S24" in human.stdout
    report = one_json_object(as_json)
    assert report["delist_candidates"] == 5
    assert report["delist_candidate_symbols"] == ["S20", "S21", "S22", "S23", "S24"]
    assert env.snapshot() == before


def test_a_refused_plans_candidates_are_bounded_with_their_count(env: Env) -> None:
    env.serve([asset(f"S{i:03d}") for i in range(260)])
    build_run(env.settings).run()
    env.serve([asset(f"S{i:03d}") for i in range(20)])

    human = run_cli("sync", "--dry-run", env=env.cli_env())
    as_json = run_cli("sync", "--dry-run", "--json", env=env.cli_env())

    assert human.code == as_json.code == 3
    listed = ", ".join(f"S{i:03d}" for i in range(20, 40))
    assert f"would delist 240 of 260 active assets in scope: {listed} (+220 more)" in human.stdout
    report = one_json_object(as_json)
    assert report["delist_candidates"] == 240
    assert report["delist_candidate_symbols"] == [f"S{i:03d}" for i in range(20, 120)]


# -- demo ------------------------------------------------------------------------------------


def test_demo_json_prints_one_object() -> None:
    result = run_cli("demo", "--assets", "20", "--json", env={})

    assert result.code == 0, result.stderr
    demo = one_json_object(result)
    assert demo["outcome"] == "succeeded" and demo["exit_code"] == 0
    assert [run["outcome"] for run in demo["runs"]] == ["succeeded"] * 3
    assert demo["problems"] == []


# -- which settings each command reads ---------------------------------------------------------

READ_ONLY_OF_ALPACA = (["status"], ["unlock"], ["create-table"], ["history"], ["show", "A"])


@pytest.mark.parametrize(
    "alpaca",
    [
        {"APCA_API_BASE_URL": "paper-api.alpaca.markets"},
        {"APCA_API_BASE_URL": "ftp://paper-api.alpaca.markets"},
        {"APCA_API_SECRET_KEY": "short"},
    ],
    ids=["no-scheme", "ftp", "short-secret"],
)
def test_commands_that_do_not_call_alpaca_ignore_its_settings(
    env: Env, alpaca: dict[str, str]
) -> None:
    env.serve([asset("A")])
    build_run(env.settings).run()
    cli_env = {**env.cli_env(), **alpaca}

    for command in READ_ONLY_OF_ALPACA:
        result = run_cli(*command, env=cli_env)
        assert result.code == 0, (command, result.stderr)
    for command in ("sync", "doctor"):  # these call Alpaca: the value is refused
        result = run_cli(command, env=cli_env)
        assert result.code == 2, (command, result.stdout + result.stderr)
        assert next(iter(alpaca)) in one_error_line(result)


@pytest.mark.parametrize(
    ("variables", "args"),
    [
        ({"MAX_DELIST_FRACTION": "lots"}, ["--max-delist-fraction", "0.5"]),
        ({"ASSET_CLASSES": ",,"}, ["--asset-class", "us_equity"]),
        ({"ASSETS_TABLE": "bad name!"}, ["--table", "{table}"]),
        ({"AWS_REGION": "us east 1"}, ["--region", "us-east-1"]),
        ({"AWS_ENDPOINT_URL_DYNAMODB": "foo"}, ["--endpoint-url", "{endpoint}"]),
    ],
    ids=["fraction", "classes", "table", "region", "endpoint"],
)
def test_every_flag_overrides_its_variable(
    env: Env, variables: dict[str, str], args: list[str]
) -> None:
    env.serve([asset("A")])
    values = {"table": env.settings.assets_table, "endpoint": env.settings.dynamodb_endpoint_url}
    cli_env = {**env.cli_env(), **variables}

    result = run_cli("sync", "--json", *(arg.format(**values) for arg in args), env=cli_env)

    assert result.code == 0, result.stderr
    assert result.json()["created"] == 1
    assert "A" in env.snapshot()


@pytest.mark.parametrize("value", [",,", " , ", ","])
def test_asset_classes_without_a_class_is_a_configuration_error(env: Env, value: str) -> None:
    env.serve([asset("A")])

    result = run_cli("sync", env={**env.cli_env(), "ASSET_CLASSES": value})

    assert result.code == 2, result.stdout
    line = one_error_line(result)
    assert "configuration error: ASSET_CLASSES names no asset class" in line, line
    assert env.snapshot() == {}

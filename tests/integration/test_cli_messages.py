"""Messages that tell the truth, through the real CLI: the Alpaca secret is redacted as a whole
token (never by mangling words that contain it, never revealing its length or position), a
secret too short to be one is refused, and a record's validation message names the real rule
and shows the offending value, escaped and truncated.
"""

from __future__ import annotations

import json

import pytest
from tests.support import Env, run_cli
from tests.support import asset_record as asset
from tests.support.cli_output import one_error_line, one_json_object
from tests.support.reliability import run_fast_cli

from asset_sync.local.moto_server import free_port
from asset_sync.local.stand_in import Fault

# -- the secret ------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["s", "t", "1234567"])
@pytest.mark.parametrize("command", ["sync", "doctor"])
def test_a_secret_shorter_than_8_characters_is_a_configuration_error(
    env: Env, secret: str, command: str
) -> None:
    env.serve([asset("A")])

    result = run_cli(command, env={**env.cli_env(), "APCA_API_SECRET_KEY": secret})

    assert result.code == 2, result.stdout + result.stderr
    line = one_error_line(result)
    assert "configuration error: APCA_API_SECRET_KEY is too short to be an Alpaca secret" in line
    assert str(len(secret)) not in line.replace("8", "")  # not its length
    assert env.stand_in.request_log == []  # never sent
    assert env.snapshot() == {}


def test_a_secret_inside_a_word_is_left_alone_and_never_mangles_the_message(env: Env) -> None:
    secret = "establis"  # in "establish": a word of urllib3's connection error
    cli_env = {
        **env.cli_env(),
        "APCA_API_SECRET_KEY": secret,
        "APCA_API_BASE_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens
    }

    result = run_fast_cli("sync", env=cli_env)

    assert result.code == 1, result.stderr
    line = one_error_line(result)
    assert "Failed to establish a new connection" in line, line
    assert "***" not in line


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_a_secret_echoed_as_a_token_is_replaced_whole(env: Env, as_json: bool) -> None:
    secret = "kS3cr3tKeyValue0123456789abcdefABCDEF99"
    echoed = f"key {secret} (and again: '{secret}') is not valid for establishing a session"
    env.stand_in.script(Fault.status(403, json.dumps({"message": echoed}).encode()))
    cli_env = {**env.cli_env(), "APCA_API_SECRET_KEY": secret}

    result = run_cli("sync", *(["--json"] if as_json else []), env=cli_env)

    assert result.code == 2, result.stderr
    output = result.stdout + result.stderr
    assert secret not in output and secret[:8] not in output and secret[-8:] not in output
    line = one_error_line(result)
    assert "key *** (and again: '***') is not valid for establishing a session" in line, line
    if as_json:
        assert "key *** (and again" in one_json_object(result)["message"]


# -- validation messages ---------------------------------------------------------------------


def invalid_reasons(env: Env) -> tuple[str, dict[int, str]]:
    """The human output of a sync and the reason of each invalid record (from --json)."""
    human = run_cli("sync", env=env.cli_env())
    report = run_cli("sync", "--json", env=env.cli_env()).json()
    assert human.code == 0, human.stderr
    return human.stdout, {r["index"]: r["reason"] for r in report["invalid_records"]}


def test_validation_messages_name_the_rule_and_show_the_value(env: Env) -> None:
    long_symbol = "L" * 300
    env.serve(
        [
            asset("OK"),
            asset("ÜNI"),
            asset(""),
            asset(long_symbol),
            asset("A B"),
            asset("CTL", name="Bad\x1b[2JName"),
            asset("__X"),
        ]
    )

    human, reasons = invalid_reasons(env)

    assert reasons[1] == (
        "`symbol` 'ÜNI' contains 'Ü': a symbol is 1 to 64 printable ASCII characters, no spaces"
    )
    assert reasons[2] == "`symbol` is empty"
    assert reasons[3] == f"`symbol` is 300 characters, more than 64: '{'L' * 40}…'"
    assert reasons[4] == (
        "`symbol` 'A B' contains ' ': a symbol is 1 to 64 printable ASCII characters, no spaces"
    )
    assert reasons[5] == "`name` 'Bad\\x1b[2JName' contains the control character '\\x1b'"
    assert reasons[6] == "`symbol` '__X' may not start with '__'"
    assert "(None)" not in human
    assert "invalid record #2: `symbol` is empty" in human
    assert f"invalid record #3: `symbol` is 300 characters, more than 64: '{'L' * 40}…'" in human
    assert "invalid record #1 (ÜNI): `symbol` 'ÜNI' contains 'Ü'" in human
    assert long_symbol not in human and "\x1b" not in human

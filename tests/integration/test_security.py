"""Security: the secret never leaks, API strings are data, hostile input is bounded.

* The Alpaca secret is a canary (`tests.support.CANARY_SECRET`); a hostile server even echoes it
  back in error bodies. Across every failure path it must appear in no stdout/stderr of the CLI
  or the Lambda handler (child processes), and in no message, repr, traceback, log record or
  report of the in-process exceptions.
* Symbols and names that look like DynamoDB expression syntax are stored verbatim and change
  nothing else (every value goes through ExpressionAttributeValues / Names).
* Oversized or hostile records are rejected per record, oversized bodies per run, with a clear
  message and a bounded peak RSS of the CLI process.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import traceback
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from tests.support import CANARY_SECRET, CREDENTIALS, CliResult, Env
from tests.support.reliability import (
    RawHttpServer,
    asset_record,
    child_env,
    chunked_body,
    cli_command,
    finish,
    hash_matches_content,
    run_fast_cli,
    use_fast_alpaca_client,
)

from asset_sync.config import AlpacaCredentials
from asset_sync.dal.serialization import deserialize_item
from asset_sync.local.catalog import dumps_catalog, generate_catalog
from asset_sync.local.stand_in import Fault
from asset_sync.logic.sync import SyncError
from asset_sync.wiring import alpaca_client, build_run

FIFTY_MB = 50 * 1024 * 1024
RSS_LIMIT_KB = 300 * 1024
# A hostile server that echoes the secret back in whatever it says.
ECHO = json.dumps({"code": 50010000, "message": f"bad key {CANARY_SECRET}"}).encode()
ECHO_HTML = f"<html><body>key {CANARY_SECRET} rejected</body></html>".encode()


def assert_no_canary(*texts: str) -> None:
    for text in texts:
        assert CANARY_SECRET not in text
        assert CANARY_SECRET[:20] not in text  # not even a prefix


def seeded(env: Env, catalog: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    # one asset class (the default scope): one scripted fault or body stands for the whole fetch
    default = [a for a in generate_catalog(34, seed=61) if a["class"] == "us_equity"]
    env.serve(catalog or default)
    build_run(env.settings).run()
    return env.snapshot()


# -- the canary secret ---------------------------------------------------------------------------

CLI_FAILURES: dict[str, tuple[list[Fault], int, str]] = {
    "403-echoing-the-secret": (
        [Fault.status(403, body=ECHO)],
        2,
        "rejected the API keys",
    ),
    "500-exhausted-echoing-the-secret": (
        [Fault.status(500, body=ECHO)] * 8,
        1,
        "HTTP 500 after 5 retries",
    ),
    "html-echoing-the-secret": (
        [Fault.status(502, body=ECHO_HTML)] * 8,
        1,
        "HTTP 502 after 5 retries",
    ),
    "connection-resets-exhausted": ([Fault.connection_reset()] * 8, 1, "after 5 retries"),
    "truncated-body": ([Fault.truncated()], 1, "not a complete JSON array"),
    "50-MB-body": ([Fault.body(b"[" + b" " * (FIFTY_MB - 2) + b"]")], 1, "exceeds the"),
    "retry-after-too-long": ([Fault.rate_limited(retry_after=3600)], 1, "try again later"),
    "empty-catalog-guard": ([Fault.body(b"[]")], 3, "guard refused the plan"),
}


@pytest.mark.parametrize(
    ("faults", "code", "message"), CLI_FAILURES.values(), ids=CLI_FAILURES.keys()
)
def test_cli_failure_paths_never_print_the_secret(
    env: Env, faults: list[Fault], code: int, message: str
) -> None:
    before = seeded(env)
    env.stand_in.script(*faults)

    result = run_fast_cli("sync", "--json", env=env.cli_env())

    assert result.code == code, result.stderr
    assert message in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert_no_canary(result.stdout, result.stderr)
    assert env.snapshot() == before


def missing_table() -> str:
    """A table name no other test on the shared moto server has used."""
    return f"no_such_table_{uuid.uuid4().hex[:8]}"


def test_cli_wrong_keys_missing_table_and_held_lease_never_print_the_secret(env: Env) -> None:
    before = seeded(env)
    wrong = {**env.cli_env(), "APCA_API_SECRET_KEY": CANARY_SECRET + "-wrong"}
    results: dict[str, tuple[CliResult, int]] = {
        "401": (run_fast_cli("sync", env=wrong), 2),
        "missing-table": (run_fast_cli("sync", "--table", missing_table(), env=env.cli_env()), 2),
    }
    env.hold_lease()
    results["lock-held"] = (run_fast_cli("sync", "--json", env=env.cli_env()), 4)
    results["status-while-locked"] = (run_fast_cli("status", env=env.cli_env()), 0)

    for name, (result, code) in results.items():
        assert result.code == code, (name, result.stderr)
        assert "Traceback" not in result.stderr, name
        assert_no_canary(result.stdout, result.stderr)
    assert env.snapshot() == before


IN_PROCESS_FAILURES: dict[str, list[Fault]] = {
    "401": [Fault.status(401, body=ECHO)],
    "403": [Fault.status(403, body=ECHO)],
    "5xx-exhausted": [Fault.status(503, body=ECHO)] * 8,
    "html-exhausted": [Fault.status(502, body=ECHO_HTML)] * 8,
    "429-exhausted": [Fault.rate_limited(retry_after=0)] * 8,
    "slow-exhausted": [Fault.slow(0.5)] * 8,
    "resets-exhausted": [Fault.connection_reset()] * 8,
    "truncated": [Fault.truncated()],
    "oversized": [Fault.body(b"[" + b" " * (FIFTY_MB - 2) + b"]")],
    "not-json": [Fault.body(ECHO_HTML, content_type="text/html")],
    "guard-refusal": [Fault.body(b"[]")],
}


@pytest.mark.parametrize("faults", IN_PROCESS_FAILURES.values(), ids=IN_PROCESS_FAILURES.keys())
def test_in_process_exceptions_logs_and_reports_never_hold_the_secret(
    env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, faults: list[Fault]
) -> None:
    use_fast_alpaca_client(monkeypatch, read_timeout=0.3)
    seeded(env)
    env.stand_in.script(*faults)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(Exception) as raised:
        build_run(env.settings).run()

    error = raised.value
    texts = [
        str(error),
        repr(error),
        "".join(traceback.format_exception(error)),
        caplog.text,
        *(repr(record.args) for record in caplog.records),
        repr(env.settings),
        str(env.settings.credentials),
        json.dumps(env.state.read().to_json(), default=str),  # the run record in DynamoDB
    ]
    if isinstance(error, SyncError):
        texts.append(json.dumps(error.report.to_json(), default=str))
    assert_no_canary(*texts)


def test_the_client_and_settings_never_show_the_secret(env: Env) -> None:
    client = alpaca_client(env.settings)
    assert_no_canary(repr(client), str(vars(client).get("_credentials")), repr(env.settings))
    assert_no_canary(repr(CREDENTIALS), str(CREDENTIALS))


# -- the Lambda handler --------------------------------------------------------------------------


@pytest.fixture
def secret_in_secrets_manager(moto_url: str) -> Iterator[str]:
    """The Alpaca keys as a Secrets Manager secret on moto (what the Lambda reads)."""
    client = boto3.client("secretsmanager", endpoint_url=moto_url, region_name="us-east-1")
    name = f"alpaca-{id(client)}"
    client.create_secret(
        Name=name,
        SecretString=json.dumps(
            {"APCA_API_KEY_ID": CREDENTIALS.key_id, "APCA_API_SECRET_KEY": CANARY_SECRET}
        ),
    )
    yield name
    client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def run_handler(env: Env, moto_url: str, secret_id: str | None = None) -> CliResult:
    handler_env = {
        **env.cli_env(),
        "POWERTOOLS_SERVICE_NAME": "asset-sync",
        "POWERTOOLS_METRICS_NAMESPACE": "Signal9/AssetSync/Test",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_url,
    }
    if secret_id is not None:
        handler_env["ALPACA_SECRET_ID"] = secret_id
        handler_env.pop("APCA_API_SECRET_KEY")
        handler_env.pop("APCA_API_KEY_ID")
    process = subprocess.Popen(
        cli_command("--handler"),
        env=child_env(handler_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return finish(process)


@pytest.mark.parametrize(
    "faults",
    [[], [Fault.status(403, body=ECHO)], [Fault.status(500, body=ECHO)] * 8, [Fault.truncated()]],
    ids=["success", "403", "5xx-exhausted", "truncated"],
)
def test_the_lambda_handler_never_logs_the_secret_from_secrets_manager(
    env: Env, moto_url: str, secret_in_secrets_manager: str, faults: list[Fault]
) -> None:
    seeded(env)
    env.stand_in.script(*faults)

    result = run_handler(env, moto_url, secret_in_secrets_manager)

    assert result.code == (0 if not faults else 1), result.stderr
    assert ("RESULT" in result.stdout) == (not faults)
    assert_no_canary(result.stdout, result.stderr)


def test_the_lambda_handler_never_logs_a_malformed_secret(env: Env, moto_url: str) -> None:
    client = boto3.client("secretsmanager", endpoint_url=moto_url, region_name="us-east-1")
    name = f"alpaca-bad-{env.settings.assets_table}"
    client.create_secret(Name=name, SecretString=f"not json {CANARY_SECRET}")
    try:
        result = run_handler(env, moto_url, name)
    finally:
        client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)

    assert result.code == 1
    assert "is not a JSON object" in result.stderr
    assert_no_canary(result.stdout, result.stderr)


def test_the_lambda_handler_skips_when_the_lease_is_held(env: Env, moto_url: str) -> None:
    seeded(env)
    env.hold_lease()

    result = run_handler(env, moto_url)

    assert result.code == 0
    assert '"outcome": "skipped"' in result.stdout
    assert_no_canary(result.stdout, result.stderr)


# -- expression injection ------------------------------------------------------------------------

HOSTILE_SYMBOLS = [
    "#s0",
    ":e0",
    "#symbol",
    ":version",
    "BRK.B",
    "X/Y",
    "A'B",
    'A"B',
    "a=b",
    "attribute_exists(x)",
    ")OR(",
    "${x}",
    "%s%n",
    "\\x00",
    "<script>",
    "SET",
    "--",
]
HOSTILE_NAMES = [
    "a = b OR attribute_exists(x)",
    "#s0 = :s0 REMOVE status",
    "Robert'); DROP TABLE signal9_assets;--",
    '" OR "1"="1',
    "Société Générale ✓ 株式会社 😀",
    "\u202eevil",  # right-to-left override: not a control character, kept verbatim
    "SET #status = :e0, sync_version = :one",
]


def test_symbols_and_names_that_look_like_expressions_are_stored_verbatim(env: Env) -> None:
    records = [asset_record(symbol) for symbol in HOSTILE_SYMBOLS]
    records += [asset_record(f"NAME{i}", name=name) for i, name in enumerate(HOSTILE_NAMES)]
    records.append(asset_record("ATTRS", attributes=["#a0", ":v0", "x) OR (y"], exchange=":s1"))
    env.serve(records)

    report = build_run(env.settings).run()

    assert report.invalid == 0
    assert report.created == len(records)
    snapshot = env.snapshot()
    assert set(snapshot) == {r["symbol"] for r in records}
    for record in records:
        raw = snapshot[record["symbol"]]
        assert raw["symbol"] == {"S": record["symbol"]}
        assert raw["name"] == {"S": record["name"]}
        assert raw["exchange"] == {"S": record["exchange"]}
        assert raw["attributes"] == {"L": [{"S": a} for a in record["attributes"]]}
        assert raw["status"] == {"S": "active"} and raw["sync_version"] == {"N": "1"}
        assert hash_matches_content(raw)


def test_an_injection_looking_rename_changes_that_name_and_nothing_else(env: Env) -> None:
    records = [asset_record(f"S{i}") for i in range(10)] + [
        asset_record("#s0"),
        asset_record(":e0"),
    ]
    before = seeded(env, records)
    renamed = {"S3": HOSTILE_NAMES[0], "#s0": HOSTILE_NAMES[1], ":e0": HOSTILE_NAMES[-1]}
    env.serve([{**r, "name": renamed.get(r["symbol"], r["name"])} for r in records])

    report = build_run(env.settings).run()

    assert report.updated == 3 and report.unchanged == len(records) - 3
    after = env.snapshot()
    changing = {
        "name",
        "sync_hash",
        "updated_at",
        "last_sync_timestamp",
        "sync_version",
        "sync_run_seq",
        "sync_action",
    }
    for symbol, item in after.items():
        if symbol in renamed:
            assert item["name"] == {"S": renamed[symbol]}
            assert item["sync_version"] == {"N": "2"}
            assert item["sync_action"] == {"S": "update"}
            assert {k: v for k, v in item.items() if k not in changing} == {
                k: v for k, v in before[symbol].items() if k not in changing
            }
        else:
            assert item == before[symbol]


# -- hostile inputs ------------------------------------------------------------------------------


def test_oversized_and_hostile_records_are_rejected_one_by_one(env: Env) -> None:
    before = seeded(env, [asset_record("KEEP"), asset_record("LONGNAME"), asset_record("CTRL")])
    hostile: list[Any] = [
        asset_record("KEEP"),
        asset_record("LONGNAME", name="N" * 10_000),
        asset_record("CTRL", name="line\nbreak"),
        asset_record("NUL", name="nul\x00byte"),
        asset_record("ESC", name="\x1b[31mred"),
        asset_record("C1", name="next\x85line"),
        asset_record("DEL", name="del\x7f"),
        asset_record("S" * 1000),
        asset_record("TAB\tSYM"),
        asset_record("ÄPPL"),
        asset_record("SP ACE"),
        asset_record("__RESERVED"),
        asset_record(""),
        asset_record("BIGNUM", margin_requirement_long="1e400"),
        asset_record("DIGITS", margin_requirement_short="1" * 60),
        asset_record("MANYATTR", attributes=[f"a{i}" for i in range(1000)]),
        asset_record("LONGATTR", attributes=["x" * 10_000]),
        asset_record("LONGEXCH", exchange="E" * 1000),
        asset_record("LONGID", id="i" * 1000),
        asset_record("NEWOK"),
        12,
        "string",
        None,
        [],
        {},
    ]
    env.stand_in.script(Fault.body(dumps_catalog(hostile)))

    report = build_run(env.settings).run()

    assert report.created == 1 and report.fetched == len(hostile)
    assert report.invalid == len(hostile) - 2
    reasons = {r.symbol: r.reason for r in report.invalid_records}
    assert "10000 characters" in reasons["LONGNAME"]
    assert "contains the control character" in reasons["CTRL"]
    assert all(len(r.reason) < 300 for r in report.invalid_records)  # the value is not echoed
    assert len(json.dumps(report.to_json(), default=str)) < 20_000
    after = env.snapshot()
    assert set(after) == {*before, "NEWOK"}
    for symbol in before:
        assert after[symbol] == before[symbol], symbol  # invalid: left as it was


def test_moderately_nested_json_in_an_unknown_field_is_ignored(env: Env) -> None:
    body = dumps_catalog([asset_record("NESTED")])
    nested = b"[" * 500 + b"]" * 500
    env.stand_in.script(Fault.body(body[:-2] + b',"extra":{"a":' + nested + b"}}]"))

    report = build_run(env.settings).run()

    assert report.created == 1
    assert deserialize_item(env.raw_item("NESTED") or {})["name"] == "NESTED Inc."


def test_deeply_nested_json_fails_the_cli_with_one_clear_line(env: Env) -> None:
    before = seeded(env)
    body = dumps_catalog([asset_record("DEEP")])
    env.stand_in.script(Fault.body(body[:-2] + b',"extra":' + b"[" * 5000 + b"]" * 5000 + b"}]"))

    result = run_fast_cli("sync", env=env.cli_env())

    assert env.snapshot() == before
    assert_no_canary(result.stdout, result.stderr)
    assert result.code == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("asset-sync:")


def rss_of_cli(cli_env: dict[str, str]) -> tuple[CliResult, int]:
    """Run the CLI sync under tests.support.measure_rss; the result and its peak RSS (KiB)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.measure_rss", *cli_command("sync", "--json")],
        env=child_env(cli_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    result = finish(process)
    match = re.search(r"MAXRSS_KB=(\d+)", result.stderr)
    assert match, result.stderr
    return result, int(match.group(1))


def test_a_50_mb_body_is_rejected_within_bounded_memory(env: Env) -> None:
    before = seeded(env)
    env.stand_in.script(Fault.body(b"[" + b" " * (FIFTY_MB - 2) + b"]"))

    result, peak_kb = rss_of_cli(env.cli_env())

    assert result.code == 1
    assert "body of 52,428,800 bytes exceeds the 33,554,432-byte limit" in result.stderr
    assert peak_kb < RSS_LIMIT_KB, f"peak RSS {peak_kb / 1024:.0f} MB"
    print(f"peak RSS {peak_kb / 1024:.0f} MB")
    assert env.snapshot() == before


def test_an_endless_body_without_a_length_is_cut_off_within_bounded_memory(env: Env) -> None:
    before = seeded(env)
    with RawHttpServer([], chunked_body(FIFTY_MB)) as server:
        cli_env = {**env.cli_env(), "APCA_API_BASE_URL": server.base_url}

        result, peak_kb = rss_of_cli(cli_env)

    assert result.code == 1
    assert "exceeds the 33,554,432-byte limit; stopped reading" in result.stderr
    assert peak_kb < RSS_LIMIT_KB, f"peak RSS {peak_kb / 1024:.0f} MB"
    print(f"peak RSS {peak_kb / 1024:.0f} MB")
    assert env.snapshot() == before


def test_a_body_just_under_the_limit_is_parsed_within_bounded_memory(env: Env) -> None:
    before = seeded(env)
    env.stand_in.script(Fault.body(b"[" + b" " * (30 * 1024 * 1024) + b"]"))

    result, peak_kb = rss_of_cli(env.cli_env())

    assert result.code == 3  # a valid, empty catalog: the guard refuses it
    assert "no valid assets" in result.stdout
    assert peak_kb < RSS_LIMIT_KB, f"peak RSS {peak_kb / 1024:.0f} MB"
    print(f"peak RSS {peak_kb / 1024:.0f} MB")
    assert env.snapshot() == before


def test_wrong_secret_in_settings_never_reaches_the_report(env: Env) -> None:
    settings = env.settings.with_overrides(
        credentials=AlpacaCredentials(CREDENTIALS.key_id, CANARY_SECRET + "-other")
    )
    with pytest.raises(Exception) as raised:
        build_run(settings).run()
    assert_no_canary(str(raised.value), repr(raised.value))
    state = env.state.read()
    assert_no_canary(json.dumps(state.to_json(), default=str))

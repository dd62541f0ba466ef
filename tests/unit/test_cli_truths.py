"""The pure parts of the command line's truthfulness: the one outcome mapping, redaction, the
table-schema diagnosis (generic over the required indexes), and the lease keeper's reading of a
cleared lease."""

from __future__ import annotations

from typing import Any

import click
import pytest

from asset_sync.alpaca.client import AlpacaAuthError, redact
from asset_sync.cli.outcomes import CommandFailed, Stopped, outcome_of
from asset_sync.config import AlpacaCredentials, ConfigError
from asset_sync.dal.errors import StateTableConflictError, TableSchemaError
from asset_sync.dal.run_state import FORCED_UNLOCK, StateView, lease_lost_message
from asset_sync.dal.schema import IndexSpec, TableSpec, schema_fix, schema_problems
from asset_sync.logic.report import RunReport
from asset_sync.logic.sync import GuardRefusedError, RunInterruptedError, SyncError

SECRET = "kS3cr3tKeyValue0123456789abcdefABCDEF99"

# -- the outcome mapping ---------------------------------------------------------------------


def report(outcome: str) -> RunReport:
    return RunReport(run_id="r", last_sync_timestamp="t", outcome=outcome, message=outcome)


@pytest.mark.parametrize(
    ("error", "code", "outcome"),
    [
        (click.UsageError("No such option: --x"), 2, "failed"),
        (Stopped("SIGINT"), 130, "interrupted"),
        (Stopped("SIGTERM"), 143, "interrupted"),
        (ConfigError("bad"), 2, "failed"),
        (TableSchemaError("no index"), 2, "failed"),
        (StateTableConflictError("another table's"), 2, "failed"),
        (CommandFailed("no item"), 1, "failed"),
        (CommandFailed("refused", cause=StateTableConflictError("x")), 2, "failed"),
        (CommandFailed("demo stopped", cause=Stopped("SIGTERM")), 143, "interrupted"),
        (RuntimeError("a bug"), 1, "failed"),
    ],
)
def test_each_failure_has_one_code_one_line_and_one_object(
    error: BaseException, code: int, outcome: str
) -> None:
    ended = outcome_of(error)

    assert ended.exit_code == code
    assert "\n" not in ended.message and ended.message
    assert ended.json["exit_code"] == code and ended.json["outcome"] == outcome
    assert ended.json["message"] == ended.message


def test_a_run_that_ended_badly_is_its_report_with_the_exit_code() -> None:
    refused = GuardRefusedError("guard refused", report("refused"))
    stopped = RunInterruptedError("stopped", report("interrupted"), FORCED_UNLOCK)

    assert outcome_of(refused).json["outcome"] == "refused"
    assert outcome_of(refused).exit_code == 3
    assert outcome_of(stopped).exit_code == 1  # stopped, but not by a signal
    wrapped = SyncError("failed", report("failed"))
    wrapped.__cause__ = AlpacaAuthError("rejected")
    assert outcome_of(wrapped).exit_code == 2


def test_what_a_command_found_is_kept_in_its_object() -> None:
    found = {"ok": False, "checks": [{"name": "Alpaca"}]}

    ended = outcome_of(CommandFailed("doctor: 1 of 5 checks failed (Alpaca)", found))

    assert ended.json["checks"] == found["checks"] and ended.json["ok"] is False


# -- redaction -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        (f"key {SECRET} rejected", "key *** rejected"),
        (f"'{SECRET}', {SECRET}.", "'***', ***."),
        (f"APCA-API-SECRET-KEY:{SECRET}", "APCA-API-SECRET-KEY:***"),
        (f"x{SECRET}", f"x{SECRET}"),  # inside a longer token: not the secret as a value
        ("host established", "host established"),
    ],
)
def test_the_secret_is_replaced_whole_where_it_is_a_token(text: str, redacted: str) -> None:
    assert redact(text, SECRET) == redacted


def test_redaction_shows_neither_length_nor_letters() -> None:
    short, long = "abcdefgh", "abcdefgh" * 5
    assert redact(f"a {short} b", short) == redact(f"a {long} b", long) == "a *** b"
    assert redact("establishing", "establis") == "establishing"


@pytest.mark.parametrize("secret", ["q7", "1234567"])
def test_a_secret_under_8_characters_is_refused_without_showing_it(secret: str) -> None:
    with pytest.raises(ConfigError) as refused:
        AlpacaCredentials("AKKEY", secret)
    assert secret not in str(refused.value) and str(len(secret)) not in str(refused.value)
    assert AlpacaCredentials("AKKEY", "12345678").secret_key == "12345678"


# -- table schema ----------------------------------------------------------------------------

TWO_INDEXES = TableSpec(
    "assets",
    "--table / ASSETS_TABLE",
    "symbol",
    (IndexSpec("status-index", "status"), IndexSpec("asset-id-index", "asset_id", "KEYS_ONLY")),
)


def described(key: str = "symbol", *indexes: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": name,
                "KeySchema": [{"AttributeName": on, "KeyType": "HASH"}],
                "Projection": {"ProjectionType": projection},
            }
            for name, on, projection in indexes
        ],
    }


def test_whichever_required_index_is_missing_is_named_with_its_fix() -> None:
    table = described("symbol", ("status-index", "status", "ALL"))

    assert schema_problems(table, TWO_INDEXES) == [
        "has no index 'asset-id-index' (partition key 'asset_id')"
    ]
    fix = schema_fix("t", table, TWO_INDEXES)
    assert '"IndexName":"asset-id-index"' in fix and "AttributeName=asset_id" in fix
    assert "status-index" not in fix


def test_an_index_projecting_less_than_all_is_a_problem_only_where_all_is_needed() -> None:
    table = described(
        "symbol", ("status-index", "status", "KEYS_ONLY"), ("asset-id-index", "asset_id", "ALL")
    )

    assert schema_problems(table, TWO_INDEXES) == [
        "has the index 'status-index' projecting KEYS_ONLY, not ALL"
    ]
    assert '"Delete":{"IndexName":"status-index"}' in schema_fix("t", table, TWO_INDEXES)


def test_another_key_is_named_and_the_fix_points_elsewhere() -> None:
    table = described("id")

    assert schema_problems(table, TWO_INDEXES)[0] == "has the key 'id' (S), not 'symbol' (S)"
    assert "point --table / ASSETS_TABLE at one" in schema_fix("t", table, TWO_INDEXES)


# -- a cleared lease -------------------------------------------------------------------------


def test_a_lease_cleared_under_a_run_is_told_from_one_taken_over() -> None:
    assert lease_lost_message(StateView(run_seq=7), 7) == FORCED_UNLOCK
    after = lease_lost_message(StateView(run_seq=9), 7)
    assert "cleared and a newer run (number 9) has run since" in after
    taken = lease_lost_message(StateView(run_seq=9, lock_owner="r9", lock_run_seq=9), 7)
    assert taken.startswith("a newer run (number 9) took the run lease over")


# -- a refused plan's candidates ---------------------------------------------------------------


def test_the_reports_candidates_are_listed_bounded_next_to_their_count() -> None:
    refused = report("refused")
    refused.delist_candidates, refused.active_in_scope = 150, 160
    refused.delist_candidate_symbols = [f"S{i:03d}" for i in range(150)]

    shown = refused.to_json()

    assert shown["delist_candidates"] == 150 and shown["active_in_scope"] == 160
    assert shown["delist_candidate_symbols"] == [f"S{i:03d}" for i in range(100)]
    assert "delist_candidate_symbols" not in refused.summary()  # the run record stays small

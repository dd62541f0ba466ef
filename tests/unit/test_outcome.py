"""How a run that does not complete ends (logic/outcome.py): its error and its message."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from asset_sync.contract import Outcome
from asset_sync.dal.errors import EndpointNotDynamoDBError, TableMissingError, as_store_error
from asset_sync.logic.catalog import CatalogAuthError
from asset_sync.logic.confirmation import Confirmation
from asset_sync.logic.outcome import (
    GuardRefusedError,
    RunInterruptedError,
    SyncError,
    failure_message,
    inconsistency,
)
from asset_sync.logic.report import RunReport
from asset_sync.logic.validation import CatalogFormatError


def report() -> RunReport:
    return RunReport(run_id="r", last_sync_timestamp="2026-11-02T04:00:00.000000Z")


def test_an_ending_sets_the_reports_outcome_and_message() -> None:
    ended = report()
    error = GuardRefusedError.ending(ended, Outcome.REFUSED, "too many delistings")
    assert type(error) is GuardRefusedError and error.report is ended
    assert (ended.outcome, ended.message, str(error)) == (
        Outcome.REFUSED,
        "too many delistings",
        "too many delistings",
    )
    stopped = RunInterruptedError("stopped", ended)
    assert stopped.reason == "" and stopped.report is ended
    assert RunInterruptedError("stopped", ended, "SIGINT").reason == "SIGINT"
    assert SyncError("m", ended).report is ended


not_dynamodb = EndpointNotDynamoDBError(
    "http://127.0.0.1:9", {"ResponseMetadata": {"HTTPStatusCode": 404}}, "Query"
)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            CatalogAuthError("HTTP 401"),
            "fetching from Alpaca failed, nothing was written: HTTP 401",
        ),
        (
            CatalogFormatError("not a JSON array"),
            "fetching from Alpaca failed, nothing was written: not a JSON array",
        ),
        (TableMissingError("table 't' does not exist"), "table 't' does not exist"),
        (as_store_error(not_dynamodb), str(not_dynamodb)),
        (
            as_store_error(ClientError({"Error": {"Code": "Throttling", "Message": "x"}}, "Get")),
            "ClientError: An error occurred (Throttling) when calling the Get operation: x",
        ),
        (KeyError("k"), "KeyError: 'k'"),
    ],
)
def test_the_run_records_why_it_failed_in_an_operators_words(
    error: BaseException, message: str
) -> None:
    assert failure_message(error) == message


def test_an_inconsistent_list_names_what_was_kept_and_what_was_delisted() -> None:
    confirmation = Confirmation(
        confirmed=["C1", "C2"], kept_active=[f"K{i:02d}" for i in range(25)], unconfirmed=["U"]
    )
    shown = ", ".join(f"K{i:02d}" for i in range(20))
    assert inconsistency(confirmation) == (
        f"Alpaca still reports 25 assets active that its list omitted ({shown}); they were not "
        "delisted; 1 delisting candidates could not be confirmed and were left as they are; "
        "delisted only the 2 confirmed one by one"
    )
    assert inconsistency(Confirmation(confirmed=["C"], unconfirmed=["U1", "U2"])) == (
        "2 delisting candidates could not be confirmed and were left as they are; delisted only "
        "the 1 confirmed one by one"
    )


def test_only_a_store_error_speaks_with_its_setup_cause() -> None:
    # A bug hit while handling a setup problem is still a bug: named by its own type.
    error = KeyError("k")
    error.__cause__ = TableMissingError("table 't' does not exist")
    assert failure_message(error) == "KeyError: 'k'"

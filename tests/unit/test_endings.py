"""The one mapping (asset_sync/endings.py): how a run ended -> outcome, message, exit code,
metric and log line, as the CLI and both Lambda handlers use it."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from asset_sync import endings
from asset_sync.config import ConfigError
from asset_sync.contract import Metric, Outcome
from asset_sync.dal.errors import TableMissingError, as_store_error
from asset_sync.events import handler as events_handler
from asset_sync.logic.catalog import CatalogAuthError, CatalogError
from asset_sync.logic.lease import LeaseHeldError
from asset_sync.logic.outcome import (
    GuardRefusedError,
    RunInterruptedError,
    RunSkippedError,
    ScopeError,
    SyncError,
)
from asset_sync.logic.report import RunReport


def ended(outcome: Outcome, message: str = "why") -> RunReport:
    report = RunReport(run_id="r", last_sync_timestamp="2026-12-01T04:00:00.000000Z")
    report.outcome, report.message = outcome, message
    return report


def failed_run(cause: BaseException) -> SyncError:
    error = SyncError("failed", ended(Outcome.FAILED, "the run's own words"))
    error.__cause__ = cause  # raise ... from cause
    return error


@pytest.mark.parametrize(
    ("error", "outcome", "code", "metric", "log"),
    [
        (
            RunSkippedError("held", ended(Outcome.SKIPPED)),
            Outcome.SKIPPED,
            4,
            Metric.SYNC_SKIPPED,
            endings.SKIPPED,
        ),
        (
            GuardRefusedError("refused", ended(Outcome.REFUSED)),
            Outcome.REFUSED,
            3,
            Metric.SYNC_REFUSED,
            endings.NOT_COMPLETED,
        ),
        (
            RunInterruptedError("stop", ended(Outcome.INTERRUPTED), "SIGTERM"),
            Outcome.INTERRUPTED,
            143,
            Metric.SYNC_INTERRUPTED,
            endings.INTERRUPTED,
        ),
        (
            RunInterruptedError("stop", ended(Outcome.INTERRUPTED), "the deadline was near"),
            Outcome.INTERRUPTED,
            1,
            Metric.SYNC_INTERRUPTED,
            endings.INTERRUPTED,
        ),
        (
            SyncError("partial", ended(Outcome.PARTIAL)),
            Outcome.PARTIAL,
            1,
            Metric.SYNC_PARTIAL,
            endings.NOT_COMPLETED,
        ),
        (
            ScopeError("scope", ended(Outcome.FAILED)),
            Outcome.FAILED,
            2,
            Metric.SYNC_FAILED,
            endings.NOT_COMPLETED,
        ),
        (ConfigError("bad"), Outcome.FAILED, 2, Metric.SYNC_FAILED, endings.FAILED),
        (LeaseHeldError("held"), Outcome.SKIPPED, 4, Metric.SYNC_SKIPPED, endings.FAILED),
        (RuntimeError("bug"), Outcome.FAILED, 1, Metric.SYNC_FAILED, endings.FAILED),
    ],
)
def test_each_ending_has_one_outcome_code_metric_and_log_line(
    error: BaseException, outcome: Outcome, code: int, metric: str, log: str
) -> None:
    ending = endings.ending_of(error)
    assert (ending.outcome, ending.exit_code, ending.metric, ending.log) == (
        outcome,
        code,
        metric,
        log,
    )
    assert not ending.succeeded


@pytest.mark.parametrize(
    ("cause", "code", "message"),
    [
        (ConfigError("no keys"), 2, "configuration error: no keys"),
        (CatalogAuthError("401"), 2, "fetching the catalog failed, nothing was written: 401"),
        (CatalogError("500"), 1, "fetching the catalog failed, nothing was written: 500"),
        (TableMissingError("table 't' does not exist"), 2, "table 't' does not exist"),
        (
            as_store_error(EndpointConnectionError(endpoint_url="http://x")),
            2,
            'cannot reach DynamoDB (Could not connect to the endpoint URL: "http://x"); check '
            "the region and the endpoint URL",
        ),
        (
            as_store_error(ClientError({"Error": {"Code": "Throttling"}}, "Query")),
            1,
            "the run's own words",
        ),
    ],
)
def test_a_failed_run_is_judged_by_its_cause_behind_the_store(
    cause: BaseException, code: int, message: str
) -> None:
    ending = endings.ending_of(failed_run(cause))
    assert (ending.exit_code, ending.message) == (code, message)


def test_a_store_error_outside_a_run_says_what_dynamodb_said() -> None:
    error = as_store_error(ClientError({"Error": {"Code": "Throttling", "Message": "x"}}, "Query"))
    assert endings.ending_of(error).message == (
        "DynamoDB error: An error occurred (Throttling) when calling the Query operation: x"
    )
    assert endings.exit_code(error) == 1


def test_completed_runs_and_fresh_catch_ups_succeed() -> None:
    done = endings.completed(ended(Outcome.SUCCEEDED, ""))
    assert (done.outcome, done.exit_code, done.metric, done.log) == (
        Outcome.SUCCEEDED,
        0,
        Metric.SYNC_SUCCEEDED,
        endings.FINISHED,
    )
    fresh = endings.fresh("nothing to do")
    assert (fresh.outcome, fresh.metric, fresh.log) == (
        Outcome.FRESH,
        Metric.SYNC_FRESH,
        endings.FRESH,
    )
    assert done.succeeded and fresh.succeeded


def test_a_command_is_judged_by_its_exit_code() -> None:
    assert endings.by_exit_code("m", 4).outcome == Outcome.SKIPPED
    assert endings.by_exit_code("m", 130).outcome == Outcome.INTERRUPTED
    assert endings.by_exit_code("m", 2).outcome == Outcome.FAILED


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_the_events_consumer_without_its_bus_logs_one_configuration_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines: list[str] = []
    monkeypatch.setattr(events_handler.logger, "exception", lines.append)
    monkeypatch.delenv("EVENT_BUS_NAME", raising=False)
    events_handler.consumer.cache_clear()

    class Context:
        function_name = "f"
        memory_limit_in_mb = 128
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
        aws_request_id = "r"

        def get_remaining_time_in_millis(self) -> int:
            return 60_000

    context: Any = Context()
    with pytest.raises(ConfigError):
        events_handler.lambda_handler({"Records": []}, context)
    assert lines == ["configuration error: EVENT_BUS_NAME (the event bus to publish to) is not set"]
    events_handler.consumer.cache_clear()

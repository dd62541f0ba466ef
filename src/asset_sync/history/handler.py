"""Lambda entry point on the assets table's stream: the history writer (docs/history.md).

The table's second stream reader, beside the change events' consumer and independent of it:
an EventBridge outage leaves no gap here. Each invocation writes the versions of its batch until
its remaining time (less a margin) runs out, quarantines what can never become a version, and
names the first record it did not finish (`ReportBatchItemFailures`): Lambda retries from
there (`asset_sync.history.writer`).

Configuration: `HISTORY_TABLE` (required), the region from Lambda's environment, Powertools'
service and namespace.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from asset_sync.contract import HISTORY_SERVICE, METRICS_NAMESPACE, Env, Metric
from asset_sync.dal.history import HistoryTable
from asset_sync.events.clock import Clock, Deadline, SystemClock
from asset_sync.history.writer import CONNECT_TIMEOUT, READ_TIMEOUT, Writer, process

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SERVICE = os.environ.get(Env.POWERTOOLS_SERVICE_NAME, HISTORY_SERVICE)
END_MARGIN_SECONDS = 2.0  # kept for the last log line, the metrics and the response
logger = Logger(  # ensure_ascii: symbols in log lines reach the log escaped, never raw
    service=SERVICE, json_serializer=functools.partial(json.dumps, ensure_ascii=True, default=str)
)
metrics = Metrics(
    namespace=os.environ.get(Env.POWERTOOLS_METRICS_NAMESPACE, METRICS_NAMESPACE), service=SERVICE
)


def _route_library_logs() -> None:
    """The writer's stdlib logs as this logger's JSON lines (only `asset_sync.history.*`)."""
    library = logging.getLogger("asset_sync.history")
    library.handlers = list(logger.handlers)
    library.setLevel(logger.log_level)
    library.propagate = False


_route_library_logs()


def writer_client(endpoint_url: str | None = None) -> DynamoDBClient:
    """A DynamoDB client that makes one attempt per call: the writer owns every retry, so the
    invocation's deadline is the only budget (AWS_ENDPOINT_URL_DYNAMODB is honoured)."""
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
    )
    client: DynamoDBClient = boto3.session.Session().client(
        "dynamodb", endpoint_url=endpoint_url, config=config
    )
    return client


def build_writer(environ: Mapping[str, str], clock: Clock) -> Writer:
    """The writer the environment describes, on `clock`."""
    table = environ.get(Env.HISTORY_TABLE)
    if not table:
        raise RuntimeError(f"{Env.HISTORY_TABLE} (the history table to write) is not set")
    return Writer(HistoryTable(writer_client(), table), clock)


@lru_cache(maxsize=1)
def writer() -> Writer:
    """The writer of this container (one client), on the real clock."""
    return build_writer(os.environ, SystemClock())


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Write the versions of a batch of stream records; report where to retry from."""
    records: list[Mapping[str, Any]] = list(event.get("Records") or [])
    current = writer()
    remaining = context.get_remaining_time_in_millis() / 1000
    deadline = Deadline.after(current.clock, remaining - END_MARGIN_SECONDS)
    outcome = process(records, current, deadline)
    for name, value in (
        (Metric.HISTORY_VERSIONS_WRITTEN, outcome.written),
        (Metric.HISTORY_RECORDS_FAILED, outcome.failed),
        (Metric.HISTORY_RECORDS_QUARANTINED, outcome.quarantined),
        (Metric.HISTORY_RECORDS_IGNORED, outcome.ignored),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    response = outcome.response(records)
    logger.info(
        "history batch done",
        extra={
            "records": outcome.records,
            "versions": outcome.versions,
            "written": outcome.written,
            "failed": outcome.failed,
            "quarantined": outcome.quarantined,
            "ignored": outcome.ignored,
            "retry_from": response["batchItemFailures"],
        },
    )
    return response

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

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from asset_sync.config import ConfigError
from asset_sync.contract import HISTORY_SERVICE, Env
from asset_sync.dal.history import HistoryTable
from asset_sync.events.clock import Clock, SystemClock
from asset_sync.events.stream_lambda import configured, deadline_of, finish_batch, powertools
from asset_sync.history.writer import CONNECT_TIMEOUT, READ_TIMEOUT, Writer, process

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SERVICE, logger, metrics = powertools(HISTORY_SERVICE, "asset_sync.history")


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
        raise ConfigError(f"{Env.HISTORY_TABLE} (the history table to write) is not set")
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
    current = configured(writer, logger)
    outcome = process(records, current, deadline_of(current.clock, context))
    return finish_batch(logger, metrics, "history batch done", outcome, records)

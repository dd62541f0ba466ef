"""Lambda entry point (thin): configuration, the Alpaca keys, then `SyncRun`; its ending logged
and published as `asset_sync.endings` maps it.

Duplicate deliveries of the same scheduled event (EventBridge and Lambda async invocation are
at-least-once) cannot run two syncs at once: the run lease in the state table is taken with a
conditional write. A duplicate that finds the lease held returns `skipped`; one that arrives
after the first run finished runs an idempotent sync that writes only the lease and the record.

The invocation's deadline (`context.get_remaining_time_in_millis()`) is the run's: it stops
writing 30 s before it, records `interrupted` and raises, so Lambda's retry runs what is left;
its lease never outlives the deadline by more than a few seconds. An event with `"full": true`
runs a full reconciliation (as does any run once the last one is FULL_RECONCILE_DAYS old).
An event with `"catch_up": {"window_seconds": N}` (the stage's later attempts of the day) first
reads the state item and, when a sync succeeded within that window, returns `fresh` having
written nothing (logic/freshness.py).
"""

from __future__ import annotations

import functools
import json
import os
import time
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from asset_sync import endings
from asset_sync.config import (
    AlpacaCredentials,
    ConfigError,
    SyncSettings,
    credentials_from_secret,
    settings_from_env,
)
from asset_sync.contract import (
    ASSET_CHANGE_METRICS,
    METRICS_NAMESPACE,
    SYNC_SERVICE,
    Env,
    Metric,
    Outcome,
)
from asset_sync.logic.freshness import CatchUp, CatchUpEventError, judge, scheduled_time
from asset_sync.logic.lifecycle import StopSignal
from asset_sync.logic.outcome import SyncError
from asset_sync.logic.report import RunReport
from asset_sync.wiring import build_run, tables

SERVICE = os.environ.get(Env.POWERTOOLS_SERVICE_NAME, SYNC_SERVICE)
# ensure_ascii: every non-ASCII character of catalog text (C1 controls, bidi overrides) reaches
# the log escaped, never raw (Powertools' default serializer keeps them as they are).
logger = Logger(
    service=SERVICE, json_serializer=functools.partial(json.dumps, ensure_ascii=True, default=str)
)
metrics = Metrics(
    namespace=os.environ.get(Env.POWERTOOLS_METRICS_NAMESPACE, METRICS_NAMESPACE), service=SERVICE
)
SECRET_MAX_AGE_SECONDS = 300
FRESH_MESSAGE = endings.FRESH  # imported from here before asset_sync.endings


@lru_cache(maxsize=1)
def base_settings() -> SyncSettings:
    """Settings from the function's environment, validated once per container."""
    settings = settings_from_env()
    if not os.environ.get(Env.ALPACA_SECRET_ID) and settings.credentials is None:
        raise ConfigError(
            f"{Env.ALPACA_SECRET_ID} (the Secrets Manager secret with the keys) is not set"
        )
    return settings


def alpaca_credentials(settings: SyncSettings) -> AlpacaCredentials:
    """The Alpaca keys from Secrets Manager (cached by Powertools for five minutes)."""
    secret_id = os.environ.get(Env.ALPACA_SECRET_ID)
    if not secret_id:
        assert settings.credentials is not None
        return settings.credentials
    try:
        value = parameters.get_secret(secret_id, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
    except parameters.exceptions.TransformParameterError:
        raise ConfigError(f"secret {secret_id} is not a JSON object") from None
    except parameters.exceptions.GetParameterError as error:
        cause = error.__context__
        if isinstance(cause, ClientError) and (
            cause.response.get("Error", {}).get("Code") == "ResourceNotFoundException"
        ):
            # The stack creates the secret without a value: nothing to read until an operator
            # puts the keys (docs/deploy.md).
            raise ConfigError(
                f"secret {secret_id} holds no value yet (or does not exist); put the keys "
                "with `aws secretsmanager put-secret-value` (see docs/deploy.md)"
            ) from None
        raise
    return credentials_from_secret(secret_id, value)


def catch_up_check(
    settings: SyncSettings, catch_up: CatchUp, event: dict[str, Any]
) -> dict[str, Any] | None:
    """For a catch-up: the `fresh` result when a sync succeeded within its window (one read of
    the state item, no lease, no write), else None and the catch-up syncs."""
    _, state = tables(settings)
    view = state.read()
    state.check_serves(view, settings.assets_table)
    now = time.time()
    verdict = judge(
        catch_up,
        scheduled_at=scheduled_time(event, now),
        now=now,
        last_success_at=view.last_sync_timestamp,
    )
    details = {
        "window_start": verdict.window_start,
        "last_success_at": verdict.last_success_at,
        "last_success_run_seq": (view.last_success or {}).get("run_seq"),
        "reason": verdict.message,
    }
    if not verdict.fresh:
        logger.info("catch-up: syncing", extra={"catch_up": details})
        return None
    ending = endings.fresh(verdict.message)
    metrics.add_metric(name=ending.metric, unit=MetricUnit.Count, value=1)
    result = {
        "outcome": ending.outcome,
        "message": ending.message,
        **details,
        "dynamodb_requests": state.stats.requests,
        "dynamodb_write_requests": state.stats.writes,
        "changed_symbols": 0,
    }
    logger.info(ending.log, extra={"report": result})
    return result


def publish(report: RunReport, ending: endings.Ending) -> None:
    """Counts, duration and the run's outcome as EMF metrics."""
    changes = {name: getattr(report, count) for name, count in ASSET_CHANGE_METRICS.items()}
    for name, value in {
        Metric.ASSETS_FETCHED: report.fetched,
        Metric.ASSETS_INVALID: report.invalid + len(report.duplicates),
        **changes,
        Metric.ASSETS_UNCHANGED: report.unchanged,
        Metric.WRITES_FAILED: report.failed,
        Metric.DYNAMODB_WRITE_REQUESTS: report.dynamodb_write_requests,
        Metric.ALPACA_ATTEMPTS: report.alpaca_attempts,
        ending.metric: 1,
    }.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.add_metric(
        name=Metric.SYNC_DURATION, unit=MetricUnit.Seconds, value=report.duration_seconds
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run one sync; return its summary, or raise so Lambda's retries and DLQ take over."""
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    try:
        settings = base_settings()
        try:
            catch_up = CatchUp.from_event(event)
        except CatchUpEventError as malformed:
            raise ConfigError(str(malformed)) from None
        if catch_up is not None and (fresh := catch_up_check(settings, catch_up, event)):
            return fresh
        settings = settings.with_overrides(
            credentials=alpaca_credentials(settings),
            full=(isinstance(event, dict) and event.get("full") is True) or None,
        )
        logger.info(
            "sync starting",
            extra={"table": settings.assets_table, "event": event.get("id"), "full": settings.full},
        )
        report = build_run(settings, stop=StopSignal(deadline)).run()
    except SyncError as failed:
        ending = endings.ending_of(failed)
        publish(failed.report, ending)
        if ending.outcome == Outcome.SKIPPED:  # a duplicate delivery: the other one runs
            logger.warning(ending.log, extra={"reason": str(failed)})
            return {**failed.report.summary(), "changed_symbols": 0}
        for warning in failed.report.warnings:
            logger.warning(warning)
        logger.exception(  # exception_name: the cause (AlpacaAuthError, ...), not the wrapper
            ending.log,
            exc_info=failed.__cause__ or failed,
            extra={"report": failed.report.summary()},
        )
        raise
    except Exception as error:
        ending = endings.ending_of(error)
        metrics.add_metric(name=ending.metric, unit=MetricUnit.Count, value=1)
        logger.exception(ending.log)
        raise
    ending = endings.completed(report)
    publish(report, ending)
    for warning in report.warnings:
        logger.warning(warning)
    logger.info(ending.log, extra={"report": report.summary()})
    return {**report.summary(), "changed_symbols": len(report.changes)}

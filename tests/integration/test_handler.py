"""The Lambda handler in-process: a real-shaped scheduled event, moto's server (DynamoDB and
Secrets Manager) over HTTP, the Alpaca stand-in over HTTP, Powertools logs and EMF metrics."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from tests.support import CANARY_SECRET, Env
from tests.support.lambda_env import lambda_function_env
from tests.support.lambda_invocation import LambdaContext, scheduled_event

from asset_sync import handler
from asset_sync.local.catalog import Asset, generate_catalog

LOG_STREAM = io.StringIO()
SCHEDULED_EVENT = scheduled_event("53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa")


@pytest.fixture
def lambda_env(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """The function's environment as the stack sets it, the Alpaca keys in moto's Secrets
    Manager."""
    with lambda_function_env(env, monkeypatch, LOG_STREAM) as function_env:
        yield function_env


def equities(size: int, seed: int) -> list[Asset]:
    """A generated catalog's us_equity records: what a run with the default scope fetches."""
    return [a for a in generate_catalog(size, seed=seed) if a["class"] == "us_equity"]


def invoke(
    capsys: pytest.CaptureFixture[str],
    event: dict[str, Any] = SCHEDULED_EVENT,
    context: LambdaContext | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Call the handler; return its result and every JSON line it printed."""
    result = handler.lambda_handler(event, context or LambdaContext())  # type: ignore[arg-type]
    return result, printed_json(capsys)


def printed_json(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Metrics (printed to stdout) and log lines (the logger's stream), checked for the secret."""
    out = capsys.readouterr()
    logs = LOG_STREAM.getvalue()
    LOG_STREAM.seek(0)
    LOG_STREAM.truncate()
    assert CANARY_SECRET not in out.out + out.err + logs
    text = out.out + logs
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def emf_metrics(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Metric name -> value from the EMF documents among the printed lines."""
    values: dict[str, Any] = {}
    for line in lines:
        for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
            assert directive["Namespace"] == "Signal9/AssetSync"
            for metric in directive["Metrics"]:
                value = line[metric["Name"]]
                values[metric["Name"]] = sum(value) if isinstance(value, list) else value
    return values


def test_scheduled_event_runs_a_sync_with_logs_and_metrics(
    lambda_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = equities(130, seed=5)
    lambda_env.serve(catalog)

    result, lines = invoke(capsys)

    assert result["outcome"] == "succeeded"
    assert result["created"] == len(catalog)
    assert len(lambda_env.snapshot()) == len(catalog)
    metrics = emf_metrics(lines)
    assert metrics["AssetsFetched"] == len(catalog)
    assert metrics["AssetsCreated"] == len(catalog)
    assert metrics["SyncSucceeded"] == 1
    assert metrics["ColdStart"] == 1
    assert metrics["SyncDuration"] > 0
    logs = [line for line in lines if "message" in line]
    assert {line["message"] for line in logs} >= {"sync starting", "sync finished"}
    assert all(line["correlation_id"] == SCHEDULED_EVENT["id"] for line in logs)
    assert all(line["service"] == "asset-sync" for line in logs)

    again, lines = invoke(capsys)  # a duplicate delivery after the first finished
    assert again["outcome"] == "succeeded"
    assert again["unchanged"] == len(catalog) and again["created"] == 0
    assert "ColdStart" not in emf_metrics(lines)


def test_a_guard_refusal_raises_so_lambda_retries_and_alarms(
    lambda_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    lambda_env.serve(equities(50, seed=6))
    invoke(capsys)
    before = lambda_env.snapshot()
    lambda_env.serve([])

    with pytest.raises(Exception, match="guard refused"):
        handler.lambda_handler(SCHEDULED_EVENT, LambdaContext())  # type: ignore[arg-type]

    lines = printed_json(capsys)
    metrics = emf_metrics(lines)
    assert metrics["SyncRefused"] == 1
    assert "SyncSucceeded" not in metrics
    assert lambda_env.snapshot() == before


def test_a_held_lease_skips_the_duplicate(
    lambda_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    lambda_env.serve(equities(10, seed=7))
    lambda_env.state.acquire(
        "another-running-sync", lambda_env.settings.assets_table, int(time.time()) + 600
    )

    result, lines = invoke(capsys)

    assert result["outcome"] == "skipped"
    assert "another-running-sync" in result["message"]
    assert emf_metrics(lines)["SyncSkipped"] == 1
    assert lambda_env.snapshot() == {}


def test_a_secret_without_keys_is_a_clear_configuration_error(
    lambda_env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = lambda_env.settings.dynamodb_endpoint_url
    secrets = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1")
    arn = secrets.create_secret(
        Name=f"empty-{uuid.uuid4().hex[:8]}",
        SecretString=json.dumps({"APCA_API_KEY_ID": "", "APCA_API_SECRET_KEY": ""}),
    )["ARN"]
    monkeypatch.setenv("ALPACA_SECRET_ID", arn)

    with pytest.raises(handler.ConfigError, match="put-secret-value"):
        handler.lambda_handler(SCHEDULED_EVENT, LambdaContext())  # type: ignore[arg-type]
    printed_json(capsys)


def test_missing_configuration_fails_at_start_with_a_clear_error(
    lambda_env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_DELIST_FRACTION", "2")
    handler.base_settings.cache_clear()
    with pytest.raises(handler.ConfigError, match="between 0 and 1"):
        handler.lambda_handler(SCHEDULED_EVENT, LambdaContext())  # type: ignore[arg-type]
    printed_json(capsys)

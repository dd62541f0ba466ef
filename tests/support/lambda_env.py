"""The sync function's environment as the stack sets it, in this process, on moto."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from aws_lambda_powertools.metrics.provider import cold_start
from tests.support import Env, alpaca_secret

from asset_sync import handler


@contextmanager
def lambda_function_env(
    env: Env, monkeypatch: pytest.MonkeyPatch, log_stream: io.StringIO
) -> Iterator[Env]:
    """Alpaca keys in a Secrets Manager secret on moto (none in the environment), the tables and
    Alpaca's URL in the environment, a cold start, and the handler's log lines to `log_stream`
    (emptied first)."""
    endpoint = env.settings.dynamodb_endpoint_url or ""
    arn = alpaca_secret(endpoint)
    for name in ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "FULL_RECONCILE_DAYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALPACA_SECRET_ID", arn)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
    monkeypatch.setenv("ASSETS_TABLE", env.settings.assets_table)
    monkeypatch.setenv("SYNC_STATE_TABLE", env.settings.state_table)
    monkeypatch.setenv("APCA_API_BASE_URL", env.stand_in.base_url)
    handler.base_settings.cache_clear()
    cold_start.is_cold_start = True
    log_handler = handler.logger.registered_handler
    original = log_handler.setStream(log_stream)  # type: ignore[attr-defined]
    log_stream.seek(0)
    log_stream.truncate()
    try:
        yield env
    finally:
        log_handler.setStream(original)  # type: ignore[attr-defined]
        handler.base_settings.cache_clear()

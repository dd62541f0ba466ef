"""Builds a sync run's collaborators from settings: the one place the edges are chosen."""

from __future__ import annotations

from asset_sync.alpaca.client import AlpacaClient, ClientOptions
from asset_sync.config import ConfigError, SyncSettings
from asset_sync.dal.assets import AssetTable
from asset_sync.dal.client import dynamodb_client
from asset_sync.dal.run_state import RunStateTable
from asset_sync.dal.stats import IoStats
from asset_sync.logic.lifecycle import StopSignal
from asset_sync.logic.sync import Progress, SyncRun


def tables(settings: SyncSettings) -> tuple[AssetTable, RunStateTable]:
    """The assets and run-state tables, each with its own client, one request counter.

    Separate clients give the state writes (lease, run record) their own boto3 retry quota: a
    burst of throttled or dropped item writes cannot leave the final record without retries.
    """
    stats = IoStats()
    assets_client = dynamodb_client(
        settings.region,
        settings.dynamodb_endpoint_url,
        max_pool_connections=max(10, settings.write_concurrency * 2),
    )
    state_client = dynamodb_client(
        settings.region, settings.dynamodb_endpoint_url, max_pool_connections=2
    )
    stats.attach(assets_client)
    stats.attach(state_client)
    return (
        AssetTable(assets_client, settings.assets_table, stats),
        RunStateTable(state_client, settings.state_table, stats),
    )


def alpaca_client(settings: SyncSettings) -> AlpacaClient:
    """The Alpaca client; a clear error when no credentials are configured."""
    if settings.credentials is None:
        raise ConfigError(
            "Alpaca credentials are missing: set APCA_API_KEY_ID and APCA_API_SECRET_KEY"
        )
    return AlpacaClient(
        settings.alpaca_base_url,
        settings.credentials,
        ClientOptions(max_body_bytes=settings.max_body_bytes),
    )


def build_run(
    settings: SyncSettings, progress: Progress | None = None, stop: StopSignal | None = None
) -> SyncRun:
    """A ready-to-run sync for these settings."""
    assets, state = tables(settings)
    return SyncRun(settings, alpaca_client(settings), assets, state, progress, stop)

"""Shared fixtures: moto's server (child process, real HTTP), the Alpaca stand-in, fresh tables."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support import CREDENTIALS, Env, fresh_env

from asset_sync.local.moto_server import MotoServer
from asset_sync.local.stand_in import AlpacaStandIn


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """One moto server per test session (per xdist worker)."""
    with MotoServer() as server:
        yield server.url


@pytest.fixture
def stand_in() -> Iterator[AlpacaStandIn]:
    """An empty Alpaca stand-in with the test credentials."""
    with AlpacaStandIn([], key_id=CREDENTIALS.key_id, secret_key=CREDENTIALS.secret_key) as server:
        yield server


@pytest.fixture
def env(moto_url: str, stand_in: AlpacaStandIn) -> Env:
    """Fresh, uniquely named tables on the session's moto server."""
    return fresh_env(moto_url, stand_in)

"""Test support shared by every suite: credentials with a canary secret, table helpers, the CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from asset_sync.config import AlpacaCredentials, SyncSettings
from asset_sync.dal.assets import AssetTable
from asset_sync.dal.run_state import RunStateTable
from asset_sync.dal.serialization import deserialize_item
from asset_sync.local.moto_server import LOCAL_CREDENTIALS
from asset_sync.local.stand_in import AlpacaStandIn
from asset_sync.wiring import tables

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "alpaca"
# A canary: if this string shows up in any output, a secret leaked.
CANARY_SECRET = "canary-SECRET-7f3a9c1e-do-not-log"
CREDENTIALS = AlpacaCredentials("AKTESTKEY0001", CANARY_SECRET)

os.environ.update(LOCAL_CREDENTIALS)
_CLASS_NAME = re.compile(r"[a-z][a-z_]{0,30}")
# The stand-in has no rate limit; Alpaca's (the 2/s default) is covered by its own test.
LOOKUPS_PER_SECOND = 50.0


def shared_file(name: str) -> Path:
    """A file of ../shared/data/alpaca, or skip the test with the reason."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"shared test data not present: {path}")
    return path


@dataclass
class Env:
    """A fresh pair of tables on moto plus the stand-in, and helpers to inspect them."""

    settings: SyncSettings
    assets: AssetTable
    state: RunStateTable
    stand_in: AlpacaStandIn

    def serve(self, assets: Sequence[Any]) -> None:
        """Serve `assets` on the stand-in, and have runs ask for every class served so far.

        Alpaca (and the stand-in) return only `us_equity` unless a class is asked for, and a
        run's scope is what it asked for: a test with other classes must ask for them.
        """
        self.stand_in.set_assets(assets)
        served = sorted(
            {
                a["class"]
                for a in assets
                if isinstance(a, dict)
                and isinstance(a.get("class"), str)
                and _CLASS_NAME.fullmatch(a["class"])
            }
        )
        classes = tuple(dict.fromkeys([*self.settings.asset_classes, *served]))
        self.settings = replace(self.settings, asset_classes=classes)

    def hold_lease(self, run_id: str = "another-run", seconds: int = 600) -> None:
        """Take the run lease as another, still running sync would."""
        self.state.acquire(run_id, self.settings.assets_table, int(time.time()) + seconds)

    def item(self, symbol: str) -> dict[str, Any] | None:
        """An item as stored (deserialized owned values plus foreign ones)."""
        response = self.assets.client.get_item(
            TableName=self.settings.assets_table, Key={"symbol": {"S": symbol}}, ConsistentRead=True
        )
        raw = response.get("Item")
        return deserialize_item(raw) if raw else None

    def raw_item(self, symbol: str) -> dict[str, Any] | None:
        """An item in DynamoDB's attribute-value JSON, exactly as stored."""
        response = self.assets.client.get_item(
            TableName=self.settings.assets_table, Key={"symbol": {"S": symbol}}, ConsistentRead=True
        )
        return response.get("Item")

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every item of the assets table, raw, by symbol (a full scan)."""
        items: dict[str, dict[str, Any]] = {}
        paginator = self.assets.client.get_paginator("scan")
        for page in paginator.paginate(TableName=self.settings.assets_table, ConsistentRead=True):
            for raw in page["Items"]:
                items[raw["symbol"]["S"]] = raw
        return items

    def cli_env(self) -> dict[str, str]:
        """Environment for running `asset-sync` as a child process against these tables."""
        return {
            **os.environ,
            **LOCAL_CREDENTIALS,
            "APCA_API_KEY_ID": CREDENTIALS.key_id,
            "APCA_API_SECRET_KEY": CREDENTIALS.secret_key,
            "APCA_API_BASE_URL": self.stand_in.base_url,
            "AWS_ENDPOINT_URL_DYNAMODB": self.settings.dynamodb_endpoint_url or "",
            "ASSETS_TABLE": self.settings.assets_table,
            "ASSET_CLASSES": ",".join(self.settings.asset_classes),
            "DELIST_LOOKUPS_PER_SECOND": str(LOOKUPS_PER_SECOND),
        }


@dataclass
class CliResult:
    """A finished `asset-sync` process."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout parsed as one JSON document."""
        return json.loads(self.stdout)


def run_cli(*args: str, env: dict[str, str], timeout: float = 300) -> CliResult:
    """Run `asset-sync` in a child process, as a user would."""
    completed = subprocess.run(
        [sys.executable, "-m", "asset_sync.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


def alpaca_secret(endpoint_url: str, name_prefix: str = "asset-sync/alpaca") -> str:
    """A Secrets Manager secret on moto holding the test keys (the canary as the secret key), as
    the stack's secret holds them; returns its ARN."""
    secrets = boto3.client("secretsmanager", endpoint_url=endpoint_url, region_name="us-east-1")
    return secrets.create_secret(
        Name=f"{name_prefix}-{uuid.uuid4().hex[:8]}",
        SecretString=json.dumps(
            {"APCA_API_KEY_ID": CREDENTIALS.key_id, "APCA_API_SECRET_KEY": CANARY_SECRET}
        ),
    )["ARN"]


def fresh_env(
    moto_url: str, stand_in: AlpacaStandIn, endpoint_url: str | None = None, **overrides: Any
) -> Env:
    """Another pair of fresh tables on moto (like the `env` fixture), optionally via a proxy."""
    name = f"assets_{uuid.uuid4().hex[:10]}"
    settings = SyncSettings(
        assets_table=name,
        state_table=f"{name}_sync_state",
        dynamodb_endpoint_url=moto_url,
        alpaca_base_url=stand_in.base_url,
        credentials=CREDENTIALS,
        delist_lookups_per_second=LOOKUPS_PER_SECOND,
    )
    assets, state = tables(settings)
    assets.create()
    state.create()
    if endpoint_url is not None:
        overrides["dynamodb_endpoint_url"] = endpoint_url
    settings = replace(settings, **overrides)
    return Env(settings, assets, state, stand_in)


def asset_record(symbol: str, **overrides: Any) -> dict[str, Any]:
    """A valid Alpaca asset record (us_equity) with `overrides` applied."""
    base: dict[str, Any] = {
        "id": f"00000000-0000-4000-8000-{uuid.uuid5(uuid.NAMESPACE_OID, symbol).hex[:12]}",
        "class": "us_equity",
        "exchange": "NASDAQ",
        "symbol": symbol,
        "name": f"{symbol} Inc.",
        "status": "active",
        "tradable": True,
        "marginable": True,
        "shortable": True,
        "easy_to_borrow": True,
        "borrow_status": "easy_to_borrow",
        "fractionable": True,
        "attributes": ["has_options"],
        "maintenance_margin_requirement": 30,
        "margin_requirement_long": "30",
        "margin_requirement_short": "30",
    }
    base.update(overrides)
    return base


def minimal_record(symbol: str, **overrides: Any) -> dict[str, Any]:
    """The smallest valid Alpaca asset record, for planning tests."""
    base: dict[str, Any] = {
        "id": f"id-{symbol}",
        "class": "us_equity",
        "exchange": "NYSE",
        "symbol": symbol,
        "name": f"{symbol} Corp",
        "status": "active",
        "tradable": True,
        "margin_requirement_long": "30",
    }
    base.update(overrides)
    return base

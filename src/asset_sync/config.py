"""Configuration from the environment, validated once at start."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

PAPER_BASE_URL = "https://paper-api.alpaca.markets"
LIVE_BASE_URL = "https://api.alpaca.markets"
DEFAULT_TABLE = "signal9_assets"
DEFAULT_REGION = "us-east-1"
DEFAULT_MAX_DELIST_FRACTION = 0.10


class ConfigError(ValueError):
    """A configuration value is missing or malformed."""


@dataclass(frozen=True, repr=False)
class AlpacaCredentials:
    """Alpaca API keys; the secret never appears in repr or str."""

    key_id: str
    secret_key: str

    def __repr__(self) -> str:
        return f"AlpacaCredentials(key_id={self.key_id!r}, secret_key='***')"

    __str__ = __repr__


@dataclass(frozen=True)
class SyncSettings:
    """Everything one sync run needs to know, resolved from flags and environment."""

    assets_table: str = DEFAULT_TABLE
    state_table: str = f"{DEFAULT_TABLE}_sync_state"
    region: str = DEFAULT_REGION
    dynamodb_endpoint_url: str | None = None
    alpaca_base_url: str = PAPER_BASE_URL
    asset_classes: tuple[str, ...] = ()
    max_delist_fraction: float = DEFAULT_MAX_DELIST_FRACTION
    force: bool = False
    dry_run: bool = False
    write_concurrency: int = 8
    max_writes_per_second: float = 500.0
    max_body_bytes: int = 32 * 1024 * 1024
    lock_lease_seconds: int = 900
    credentials: AlpacaCredentials | None = field(default=None, repr=False)

    def with_overrides(self, **changes: object) -> SyncSettings:
        """A copy with the non-None values in ``changes`` applied, validated."""
        applied = {key: value for key, value in changes.items() if value is not None}
        settings = replace(self, **applied)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise ConfigError when a value cannot work."""
        for name in ("assets_table", "state_table"):
            value = getattr(self, name)
            if not 3 <= len(value) <= 255:
                raise ConfigError(f"{name} must be 3 to 255 characters, got {value!r}")
        if not math.isfinite(self.max_delist_fraction) or not (
            0.0 <= self.max_delist_fraction <= 1.0
        ):
            raise ConfigError(
                f"max delist fraction must be between 0 and 1, got {self.max_delist_fraction}"
            )
        _require_http_url("APCA_API_BASE_URL", self.alpaca_base_url)
        if self.dynamodb_endpoint_url is not None:
            _require_http_url("AWS_ENDPOINT_URL_DYNAMODB", self.dynamodb_endpoint_url)
        if self.write_concurrency < 1:
            raise ConfigError("write concurrency must be at least 1")
        if self.max_writes_per_second <= 0:
            raise ConfigError("max writes per second must be positive")


def _require_http_url(name: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")


def _parse_fraction(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"MAX_DELIST_FRACTION must be a number, got {raw!r}") from None


def _positive_int(name: str, raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name} must be a positive whole number, got {raw!r}")
    return int(raw)


def settings_from_env(env: Mapping[str, str] | None = None) -> SyncSettings:
    """Build validated settings from the ecosystem's environment variable names."""
    env = os.environ if env is None else env
    table = env.get("ASSETS_TABLE") or DEFAULT_TABLE
    key_id = env.get("APCA_API_KEY_ID")
    secret = env.get("APCA_API_SECRET_KEY")
    credentials = AlpacaCredentials(key_id, secret) if key_id and secret else None
    classes = tuple(c.strip() for c in env.get("ASSET_CLASSES", "").split(",") if c.strip())
    settings = SyncSettings(
        assets_table=table,
        state_table=env.get("SYNC_STATE_TABLE") or f"{table}_sync_state",
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
        dynamodb_endpoint_url=env.get("AWS_ENDPOINT_URL_DYNAMODB")
        or env.get("AWS_ENDPOINT_URL")
        or None,
        alpaca_base_url=(env.get("APCA_API_BASE_URL") or PAPER_BASE_URL).rstrip("/"),
        asset_classes=classes,
        max_delist_fraction=_parse_fraction(
            env.get("MAX_DELIST_FRACTION") or str(DEFAULT_MAX_DELIST_FRACTION)
        ),
        lock_lease_seconds=_positive_int(
            "SYNC_LOCK_LEASE_SECONDS", env.get("SYNC_LOCK_LEASE_SECONDS") or "900"
        ),
        max_writes_per_second=_positive_int(
            "MAX_WRITES_PER_SECOND", env.get("MAX_WRITES_PER_SECOND") or "500"
        ),
        write_concurrency=_positive_int("WRITE_CONCURRENCY", env.get("WRITE_CONCURRENCY") or "8"),
        credentials=credentials,
    )
    settings.validate()
    return settings

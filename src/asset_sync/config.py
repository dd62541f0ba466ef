"""Configuration from the environment, validated once at start.

Each command parses only what it uses (`status` does not care about MAX_DELIST_FRACTION, nor
about Alpaca's settings), a variable a flag replaces is not read at all, and an error names
where the bad value came from (the flag or the environment variable).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

PAPER_BASE_URL = "https://paper-api.alpaca.markets"
LIVE_BASE_URL = "https://api.alpaca.markets"
DEFAULT_TABLE = "signal9_assets"
DEFAULT_REGION = "us-east-1"
DEFAULT_MAX_DELIST_FRACTION = 0.10
DEFAULT_ASSET_CLASS = "us_equity"  # what Alpaca's /v2/assets returns without `asset_class`
MIN_LEASE_SECONDS, MAX_LEASE_SECONDS = 5, 86_400
# Alpaca's secret keys have 40 characters; a shorter value is a mistake, and one this short
# could not be redacted from messages without mangling them.
MIN_SECRET_LENGTH = 8
# botocore's own rule for a region name; anything else fails before a request is made
_REGION = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")
_TABLE = re.compile(r"[a-zA-Z0-9_.-]{3,255}")  # DynamoDB's rule for a table name


class ConfigError(ValueError):
    """A configuration value is missing or malformed."""


@dataclass(frozen=True, repr=False)
class AlpacaCredentials:
    """Alpaca API keys; the secret never appears in repr or str, nor its length in errors."""

    key_id: str
    secret_key: str

    def __post_init__(self) -> None:
        if len(self.secret_key) < MIN_SECRET_LENGTH:
            raise ConfigError(
                "APCA_API_SECRET_KEY is too short to be an Alpaca secret key (fewer than "
                f"{MIN_SECRET_LENGTH} characters; check that it is the secret, not a placeholder)"
            )

    def __repr__(self) -> str:
        return f"AlpacaCredentials(key_id={self.key_id!r}, secret_key='***')"

    __str__ = __repr__


@dataclass(frozen=True)
class SyncSettings:
    """Everything one sync run needs to know, resolved from flags and environment."""

    assets_table: str = DEFAULT_TABLE
    state_table: str = f"{DEFAULT_TABLE}_sync_state"
    table_source: str = "ASSETS_TABLE"
    state_table_source: str = "SYNC_STATE_TABLE"
    region: str = DEFAULT_REGION
    region_source: str = "the default"
    dynamodb_endpoint_url: str | None = None
    endpoint_source: str = "AWS_ENDPOINT_URL_DYNAMODB"
    alpaca_base_url: str = PAPER_BASE_URL
    asset_classes: tuple[str, ...] = ()
    max_delist_fraction: float = DEFAULT_MAX_DELIST_FRACTION
    force: bool = False
    dry_run: bool = False
    full: bool = False
    full_reconcile_days: int = 7
    deadline_seconds: float | None = None
    write_concurrency: int = 8
    max_writes_per_second: float = 500.0
    max_body_bytes: int = 32 * 1024 * 1024
    lock_lease_seconds: int = 900
    delist_confirm_sample: int = 50
    delist_lookups_per_second: float = 2.0
    credentials: AlpacaCredentials | None = field(default=None, repr=False)

    @property
    def scope(self) -> tuple[str, ...]:
        """The asset classes this run fetches and may delist: the requested ones, each once,
        or Alpaca's default class when none was requested."""
        return tuple(dict.fromkeys(self.asset_classes)) or (DEFAULT_ASSET_CLASS,)

    def with_overrides(self, **changes: object) -> SyncSettings:
        """A copy with the non-None values in ``changes`` applied, validated."""
        applied = {key: value for key, value in changes.items() if value is not None}
        settings = replace(self, **applied)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise ConfigError when a value cannot work."""
        for value, source in (
            (self.assets_table, self.table_source),
            (self.state_table, self.state_table_source),
        ):
            if not _TABLE.fullmatch(value):
                raise ConfigError(
                    f"{value!r} (from {source}) is not a DynamoDB table name: 3 to 255 of "
                    "a-z, A-Z, 0-9, '_', '-' and '.'"
                )
        if not _REGION.fullmatch(self.region):
            raise ConfigError(f"{self.region!r} (from {self.region_source}) is not a region name")
        if not math.isfinite(self.max_delist_fraction) or not (
            0.0 <= self.max_delist_fraction <= 1.0
        ):
            raise ConfigError(
                f"max delist fraction must be between 0 and 1, got {self.max_delist_fraction}"
            )
        _require_http_url("APCA_API_BASE_URL", self.alpaca_base_url)
        if self.dynamodb_endpoint_url is not None:
            _require_http_url(self.endpoint_source, self.dynamodb_endpoint_url)
        if self.write_concurrency < 1:
            raise ConfigError("write concurrency must be at least 1")
        if not (math.isfinite(self.max_writes_per_second) and self.max_writes_per_second > 0):
            raise ConfigError("max writes per second must be a positive number")
        if self.deadline_seconds is not None and not self.deadline_seconds > 0:
            raise ConfigError("the deadline must be a positive number of seconds")
        if any(not c.strip() for c in self.asset_classes):
            raise ConfigError("an asset class may not be empty")


def _require_http_url(name: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")


def alpaca_base_url(raw: str) -> str:
    """The base URL without a trailing `/` or `/v2` (the dashboard shows it with `/v2`)."""
    url = raw.strip().rstrip("/")
    return url.removesuffix("/v2").rstrip("/") if url.endswith("/v2") else url


def resolve_region(env: Mapping[str, str]) -> tuple[str, str]:
    """The region and where it came from: AWS_REGION, AWS_DEFAULT_REGION, boto3's own
    resolution (the profile in the AWS config file), else the documented default."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if env.get(name):
            return env[name], name
    try:
        import boto3  # noqa: PLC0415 - only needed when the environment names no region

        session = boto3.session.Session(profile_name=env.get("AWS_PROFILE") or None)
        region = session.region_name
    except Exception:  # an unknown profile or an unreadable config file: say so later
        region = None
    if region:
        return region, "the AWS config file"
    return DEFAULT_REGION, "the default"


def _number(name: str, raw: str, parse: Callable[[str], float], low: float, high: float) -> float:
    try:
        value = parse(raw.strip())
    except ValueError:
        kind = "a whole number" if parse is _whole else "a number"
        raise ConfigError(f"{name} must be {kind}, got {raw!r}") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(f"{name} must be between {low:g} and {high:g}, got {raw!r}")
    return value


def settings_from_env(
    env: Mapping[str, str] | None = None,
    *,
    for_sync: bool = True,
    alpaca: bool | None = None,
    validate: bool = True,
) -> SyncSettings:
    """Build validated settings from the ecosystem's environment variable names.

    `for_sync=False` (status, create-table, history, ...): only tables, region and endpoint
    are read; the sync's own knobs keep their defaults and are not validated. `alpaca`
    (default: `for_sync`): read Alpaca's base URL and keys. `validate=False` leaves the checks
    of tables, region and endpoint to the caller (after flags replaced them).
    """
    env = os.environ if env is None else env
    table = env.get("ASSETS_TABLE") or DEFAULT_TABLE
    region, region_source = resolve_region(env)
    endpoint_name = next(
        (n for n in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL") if env.get(n)),
        "AWS_ENDPOINT_URL_DYNAMODB",
    )
    values: dict[str, object] = {
        "assets_table": table,
        "state_table": env.get("SYNC_STATE_TABLE") or f"{table}_sync_state",
        "table_source": "ASSETS_TABLE" if env.get("ASSETS_TABLE") else "the default",
        "state_table_source": (
            "SYNC_STATE_TABLE" if env.get("SYNC_STATE_TABLE") else "ASSETS_TABLE + '_sync_state'"
        ),
        "region": region,
        "region_source": region_source,
        "dynamodb_endpoint_url": env.get(endpoint_name) or None,
        "endpoint_source": endpoint_name,
    }
    if for_sync if alpaca is None else alpaca:
        values |= _alpaca_settings(env)
    if for_sync:
        values |= _sync_knobs(env)
    settings = SyncSettings(**values)  # type: ignore[arg-type]
    if validate:
        settings.validate()
    return settings


def _alpaca_settings(env: Mapping[str, str]) -> dict[str, object]:
    """The base URL and the keys (both keys, or none: a half is as good as none)."""
    url = alpaca_base_url(env.get("APCA_API_BASE_URL") or PAPER_BASE_URL)
    _require_http_url("APCA_API_BASE_URL", url)
    key_id, secret = env.get("APCA_API_KEY_ID"), env.get("APCA_API_SECRET_KEY")
    return {
        "alpaca_base_url": url,
        "credentials": AlpacaCredentials(key_id, secret) if key_id and secret else None,
    }


def _asset_classes(raw: str) -> tuple[str, ...]:
    """ASSET_CLASSES as classes; unset or empty is none (Alpaca's default), but a value that
    names no class (`,,`) is a mistake."""
    classes = tuple(c.strip() for c in raw.split(",") if c.strip())
    if raw and not classes:
        raise ConfigError(
            f"ASSET_CLASSES names no asset class: {raw!r} (a comma-separated list such as "
            "'us_equity,crypto'; unset it for Alpaca's default, us_equity)"
        )
    return classes


def _sync_knobs(env: Mapping[str, str]) -> dict[str, object]:
    def number(name: str, default: str, low: float, high: float, *, whole: bool) -> float:
        raw = env.get(name) or default
        parse: Callable[[str], float] = _whole if whole else float
        return _number(name, raw, parse, low, high)

    return {
        "asset_classes": _asset_classes(env.get("ASSET_CLASSES", "")),
        "max_delist_fraction": number(
            "MAX_DELIST_FRACTION", str(DEFAULT_MAX_DELIST_FRACTION), 0, 1, whole=False
        ),
        "lock_lease_seconds": int(
            number(
                "SYNC_LOCK_LEASE_SECONDS", "900", MIN_LEASE_SECONDS, MAX_LEASE_SECONDS, whole=True
            )
        ),
        "max_writes_per_second": number("MAX_WRITES_PER_SECOND", "500", 0.01, 40_000, whole=False),
        "write_concurrency": int(number("WRITE_CONCURRENCY", "8", 1, 64, whole=True)),
        "full_reconcile_days": int(number("FULL_RECONCILE_DAYS", "7", 0, 3_650, whole=True)),
        "delist_confirm_sample": int(number("DELIST_CONFIRM_SAMPLE", "50", 1, 10_000, whole=True)),
        "delist_lookups_per_second": number(
            "DELIST_LOOKUPS_PER_SECOND", "2", 0.01, 50, whole=False
        ),
    }


def _whole(raw: str) -> float:
    """An integer's value (`-5` too, for the range check); inf when too large for a float."""
    if not re.fullmatch(r"[+-]?[0-9]+", raw):
        raise ValueError(raw)
    number = int(raw)
    if abs(number) >= 2**53:
        return math.inf if number > 0 else -math.inf
    return float(number)

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

from asset_sync.contract import (
    DEFAULT_ASSETS_TABLE,
    DELIST_CONFIRM_SAMPLE,
    DELIST_LOOKUPS_PER_SECOND,
    FULL_RECONCILE_DAYS,
    LEASE_SECONDS,
    MAX_DELIST_FRACTION,
    MAX_WRITES_PER_SECOND,
    STATE_TABLE_SUFFIX,
    WRITE_CONCURRENCY,
    Env,
    Knob,
    state_table_name,
)

PAPER_BASE_URL = "https://paper-api.alpaca.markets"
LIVE_BASE_URL = "https://api.alpaca.markets"
DEFAULT_REGION = "us-east-1"
DEFAULT_ASSET_CLASS = "us_equity"  # what Alpaca's /v2/assets returns without `asset_class`
# Alpaca's secret keys have 40 characters; a shorter value is a mistake, and one this short
# could not be redacted from messages without mangling them.
MIN_SECRET_LENGTH = 8
# botocore's own rule for a region name; anything else fails before a request is made
_REGION = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")
_TABLE = re.compile(r"[a-zA-Z0-9_.-]{3,255}")  # DynamoDB's rule for a table name
# Where the DynamoDB endpoint comes from, in this order (boto3's own names).
ENDPOINT_VARIABLES = (Env.AWS_ENDPOINT_URL_DYNAMODB, Env.AWS_ENDPOINT_URL)


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


def credentials_from_secret(secret_id: str, value: object) -> AlpacaCredentials:
    """The keys a Secrets Manager secret holds (a JSON object with the two variables' names)."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"secret {secret_id} is not a JSON object")
    key_id, secret_key = value.get(Env.APCA_API_KEY_ID), value.get(Env.APCA_API_SECRET_KEY)
    if not (isinstance(key_id, str) and key_id and isinstance(secret_key, str) and secret_key):
        raise ConfigError(
            f"secret {secret_id} must hold non-empty {Env.APCA_API_KEY_ID} and "
            f"{Env.APCA_API_SECRET_KEY}; set them with `aws secretsmanager put-secret-value` "
            "(see docs/deploy.md)"
        )
    return AlpacaCredentials(key_id, secret_key)


@dataclass(frozen=True)
class SyncSettings:
    """Everything one sync run needs to know, resolved from flags and environment."""

    assets_table: str = DEFAULT_ASSETS_TABLE
    state_table: str = state_table_name(DEFAULT_ASSETS_TABLE)
    table_source: str = Env.ASSETS_TABLE
    state_table_source: str = Env.SYNC_STATE_TABLE
    region: str = DEFAULT_REGION
    region_source: str = "the default"
    dynamodb_endpoint_url: str | None = None
    endpoint_source: str = Env.AWS_ENDPOINT_URL_DYNAMODB
    alpaca_base_url: str = PAPER_BASE_URL
    asset_classes: tuple[str, ...] = ()
    max_delist_fraction: float = MAX_DELIST_FRACTION.default
    force: bool = False
    dry_run: bool = False
    full: bool = False
    full_reconcile_days: int = int(FULL_RECONCILE_DAYS.default)
    deadline_seconds: float | None = None
    write_concurrency: int = int(WRITE_CONCURRENCY.default)
    max_writes_per_second: float = MAX_WRITES_PER_SECOND.default
    max_body_bytes: int = 32 * 1024 * 1024
    lock_lease_seconds: int = int(LEASE_SECONDS.default)
    delist_confirm_sample: int = int(DELIST_CONFIRM_SAMPLE.default)
    delist_lookups_per_second: float = DELIST_LOOKUPS_PER_SECOND.default
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
        _require_http_url(Env.APCA_API_BASE_URL, self.alpaca_base_url)
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


def derived_state_table_source(source: str) -> str:
    """Where a state table name derived from the assets table's came from (for messages)."""
    return f"{source} + {STATE_TABLE_SUFFIX!r}"


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
    for name in (Env.AWS_REGION, Env.AWS_DEFAULT_REGION):
        if env.get(name):
            return env[name], name
    try:
        import boto3  # noqa: PLC0415 - only needed when the environment names no region

        session = boto3.session.Session(profile_name=env.get(Env.AWS_PROFILE) or None)
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
    table = env.get(Env.ASSETS_TABLE) or DEFAULT_ASSETS_TABLE
    region, region_source = resolve_region(env)
    endpoint_name = next(
        (n for n in ENDPOINT_VARIABLES if env.get(n)), Env.AWS_ENDPOINT_URL_DYNAMODB
    )
    values: dict[str, object] = {
        "assets_table": table,
        "state_table": env.get(Env.SYNC_STATE_TABLE) or state_table_name(table),
        "table_source": Env.ASSETS_TABLE if env.get(Env.ASSETS_TABLE) else "the default",
        "state_table_source": (
            Env.SYNC_STATE_TABLE
            if env.get(Env.SYNC_STATE_TABLE)
            else derived_state_table_source(Env.ASSETS_TABLE)
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
    url = alpaca_base_url(env.get(Env.APCA_API_BASE_URL) or PAPER_BASE_URL)
    _require_http_url(Env.APCA_API_BASE_URL, url)
    key_id, secret = env.get(Env.APCA_API_KEY_ID), env.get(Env.APCA_API_SECRET_KEY)
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


def _knob(env: Mapping[str, str], knob: Knob) -> float:
    """A knob's value from the environment (its default when unset), within its range."""
    raw = env.get(knob.env) or f"{knob.default:g}"
    return _number(knob.env, raw, _whole if knob.whole else float, knob.low, knob.high)


def _sync_knobs(env: Mapping[str, str]) -> dict[str, object]:
    return {
        "asset_classes": _asset_classes(env.get(Env.ASSET_CLASSES, "")),
        "max_delist_fraction": _knob(env, MAX_DELIST_FRACTION),
        "lock_lease_seconds": int(_knob(env, LEASE_SECONDS)),
        "max_writes_per_second": _knob(env, MAX_WRITES_PER_SECOND),
        "write_concurrency": int(_knob(env, WRITE_CONCURRENCY)),
        "full_reconcile_days": int(_knob(env, FULL_RECONCILE_DAYS)),
        "delist_confirm_sample": int(_knob(env, DELIST_CONFIRM_SAMPLE)),
        "delist_lookups_per_second": _knob(env, DELIST_LOOKUPS_PER_SECOND),
    }


def _whole(raw: str) -> float:
    """An integer's value (`-5` too, for the range check); inf when too large for a float."""
    if not re.fullmatch(r"[+-]?[0-9]+", raw):
        raise ValueError(raw)
    number = int(raw)
    if abs(number) >= 2**53:
        return math.inf if number > 0 else -math.inf
    return float(number)

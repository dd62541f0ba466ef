"""Per-stage deployment settings, committed in cdk.json (``context.stages.<stage>``).

A deploy chooses its stage with ``-c stage=NAME`` and nothing else: every setting that shapes the
deployment (region, account, Alpaca URL, alarm destination, schedule, ...) is read from the
stage's entry in cdk.json, so a later deploy cannot silently differ from the first one because a
flag was left out. A stage setting given as a flag is refused, an unknown key in a stage is
refused. A production stage (the default) cannot be synthesized without its account and an alarm
destination, and no stage may share a physical name with another stage that can deploy to the
same account and region.

``python -m infra.settings STAGE [KEY]`` prints a stage's settings and derived names as JSON (or
one of them), for shell commands in docs/deploy.md.
"""

from __future__ import annotations

import json
import re
import sys
import types
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Protocol, Union, get_args, get_origin, get_type_hints

from asset_sync.contract import (
    FULL_RECONCILE_DAYS,
    MAX_DELIST_FRACTION,
    history_table_name,
    stage_assets_table_name,
    state_table_name,
)
from infra.collisions import collisions
from infra.schedules import (
    DEFAULT_CATCH_UP_SCHEDULE,
    CatchUpError,
    CatchUpSchedule,
    catch_ups,
    schedule_problems,
    split_schedule,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCHEDULE = "cron(0 4 * * ? *)"
LEASE_MARGIN_SECONDS = 30
MAX_LAMBDA_TIMEOUT_SECONDS = 900

STAGE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
EVENT_BUS_NAME = re.compile(r"^[A-Za-z0-9._-]{1,40}$")  # 40 leaves room for "-archive" (48)
SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256}$")

# Context keys the app reads outside the stage entries.
STAGE_KEY = "stage"
STAGES_KEY = "stages"
LAMBDA_ASSET_KEY = "lambda_asset"


class StageError(ValueError):
    """The stage is missing, unknown or its settings are invalid (synth stops with this message)."""


class ContextNode(Protocol):
    """What settings need of a construct node: ``try_get_context``."""

    def try_get_context(self, key: str) -> Any:
        """The context value for key, or None."""


@dataclass(frozen=True)
class StageSettings:
    """One stage's settings; field names are the keys of ``context.stages.<stage>`` in cdk.json.

    ``stage`` and ``lambda_asset`` are not stage keys: the first is the stage's name, the second a
    build path (top-level context ``lambda_asset``).
    """

    stage: str
    region: str
    alpaca_base_url: str
    production: bool = True
    account: str | None = None
    alarm_email: str | None = None
    alarm_topic_arn: str | None = None
    schedule: str = DEFAULT_SCHEDULE
    schedule_timezone: str | None = None
    catch_up_schedule: str = DEFAULT_CATCH_UP_SCHEDULE
    event_bus_name: str | None = None
    reserved_concurrency: int | None = None
    assets_table_name: str = ""  # "" (or null): signal9_assets_<stage>
    sync_state_table_name: str = ""  # "" (or null): <assets_table_name>_sync_state
    table_deletion_protection: bool | None = None  # null: on for production stages
    memory_mb: int = 1024
    timeout_seconds: int = 600
    max_delist_fraction: str = f"{MAX_DELIST_FRACTION.default:.2f}"
    full_reconcile_days: int = int(FULL_RECONCILE_DAYS.default)
    lambda_asset: str = "dist/lambda"

    def __post_init__(self) -> None:
        _check_types(self)
        # Names left out are the stage's own, so a new stage never shares a table by accident.
        if not self.assets_table_name:
            object.__setattr__(self, "assets_table_name", stage_assets_table_name(self.stage))
        if not self.sync_state_table_name:
            object.__setattr__(
                self, "sync_state_table_name", state_table_name(self.assets_table_name)
            )
        problems = list(self._problems())
        if problems:
            raise StageError(f"stage {self.stage!r}: " + "; ".join(problems))

    def _problems(self) -> Iterator[str]:
        """A message for every invalid value."""
        if not STAGE_NAME.match(self.stage):
            yield "stage names are 1-20 of a-z, 0-9 and '-', starting with a letter"
        if not REGION.match(self.region):
            yield f"region {self.region!r} is not an AWS region name"
        if self.account is not None and not ACCOUNT_ID.match(self.account):
            yield f"account {self.account!r} must be a 12-digit AWS account id"
        if not self.alpaca_base_url.startswith("https://"):
            yield f"alpaca_base_url must be an https:// URL: {self.alpaca_base_url!r}"
        if self.alarm_email is not None and not EMAIL.match(self.alarm_email):
            yield f"alarm_email {self.alarm_email!r} is not an e-mail address"
        if self.alarm_topic_arn is not None:
            topic = SNS_TOPIC_ARN.match(self.alarm_topic_arn)
            if topic is None:
                yield f"alarm_topic_arn {self.alarm_topic_arn!r} is not an SNS topic ARN"
            elif topic[1] != self.region:
                yield (
                    f"alarm_topic_arn must be a topic in the stage's region {self.region} "
                    "(CloudWatch alarms notify topics of their own region)"
                )
        if self.production and self.table_deletion_protection is False:
            yield (
                "table_deletion_protection cannot be false on a production stage (its tables "
                "are protected; to delete one on purpose, switch protection off by hand)"
            )
        yield from schedule_problems(self.schedule, self.schedule_timezone)
        try:
            self.catch_ups  # noqa: B018 - validates catch_up_schedule against schedule
        except CatchUpError as error:
            yield str(error)
        if self.event_bus_name is not None and (
            not EVENT_BUS_NAME.match(self.event_bus_name) or self.event_bus_name == "default"
        ):
            yield f"event_bus_name {self.event_bus_name!r}: 1-40 of A-Z a-z 0-9 . _ -, not default"
        if self.reserved_concurrency is not None and self.reserved_concurrency < 1:
            yield "reserved_concurrency must be >= 1 (leave it out for no reservation)"
        for name in (self.assets_table_name, self.sync_state_table_name, self.history_table_name):
            if not TABLE_NAME.match(name):
                yield f"table name {name!r} is not a valid DynamoDB table name"
        if self.assets_table_name == self.sync_state_table_name:
            yield "assets_table_name and sync_state_table_name must differ"
        if not 128 <= self.memory_mb <= 10240:
            yield f"memory_mb must be within 128..10240, got {self.memory_mb}"
        if not 1 <= self.timeout_seconds <= MAX_LAMBDA_TIMEOUT_SECONDS:
            yield f"timeout_seconds must be within 1..900, got {self.timeout_seconds}"
        try:
            fraction_ok = MAX_DELIST_FRACTION.allows(float(self.max_delist_fraction))
        except ValueError:
            fraction_ok = False
        if not fraction_ok:
            yield (
                f"max_delist_fraction must be a number within {MAX_DELIST_FRACTION.range_text}: "
                f"{self.max_delist_fraction!r}"
            )
        if not FULL_RECONCILE_DAYS.allows(self.full_reconcile_days):
            yield (
                f"full_reconcile_days must be within {FULL_RECONCILE_DAYS.range_text}, "
                f"got {self.full_reconcile_days}"
            )

    def deployment_problems(self) -> list[str]:
        """What a production stage still needs before it can be synthesized and deployed."""
        if not self.production:
            return []
        problems = []
        if self.account is None:
            problems.append(
                "a production stage names its account: set "
                f"context.stages.{self.stage}.account in cdk.json to the 12-digit AWS account "
                "it deploys to"
            )
        if self.alarm_email is None and self.alarm_topic_arn is None:
            problems.append(
                "a production stage needs an alarm destination: set "
                f"context.stages.{self.stage}.alarm_email (an address to subscribe) or "
                "alarm_topic_arn (an existing SNS topic, e.g. your pager's or chat's)"
            )
        return problems

    @property
    def deletion_protection(self) -> bool:
        """DynamoDB deletion protection on both tables: the setting, else on for production."""
        if self.table_deletion_protection is None:
            return self.production
        return self.table_deletion_protection

    # --- derived names: the stage names the stack and every resource -----------------------

    @property
    def stack_name(self) -> str:
        """CloudFormation stack name."""
        return f"AssetSync-{self.stage}"

    @property
    def prefix(self) -> str:
        """Prefix of the stage's named resources (function, queues, topic, alarms, dashboard)."""
        return f"signal9-asset-sync-{self.stage}"

    @property
    def function_name(self) -> str:
        """The sync function."""
        return self.prefix

    @property
    def events_function_name(self) -> str:
        """The stream -> EventBridge consumer function."""
        return f"signal9-asset-events-{self.stage}"

    @property
    def history_function_name(self) -> str:
        """The stream -> history table writer function."""
        return f"signal9-asset-history-{self.stage}"

    @property
    def history_table_name(self) -> str:
        """The history table: the assets table's name plus ``_history``."""
        return history_table_name(self.assets_table_name)

    @property
    def secret_name(self) -> str:
        """The Secrets Manager secret with the Alpaca keys."""
        return f"signal9/asset-sync/{self.stage}/alpaca"

    @property
    def bus_name(self) -> str:
        """The event bus: ``event_bus_name`` or ``signal9-assets-<stage>``."""
        return self.event_bus_name or f"signal9-assets-{self.stage}"

    @property
    def schedules(self) -> tuple[str, ...]:
        """The schedule expressions (``schedule`` split on ';')."""
        return split_schedule(self.schedule)

    @property
    def catch_ups(self) -> tuple[CatchUpSchedule, ...]:
        """The catch-up schedules with their windows (catch_up_schedule split on ';')."""
        return catch_ups(
            self.schedules, split_schedule(self.catch_up_schedule), self.timeout_seconds
        )

    @property
    def fixed_names(self) -> set[tuple[str, str]]:
        """(kind, name) of every name that does not start with the stage's prefix."""
        return {
            ("DynamoDB table", self.assets_table_name),
            ("DynamoDB table", self.sync_state_table_name),
            ("DynamoDB table", self.history_table_name),
            ("event bus", self.bus_name),
            ("event archive", f"{self.bus_name}-archive"),
        }

    @property
    def lease_seconds(self) -> int:
        """Run lease: the function timeout plus a margin (see docs/deploy.md)."""
        return self.timeout_seconds + LEASE_MARGIN_SECONDS

    def summary(self) -> dict[str, Any]:
        """Settings and derived names, for ``python -m infra.settings``."""
        derived = (
            "stack_name",
            "function_name",
            "events_function_name",
            "history_function_name",
            "history_table_name",
            "secret_name",
            "bus_name",
            "prefix",
            "deletion_protection",
        )
        catch_up_windows = {c.expression: c.window_seconds for c in self.catch_ups}
        return {
            **asdict(self),
            **{name: getattr(self, name) for name in derived},
            "catch_up_windows": catch_up_windows,
        }


def _allowed_types(hint: Any) -> tuple[type, ...]:
    if get_origin(hint) in (Union, types.UnionType):
        return tuple(arg for arg in get_args(hint))
    return (hint,)


def _check_types(settings: StageSettings) -> None:
    """Refuse values of the wrong JSON type (an int where a string belongs, true for a number)."""
    hints = get_type_hints(StageSettings)
    for field in fields(settings):
        value = getattr(settings, field.name)
        allowed = _allowed_types(hints[field.name])
        ok = any(
            value is None if kind is type(None) else type(value) is kind  # bool is not an int
            for kind in allowed
        )
        if not ok:
            names = " or ".join("null" if k is type(None) else k.__name__ for k in allowed)
            raise StageError(
                f"stage {settings.stage!r}: {field.name} must be {names}, got {value!r}"
            )


STAGE_KEYS = frozenset(f.name for f in fields(StageSettings)) - {"stage", "lambda_asset"}


def settings_from_context(node: ContextNode, *, deployable: bool = True) -> StageSettings:
    """The chosen stage's settings (``-c stage=NAME``) from ``context.stages`` in cdk.json.

    Every stage of cdk.json is validated, and the chosen one must share no physical name with
    another; with deployable, a production stage must also name its account and an alarm
    destination (``python -m infra.settings`` prints a stage that is not complete yet).
    """
    stages = node.try_get_context(STAGES_KEY)
    if not isinstance(stages, Mapping) or not stages:
        raise StageError("cdk.json has no stages: add context.stages.<name> with its settings")
    known = ", ".join(sorted(stages))
    stage = node.try_get_context(STAGE_KEY)
    if not stage:
        raise StageError(
            f"no stage chosen: pass -c stage=NAME (cdk.json defines: {known}), "
            "e.g. npx cdk synth -c stage=dev"
        )
    if stage not in stages:
        raise StageError(
            f"unknown stage {stage!r}: cdk.json defines {known} "
            "(add an entry under context.stages to create one)"
        )
    flags = sorted(key for key in STAGE_KEYS if node.try_get_context(key) is not None)
    if flags:
        raise StageError(
            f"{', '.join(flags)}: stage settings live in cdk.json under "
            f"context.stages.{stage}, not in -c flags or top-level context (a flag would change "
            "this one deploy and be lost on the next)"
        )
    asset = node.try_get_context(LAMBDA_ASSET_KEY)
    every = {str(name): stage_from_entry(str(name), entry) for name, entry in stages.items()}
    settings = every[str(stage)]
    if asset:
        settings = replace(settings, lambda_asset=str(asset))
    problems = collisions(settings, list(every.values()))
    if deployable:
        problems = settings.deployment_problems() + problems
    if problems:
        raise StageError(f"stage {stage!r}: " + "; ".join(problems))
    return settings


def stage_from_entry(stage: str, entry: object, **overrides: Any) -> StageSettings:
    """One stage's settings from its cdk.json entry (null means the default)."""
    if not isinstance(entry, Mapping):
        raise StageError(f"context.stages.{stage} in cdk.json must be an object")
    unknown = sorted(set(entry) - STAGE_KEYS)
    if unknown:
        raise StageError(
            f"stage {stage!r}: unknown setting(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(STAGE_KEYS))})"
        )
    missing = sorted(key for key in ("region", "alpaca_base_url") if key not in entry)
    if missing:
        raise StageError(f"stage {stage!r}: cdk.json must set {', '.join(missing)}")
    values: dict[str, Any] = {k: v for k, v in entry.items() if v is not None}
    return StageSettings(stage=stage, **{**values, **overrides})


class JsonContext:
    """cdk.json's context plus a chosen stage, for use outside a CDK app."""

    def __init__(self, context: Mapping[str, Any], stage: str) -> None:
        self.context = {**context, STAGE_KEY: stage}

    def try_get_context(self, key: str) -> Any:
        return self.context.get(key)


def load_stage(
    stage: str, cdk_json: Path = REPO_ROOT / "cdk.json", *, deployable: bool = False
) -> StageSettings:
    """A stage's settings straight from cdk.json (no CDK app; by default also a production
    stage that does not name its account or alarm destination yet)."""
    context = json.loads(cdk_json.read_text())["context"]
    return settings_from_context(JsonContext(context, stage), deployable=deployable)


def main(argv: list[str]) -> int:
    """``python -m infra.settings STAGE [KEY]``: print the stage's settings, or one of them."""
    if not 1 <= len(argv) <= 2:
        print("usage: python -m infra.settings STAGE [KEY]", file=sys.stderr)
        return 2
    try:
        summary = load_stage(argv[0]).summary()
    except StageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if len(argv) == 1:
        print(json.dumps(summary, indent=2))
        return 0
    if argv[1] not in summary:
        print(f"error: no setting {argv[1]!r} (have: {', '.join(summary)})", file=sys.stderr)
        return 2
    value = summary[argv[1]]
    print("" if value is None else value)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

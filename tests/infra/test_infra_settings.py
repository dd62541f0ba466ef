"""Stage settings: cdk.json's stages, the stage choice, refusals with clear messages (no synth)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from typing import Any

import aws_cdk as cdk
import pytest
from infra.app import build_app
from infra.settings import (
    STAGE_KEYS,
    JsonContext,
    StageError,
    StageSettings,
    load_stage,
    settings_from_context,
)
from tests.infra.synth import (
    CDK_CONTEXT,
    PROD_DEPLOYMENT,
    REPO_ROOT,
    deployable_context,
    stage_settings,
)

pytestmark = pytest.mark.infra

DEPLOY_DOC = REPO_ROOT / "docs" / "deploy.md"


def context(stage: str | None, **extra: Any) -> JsonContext:
    """cdk.json's context with a stage chosen (None: none) and extra top-level keys."""
    node = JsonContext({**CDK_CONTEXT, **extra}, stage or "")
    if stage is None:
        node.context.pop("stage")
    return node


# --- what cdk.json commits --------------------------------------------------------------------


def test_cdk_json_commits_dev_and_prod_and_no_stage_setting_at_the_top() -> None:
    assert set(CDK_CONTEXT["stages"]) == {"dev", "prod"}
    assert "stage" not in CDK_CONTEXT, "a default stage would make -c stage=... optional"
    assert not STAGE_KEYS & set(CDK_CONTEXT), "stage settings belong under context.stages"
    dev, prod = load_stage("dev"), load_stage("prod")
    assert dev.alpaca_base_url == "https://paper-api.alpaca.markets"
    assert prod.alpaca_base_url == "https://api.alpaca.markets"
    for settings in (dev, prod):
        assert settings.region == "us-east-1"
        assert settings.schedule == "cron(0 4 * * ? *)"
        assert [c.expression for c in settings.catch_ups] == [
            "cron(0 5 * * ? *)",
            "cron(0 6 * * ? *)",
            "cron(35 13 * * ? *)",
        ]
        assert settings.schedule_timezone is None
        assert settings.reserved_concurrency is None
        assert settings.timeout_seconds == 600
        assert settings.memory_mb == 1024
        assert settings.full_reconcile_days == 7
    # prod keeps the seed's names; dev has its own.
    assert (prod.assets_table_name, prod.sync_state_table_name, prod.bus_name) == (
        "signal9_assets",
        "signal9_assets_sync_state",
        "signal9-assets",
    )
    assert (dev.assets_table_name, dev.sync_state_table_name, dev.bus_name) == (
        "signal9_assets_dev",
        "signal9_assets_dev_sync_state",
        "signal9-assets-dev",
    )
    assert (prod.production, prod.deletion_protection) == (True, True)
    assert (dev.production, dev.deletion_protection) == (False, False)
    # The committed prod entry leaves its account and alarm destination to the deployer.
    assert prod.account is None and prod.alarm_email is None and prod.alarm_topic_arn is None
    assert {"account", "alarm_email", "alarm_topic_arn"} <= set(CDK_CONTEXT["stages"]["prod"])


def test_derived_names() -> None:
    settings = load_stage("dev")
    assert settings.stack_name == "AssetSync-dev"
    assert settings.function_name == "signal9-asset-sync-dev"
    assert settings.events_function_name == "signal9-asset-events-dev"
    assert settings.secret_name == "signal9/asset-sync/dev/alpaca"
    assert settings.lease_seconds == 630
    qa = stage_settings("dev", stage="qa", event_bus_name=None)
    assert qa.bus_name == "signal9-assets-qa"
    assert replace(
        settings, schedule="cron(1 2 * * ? *) ;rate(1 day); ", catch_up_schedule=""
    ).schedules == ("cron(1 2 * * ? *)", "rate(1 day)")


def test_names_left_out_are_the_stages_own() -> None:
    settings = settings_from_context(with_stage_entry({**BASE}))
    assert settings.assets_table_name == "signal9_assets_x"
    assert settings.sync_state_table_name == "signal9_assets_x_sync_state"
    assert settings.bus_name == "signal9-assets-x"
    named = settings_from_context(with_stage_entry({**BASE, "assets_table_name": "assets_x"}))
    assert named.sync_state_table_name == "assets_x_sync_state"  # as the CLI's default


def test_catch_up_windows_run_from_the_daily_run_before_each() -> None:
    settings = load_stage("dev")
    assert {c.expression: c.window_seconds for c in settings.catch_ups} == {
        "cron(0 5 * * ? *)": 3600,
        "cron(0 6 * * ? *)": 7200,
        "cron(35 13 * * ? *)": 9 * 3600 + 35 * 60,
    }
    nightly = replace(
        settings,
        schedule="cron(0 23 * * ? *);cron(35 8 * * ? *)",
        catch_up_schedule="cron(0 0 * * ? *);cron(0 10 * * ? *)",
    )
    # After midnight the window reaches back to the day before; each from the latest run.
    assert [c.window_seconds for c in nightly.catch_ups] == [3600, 3600 + 25 * 60]
    assert replace(settings, catch_up_schedule="").catch_ups == ()


# --- choosing a stage ------------------------------------------------------------------------


def test_no_stage_is_a_clear_error() -> None:
    with pytest.raises(StageError, match=r"no stage chosen: pass -c stage=NAME .*dev, prod"):
        settings_from_context(context(None))


def test_build_app_without_a_stage_fails_before_any_stack() -> None:
    app = cdk.App(context=dict(CDK_CONTEXT))
    with pytest.raises(StageError, match="no stage chosen"):
        build_app(app, nag=False)
    assert app.node.children == []


def test_unknown_stage_names_the_known_ones() -> None:
    with pytest.raises(StageError, match=r"unknown stage 'staging': cdk.json defines dev, prod"):
        settings_from_context(context("staging"))


@pytest.mark.parametrize("flag", ["alarm_email", "alpaca_base_url", "schedule", "region"])
def test_a_stage_setting_given_as_a_flag_is_refused(flag: str) -> None:
    with pytest.raises(StageError, match=rf"{flag}: stage settings live in cdk.json"):
        settings_from_context(context("prod", **{flag: "x"}))


def test_lambda_asset_is_a_build_path_not_a_stage_setting() -> None:
    assert settings_from_context(context("dev", lambda_asset="/tmp/a")).lambda_asset == "/tmp/a"


def with_stage_entry(entry: dict[str, Any]) -> JsonContext:
    """cdk.json's context with stage "x" defined as entry, and chosen."""
    return JsonContext({**CDK_CONTEXT, "stages": {"x": entry}}, "x")


BASE = {
    "region": "eu-west-1",
    "alpaca_base_url": "https://paper-api.alpaca.markets",
    "production": False,
}


def test_unknown_and_missing_keys_are_refused() -> None:
    with pytest.raises(StageError, match=r"unknown setting\(s\) alarm_emial"):
        settings_from_context(with_stage_entry({**BASE, "alarm_emial": "a@b.co"}))
    with pytest.raises(StageError, match="must set alpaca_base_url, region"):
        settings_from_context(with_stage_entry({}))


def test_nulls_mean_the_default() -> None:
    settings = settings_from_context(
        with_stage_entry({**BASE, "alarm_email": None, "reserved_concurrency": None})
    )
    assert settings == StageSettings(stage="x", **BASE)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"memory_mb": "2048"}, "memory_mb must be int"),
        ({"reserved_concurrency": True}, "reserved_concurrency must be int or null"),
        ({"reserved_concurrency": 0}, "reserved_concurrency must be >= 1"),
        ({"table_deletion_protection": "yes"}, "table_deletion_protection must be bool or null"),
        (
            {"production": True, "table_deletion_protection": False},
            "table_deletion_protection cannot be false on a production stage",
        ),
        ({"alarm_topic_arn": "pager"}, "is not an SNS topic ARN"),
        (
            {"alarm_topic_arn": "arn:aws:sns:us-east-1:123456789012:pager"},
            "alarm_topic_arn must be a topic in the stage's region eu-west-1",
        ),
        ({"catch_up_schedule": "rate(1 hour)"}, "catch-ups need daily cron(M H * * ? *)"),
        ({"schedule": "rate(1 day)"}, 'not rate(1 day) (set catch_up_schedule to "" for none)'),
        ({"catch_up_schedule": "cron(5 4 * * ? *)"}, "comes 300 s after a scheduled run"),
        ({"catch_up_schedule": "cron(0 4 * * ? *)"}, "comes 0 s after a scheduled run"),
        ({"memory_mb": 64}, "memory_mb must be within"),
        ({"timeout_seconds": 901}, "timeout_seconds must be within"),
        ({"max_delist_fraction": "1.5"}, "max_delist_fraction must be a number within 0..1"),
        ({"max_delist_fraction": 0.1}, "max_delist_fraction must be str"),
        ({"schedule": "0 4 * * *"}, "must be cron"),
        ({"schedule": " ; "}, "at least one"),
        ({"schedule": "rate(1 day);rate(1 day)"}, "twice"),
        ({"schedule_timezone": "Mars/Olympus"}, "not an IANA time zone"),
        ({"schedule_timezone": "EST5EDT; DROP"}, "not an IANA time zone"),
        ({"region": "us-east"}, "not an AWS region"),
        ({"account": "12345"}, "12-digit"),
        ({"alpaca_base_url": "http://paper-api.alpaca.markets"}, "https://"),
        ({"alarm_email": "oncall"}, "not an e-mail address"),
        ({"event_bus_name": "default"}, "event_bus_name"),
        ({"event_bus_name": "x" * 41}, "event_bus_name"),
        ({"assets_table_name": "a b"}, "not a valid DynamoDB table name"),
        ({"assets_table_name": "t_a", "sync_state_table_name": "t_a"}, "must differ"),
        ({"full_reconcile_days": -1}, "full_reconcile_days must be within 0..3650"),
        ({"full_reconcile_days": 3651}, "full_reconcile_days must be within 0..3650"),
    ],
)
def test_invalid_values_are_refused(override: dict[str, Any], message: str) -> None:
    with pytest.raises(StageError, match=re.escape(message)):
        settings_from_context(with_stage_entry({**BASE, **override}))


def test_full_reconcile_days_takes_the_functions_own_range() -> None:
    # One range per knob (asset_sync.contract): 0, "never on its own", is the sync's own value.
    for days in (0, 3650):
        entry = {**BASE, "full_reconcile_days": days}
        assert settings_from_context(with_stage_entry(entry)).full_reconcile_days == days


def test_invalid_stage_name() -> None:
    with pytest.raises(StageError, match="stage names"):
        stage_settings("dev", stage="Prod_1")


# --- production stages: an account and an alarm destination --------------------------------


def test_prod_as_committed_cannot_be_synthesized_and_says_what_to_set() -> None:
    app = cdk.App(context={**CDK_CONTEXT, "stage": "prod"})
    with pytest.raises(StageError) as refused:
        build_app(app, nag=False)
    message = str(refused.value)
    assert "context.stages.prod.account in cdk.json" in message
    assert "context.stages.prod.alarm_email" in message and "alarm_topic_arn" in message
    assert app.node.children == []


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("account", "a production stage names its account"),
        ("alarm_email", "a production stage needs an alarm destination"),
    ],
)
def test_prod_without_its_account_or_alarm_destination_fails(missing: str, message: str) -> None:
    context = deployable_context(**{missing: None})
    with pytest.raises(StageError, match=re.escape(message)):
        settings_from_context(JsonContext(context, "prod"))


def test_prod_as_documented_is_complete() -> None:
    prod = settings_from_context(JsonContext(deployable_context(), "prod"))
    assert (prod.account, prod.alarm_email) == (
        PROD_DEPLOYMENT["account"],
        PROD_DEPLOYMENT["alarm_email"],
    )
    topic = "arn:aws:sns:us-east-1:123456789012:pager"
    paged = settings_from_context(
        JsonContext(deployable_context(alarm_email=None, alarm_topic_arn=topic), "prod")
    )
    assert paged.alarm_topic_arn == topic


def test_a_new_stage_is_a_production_stage_unless_it_says_otherwise() -> None:
    entry = {k: v for k, v in BASE.items() if k != "production"}
    with pytest.raises(StageError, match="a production stage names its account"):
        settings_from_context(with_stage_entry(entry))
    complete = {**entry, "account": "123456789012", "alarm_email": "ops@example.com"}
    assert settings_from_context(with_stage_entry(complete)).deletion_protection is True


# --- stages that could share an account and region share no name ------------------------------


def two_stages(dev: dict[str, Any], prod: dict[str, Any] | None = None) -> JsonContext:
    """cdk.json's dev and prod (completed) with changes, dev chosen."""
    context = deployable_context(**(prod or {}))
    stages = {**context["stages"], "dev": {**context["stages"]["dev"], **dev}}
    return JsonContext({**context, "stages": stages}, "dev")


def test_dev_and_prod_as_committed_share_no_name() -> None:
    dev = settings_from_context(two_stages({}))
    prod = settings_from_context(JsonContext(deployable_context(), "prod"))
    assert not dev.fixed_names & prod.fixed_names


@pytest.mark.parametrize(
    ("dev", "shared"),
    [
        ({"assets_table_name": "signal9_assets"}, "DynamoDB table 'signal9_assets'"),
        (
            {"sync_state_table_name": "signal9_assets_sync_state"},
            "DynamoDB table 'signal9_assets_sync_state'",
        ),
        ({"event_bus_name": "signal9-assets"}, "event bus 'signal9-assets'"),
        ({"account": "123456789012", "event_bus_name": "signal9-assets"}, "account 123456789012"),
    ],
)
def test_a_stage_that_would_share_a_name_fails_and_says_why(
    dev: dict[str, Any], shared: str
) -> None:
    with pytest.raises(StageError) as refused:
        settings_from_context(two_stages(dev))
    message = str(refused.value)
    assert "stages 'dev' and 'prod' may deploy to" in message
    assert shared in message
    assert "give one of them its own names in cdk.json" in message


def test_stages_in_other_accounts_or_regions_may_reuse_names() -> None:
    other_account = {"account": "210987654321", "assets_table_name": "signal9_assets"}
    assert settings_from_context(two_stages(other_account)).assets_table_name == "signal9_assets"
    other_region = {"region": "eu-west-1", "assets_table_name": "signal9_assets"}
    assert settings_from_context(two_stages(other_region)).region == "eu-west-1"


def test_nested_stage_names_are_refused() -> None:
    """Stage "prod-events" would name an alarm "signal9-asset-sync-prod-events-errors", which
    is also prod's events-errors alarm."""
    context = deployable_context()
    nested = {**context["stages"]["dev"], "assets_table_name": "t_x", "event_bus_name": "b-x"}
    stages = {**context["stages"], "prod-events": nested}
    with pytest.raises(StageError, match="names starting 'signal9-asset-sync-prod-'"):
        settings_from_context(JsonContext({**context, "stages": stages}, "prod-events"))


# --- python -m infra.settings (used by docs/deploy.md) ----------------------------------------


def run_settings(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m infra.settings ARGS` from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "infra.settings", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_settings_cli_prints_one_value_or_all() -> None:
    assert run_settings("prod", "region").stdout == "us-east-1\n"
    assert run_settings("prod", "account").stdout == "\n"
    summary = json.loads(run_settings("dev").stdout)
    assert summary["function_name"] == "signal9-asset-sync-dev"
    assert summary["bus_name"] == "signal9-assets-dev"
    unknown = run_settings("nope")
    assert unknown.returncode == 1
    assert "unknown stage 'nope'" in unknown.stderr


# --- the stage docs/deploy.md shows with a time zone -------------------------------------------


def test_the_documented_new_york_stage_is_valid_and_syncs_after_the_0820_refresh() -> None:
    doc = DEPLOY_DOC.read_text()
    [snippet] = re.findall(r"```json\n(\{\n\s+\"stages\".*?\n\})\n```", doc, re.DOTALL)
    stages = json.loads(snippet)["stages"]
    [(name, entry)] = stages.items()
    settings = settings_from_context(JsonContext({"stages": stages}, name))
    assert settings.schedule_timezone == "America/New_York"
    assert len(settings.schedules) == 2
    after_refresh = [s for s in settings.schedules if re.fullmatch(r"cron\((\d+) 8 .*\)", s)]
    assert after_refresh and all(int(s.split()[0][5:]) > 20 for s in after_refresh)
    assert entry["alpaca_base_url"] == "https://api.alpaca.markets"

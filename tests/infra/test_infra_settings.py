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
from tests.infra.synth import CDK_CONTEXT, REPO_ROOT, stage_settings

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
        assert settings.schedule_timezone is None
        assert settings.reserved_concurrency is None
        assert settings.timeout_seconds == 600
        assert settings.memory_mb == 1024
        assert settings.full_reconcile_days == 7
    assert (dev.bus_name, prod.bus_name) == ("signal9-assets-dev", "signal9-assets")


def test_derived_names() -> None:
    settings = load_stage("dev")
    assert settings.stack_name == "AssetSync-dev"
    assert settings.function_name == "signal9-asset-sync-dev"
    assert settings.events_function_name == "signal9-asset-events-dev"
    assert settings.secret_name == "signal9/asset-sync/dev/alpaca"
    assert settings.lease_seconds == 630
    assert replace(settings, stage="qa", event_bus_name=None).bus_name == "signal9-assets-qa"
    assert replace(settings, schedule="cron(1 2 * * ? *) ;rate(1 day); ").schedules == (
        "cron(1 2 * * ? *)",
        "rate(1 day)",
    )


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


BASE = {"region": "eu-west-1", "alpaca_base_url": "https://paper-api.alpaca.markets"}


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
        ({"table_deletion_protection": "yes"}, "table_deletion_protection must be bool"),
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
        ({"sync_state_table_name": "signal9_assets"}, "must differ"),
        ({"full_reconcile_days": 0}, "full_reconcile_days"),
    ],
)
def test_invalid_values_are_refused(override: dict[str, Any], message: str) -> None:
    with pytest.raises(StageError, match=re.escape(message)):
        settings_from_context(with_stage_entry({**BASE, **override}))


def test_invalid_stage_name() -> None:
    with pytest.raises(StageError, match="stage names"):
        stage_settings("dev", stage="Prod_1")


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

"""`cdk synth` through the pinned CDK CLI (npm), as an operator runs it: no Docker, no AWS.

A stage must be chosen (-c stage=NAME); without one the app stops with the reason. prod as
committed stops too, naming what to add to cdk.json; with what docs/deploy.md has a first-time
deployer add (a copy of cdk.json in a scratch directory) it synthesizes, sharing no physical name
with dev; a stage configured to share one stops and says which.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.infra.synth import CDK_CONTEXT, deployable_context

pytestmark = pytest.mark.infra

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_BIN = REPO_ROOT / "node_modules" / ".bin" / "cdk"


def cdk(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    """The pinned CDK CLI (from the repository root unless told), without AWS credentials."""
    if not CDK_BIN.exists():
        pytest.fail("the CDK CLI is not installed: run `make setup` (npm ci)")
    env = {
        **os.environ,
        "CDK_DISABLE_VERSION_CHECK": "1",
    }
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        env.pop(name, None)
    return subprocess.run(
        [str(CDK_BIN), *args, "--no-notices"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_cdk_synth_of_a_stage_writes_its_template(tmp_path: Path, stub_lambda_asset: Path) -> None:
    out = tmp_path / "cdk.out"
    completed = cdk(
        "synth", "--quiet", "--output", str(out),
        "-c", "stage=dev", "-c", f"lambda_asset={stub_lambda_asset}",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    template = json.loads((out / "AssetSync-dev.template.json").read_text())
    types = {resource["Type"] for resource in template["Resources"].values()}
    assert {
        "AWS::DynamoDB::Table",
        "AWS::Lambda::Function",
        "AWS::Lambda::EventSourceMapping",
        "AWS::Events::Rule",
        "AWS::Events::EventBus",
        "AWS::SQS::Queue",
        "AWS::SNS::Topic",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
        "AWS::SecretsManager::Secret",
    } <= types
    shutil.rmtree(out)


def test_cdk_synth_without_a_stage_fails_with_the_reason(
    tmp_path: Path, stub_lambda_asset: Path
) -> None:
    completed = cdk(
        "synth", "--quiet", "--output", str(tmp_path / "cdk.out"),
        "-c", f"lambda_asset={stub_lambda_asset}",
    )  # fmt: skip
    assert completed.returncode != 0
    assert "error: no stage chosen: pass -c stage=NAME (cdk.json defines: dev, prod)" in (
        completed.stderr
    )
    assert "Traceback" not in completed.stderr


def project_copy(tmp_path: Path, context: dict[str, Any]) -> Path:
    """A directory whose cdk.json is the repository's with this context (the app by path)."""
    project = json.loads((REPO_ROOT / "cdk.json").read_text())
    project["app"] = f"{REPO_ROOT}/.venv/bin/python {REPO_ROOT}/infra/app.py"
    project["context"] = context
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "cdk.json").write_text(json.dumps(project))
    return directory


def synth(stage: str, out: Path, asset: Path, cwd: Path = REPO_ROOT) -> dict[str, Any]:
    """`cdk synth -c stage=STAGE`; the template (the synth must succeed)."""
    completed = cdk(
        "synth", "--quiet", "--output", str(out),
        "-c", f"stage={stage}", "-c", f"lambda_asset={asset}",
        cwd=cwd,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    return dict(json.loads((out / f"AssetSync-{stage}.template.json").read_text()))


PHYSICAL_NAMES = {
    "Name",
    "TableName",
    "FunctionName",
    "LogGroupName",
    "QueueName",
    "TopicName",
    "AlarmName",
    "DashboardName",
    "ArchiveName",
}


def named(template: dict[str, Any]) -> set[tuple[str, str]]:
    """(resource type, physical name) of every resource named in the template."""
    return {
        (resource["Type"], value)
        for resource in template["Resources"].values()
        for prop, value in resource.get("Properties", {}).items()
        if prop in PHYSICAL_NAMES and isinstance(value, str)
    }


def test_prod_as_committed_stops_naming_what_cdk_json_must_add(
    tmp_path: Path, stub_lambda_asset: Path
) -> None:
    completed = cdk(
        "synth", "--quiet", "--output", str(tmp_path / "cdk.out"),
        "-c", "stage=prod", "-c", f"lambda_asset={stub_lambda_asset}",
    )  # fmt: skip
    assert completed.returncode != 0
    assert "error: stage 'prod': a production stage names its account" in completed.stderr
    assert "alarm_email" in completed.stderr and "alarm_topic_arn" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_dev_and_prod_as_documented_synthesize_and_share_no_physical_name(
    tmp_path: Path, stub_lambda_asset: Path
) -> None:
    dev = synth("dev", tmp_path / "dev.out", stub_lambda_asset)
    project = project_copy(tmp_path, deployable_context())
    prod = synth("prod", tmp_path / "prod.out", stub_lambda_asset, cwd=project)
    assert len(named(dev)) == len(named(prod)) > 25  # every table, function, alarm, ...
    assert named(dev) & named(prod) == set()
    tables = {v for t, v in named(prod) if t == "AWS::DynamoDB::Table"}
    assert tables == {"signal9_assets", "signal9_assets_sync_state", "signal9_assets_history"}
    assert ("AWS::Events::EventBus", "signal9-assets") in named(prod)
    protected = [
        r["Properties"]["DeletionProtectionEnabled"]
        for r in prod["Resources"].values()
        if r["Type"] == "AWS::DynamoDB::Table"
    ]
    assert protected == [True, True, True]


def test_a_stage_configured_to_collide_stops_and_says_why(
    tmp_path: Path, stub_lambda_asset: Path
) -> None:
    context = deployable_context()
    context["stages"]["dev"] = {**CDK_CONTEXT["stages"]["dev"], "event_bus_name": "signal9-assets"}
    completed = cdk(
        "synth", "--quiet", "--output", str(tmp_path / "cdk.out"),
        "-c", "stage=dev", "-c", f"lambda_asset={stub_lambda_asset}",
        cwd=project_copy(tmp_path, context),
    )  # fmt: skip
    assert completed.returncode != 0
    assert "stages 'dev' and 'prod' may deploy to" in completed.stderr
    assert "event bus 'signal9-assets'" in completed.stderr
    assert "Traceback" not in completed.stderr

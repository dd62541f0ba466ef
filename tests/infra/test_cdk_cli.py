"""`cdk synth` through the pinned CDK CLI (npm), as an operator runs it: no Docker, no AWS.

A stage must be chosen (-c stage=NAME); without one the app stops with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.infra

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_BIN = REPO_ROOT / "node_modules" / ".bin" / "cdk"


def cdk(*args: str) -> subprocess.CompletedProcess[str]:
    """The pinned CDK CLI from the repository root, without AWS credentials."""
    if not CDK_BIN.exists():
        pytest.fail("the CDK CLI is not installed: run `make setup` (npm ci)")
    env = {
        **os.environ,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "1",
        "CDK_DISABLE_VERSION_CHECK": "1",
    }
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        env.pop(name, None)
    return subprocess.run(
        [str(CDK_BIN), *args, "--no-notices"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
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

"""`cdk synth` through the pinned CDK CLI (npm), as an operator runs it: no Docker, no AWS."""

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


def test_cdk_synth_writes_the_template(tmp_path: Path, stub_lambda_asset: Path) -> None:
    if not CDK_BIN.exists():
        pytest.fail("the CDK CLI is not installed: run `make setup` (npm ci)")
    out = tmp_path / "cdk.out"
    env = {
        **os.environ,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "1",
        "CDK_DISABLE_VERSION_CHECK": "1",
    }
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        env.pop(name, None)
    completed = subprocess.run(
        [
            str(CDK_BIN), "synth", "--quiet", "--no-notices", "--output", str(out),
            "--context", f"lambda_asset={stub_lambda_asset}",
        ],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    template = json.loads((out / "AssetSyncStack.template.json").read_text())
    types = {resource["Type"] for resource in template["Resources"].values()}
    assert {
        "AWS::DynamoDB::Table",
        "AWS::Lambda::Function",
        "AWS::Events::Rule",
        "AWS::SQS::Queue",
        "AWS::SNS::Topic",
        "AWS::CloudWatch::Alarm",
        "AWS::SecretsManager::Secret",
    } <= types
    shutil.rmtree(out)

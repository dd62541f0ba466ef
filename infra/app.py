"""CDK entry point: ``npx cdk synth`` from the repository root runs this file.

Context (``-c key=value`` or cdk.json): stage, schedule, alarm_email, alpaca_base_url,
lambda_asset, memory_mb, timeout_seconds, max_delist_fraction (see StackSettings).
cdk-nag's AwsSolutions pack runs as a validation plugin: any unacknowledged finding fails synth.
"""

from __future__ import annotations

import sys
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script: make the `infra` package importable
    sys.path.insert(0, str(REPO_ROOT))

from infra.stack import AssetSyncStack, StackSettings  # noqa: E402

STACK_ID = "AssetSyncStack"


def build_app(app: cdk.App | None = None, *, nag: bool = True) -> tuple[cdk.App, AssetSyncStack]:
    """Create the app and its single, environment-agnostic stack (with cdk-nag unless nag=False)."""
    app = app or cdk.App()
    settings = StackSettings.from_context(app.node)
    stack = AssetSyncStack(
        app,
        STACK_ID,
        settings=settings,
        asset_root=REPO_ROOT,
        description=f"signal9-asset-sync ({settings.stage}): Alpaca asset catalog -> DynamoDB",
    )
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app, stack


def main() -> None:
    """Synthesize the cloud assembly."""
    app, _ = build_app()
    app.synth()


if __name__ == "__main__":
    main()

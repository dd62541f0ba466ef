"""CDK entry point: ``npx cdk synth -c stage=NAME`` from the repository root runs this file.

Every setting of a stage is committed in cdk.json under ``context.stages.<stage>`` (see
infra/settings.py); ``-c stage=NAME`` chooses one and is required. The stack is
``AssetSync-<stage>``, pinned to the stage's region (and account, when cdk.json names one).
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

from infra.settings import StageError, StageSettings, settings_from_context  # noqa: E402
from infra.stack import AssetSyncStack  # noqa: E402


def environment(settings: StageSettings) -> cdk.Environment:
    """Where a stage deploys: its region, and its account when cdk.json pins one."""
    return cdk.Environment(account=settings.account, region=settings.region)


def build_app(app: cdk.App | None = None, *, nag: bool = True) -> tuple[cdk.App, AssetSyncStack]:
    """Create the app and the chosen stage's stack (with cdk-nag unless nag=False).

    Raises StageError when no stage, or an unknown or invalid one, is chosen.
    """
    app = app or cdk.App()
    settings = settings_from_context(app.node)
    stack = AssetSyncStack(
        app,
        settings.stack_name,
        settings=settings,
        asset_root=REPO_ROOT,
        env=environment(settings),
        description=f"signal9-asset-sync ({settings.stage}): Alpaca asset catalog -> DynamoDB",
    )
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app, stack


def main() -> None:
    """Synthesize the cloud assembly, or stop with the stage problem as the only message."""
    try:
        app, _ = build_app()
    except StageError as error:
        sys.exit(f"error: {error}")
    app.synth()


if __name__ == "__main__":
    main()

"""Shared setup for the infra tests: import path, quiet jsii, the stub Lambda asset."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from tests.support.node_warning import silence_node_end_of_life

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # `infra` and `scripts` live at the repository root
    sys.path.insert(0, str(REPO_ROOT))

# The jsii runtime warns on every start when node is past its end of life (or deprecated); the
# warning is noise in test output (node's version is the machine's, not the project's).
silence_node_end_of_life()
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")


@pytest.fixture(scope="session")
def stub_lambda_asset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny stand-in for dist/lambda, so that synthesis does not need the package build."""
    asset = tmp_path_factory.mktemp("lambda_asset")
    (asset / "asset_sync").mkdir()
    (asset / "asset_sync" / "__init__.py").write_text("")
    (asset / "asset_sync" / "handler.py").write_text(
        "def lambda_handler(event, context):\n    return None\n"
    )
    return asset

"""Both Lambdas' import graphs stay inside what the artifact ships (one forbidden list)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from asset_sync.contract import LAMBDA_FORBIDDEN_MODULES as FORBIDDEN


@pytest.mark.parametrize(
    ("handler", "reaches"),
    [
        ("asset_sync.events.handler", "asset_sync.events.transform"),
        ("asset_sync.handler", "asset_sync.logic.sync"),
    ],
)
def test_a_handler_imports_neither_the_cli_nor_the_local_mode(handler: str, reaches: str) -> None:
    probe = (
        f"import json, sys; import {handler} as h; "
        "assert callable(h.lambda_handler); print(json.dumps(sorted(sys.modules)))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    modules = json.loads(completed.stdout)

    assert reaches in modules
    reached = [m for m in modules for f in FORBIDDEN if m == f or m.startswith(f + ".")]
    assert reached == []

"""The consumer Lambda's import graph stays inside what the artifact ships."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("click", "asset_sync.cli", "asset_sync.local", "moto", "jsonschema")


def test_the_event_handler_imports_neither_the_cli_nor_the_local_mode() -> None:
    probe = (
        "import json, sys; import asset_sync.events.handler as h; "
        "assert callable(h.lambda_handler); print(json.dumps(sorted(sys.modules)))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    modules = json.loads(completed.stdout)

    assert "asset_sync.events.transform" in modules
    reached = [m for m in modules for f in FORBIDDEN if m == f or m.startswith(f + ".")]
    assert reached == []

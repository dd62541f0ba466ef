"""`python tests/support/skewed_clock.py ...`: the real CLI (or Lambda handler) on a wrong clock.

Every wall-clock reading a run makes comes from `time.time()` (its timestamps, the lease expiry,
the full-reconciliation cadence), so a machine whose clock is N seconds ahead (negative: behind)
is `time.time` shifted by N before anything imports it: the environment variable
`CLOCK_OFFSET_SECONDS` says by how much. The monotonic clock, moto's server and the Alpaca
stand-in keep the right time. Then the unchanged CLI runs with fast Alpaca client options
(`tests.support.fast_cli`), or, with `--handler EVENT_JSON`, the Lambda handler is invoked once
with that event: its log lines go to stdout, then `RESULT {...}` (or `EXCEPTION ...` on stderr).

It runs as a script, not `python -m tests.support...`: importing the package would import the
sync (and bind `time.time` in default arguments) before the clock is shifted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

OFFSET_VARIABLE = "CLOCK_OFFSET_SECONDS"
DAY = 86_400.0
SCRIPT = Path(__file__).resolve()
REPO_ROOT = SCRIPT.parents[2]


def skew_clock(offset: float) -> None:
    """Make `time.time()` read `offset` seconds ahead of the real clock (negative: behind)."""
    real = time.time

    def skewed() -> float:
        return real() + offset

    time.time = skewed


def command(*args: str) -> list[str]:
    """argv running this script (the CLI with `args`, or `--handler EVENT_JSON`)."""
    return [sys.executable, str(SCRIPT), *args]


def skewed_env(env: Mapping[str, str], offset: float) -> dict[str, str]:
    """`env` for a child whose clock is `offset` seconds off."""
    return {**env, OFFSET_VARIABLE: repr(float(offset))}


def start(*args: str, env: Mapping[str, str], offset: float) -> subprocess.Popen[str]:
    """Start the CLI (or `--handler EVENT_JSON`) on a clock `offset` seconds off."""
    return subprocess.Popen(
        command(*args),
        env=skewed_env(env, offset),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )


def main(argv: list[str]) -> int:
    """Shift the clock, then run the CLI or the handler."""
    skew_clock(float(os.environ.get(OFFSET_VARIABLE) or 0))
    if sys.path and Path(sys.path[0]).resolve() == SCRIPT.parent:
        sys.path.pop(0)  # run as a script: import `tests.support` from the repository root
    sys.path.insert(0, str(REPO_ROOT))
    from tests.support import fast_cli  # noqa: PLC0415 - after the skew

    fast_cli.install()
    if argv[:1] == ["--handler"]:
        from tests.support.lambda_invocation import run_handler_once  # noqa: PLC0415

        return run_handler_once(json.loads(argv[1]))
    from asset_sync.cli import main as cli  # noqa: PLC0415 - after the skew

    sys.argv = ["asset-sync", *argv]
    cli()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

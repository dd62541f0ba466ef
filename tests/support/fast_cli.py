"""`python -m tests.support.fast_cli ...`: the real `asset-sync` CLI with fast Alpaca retries.

The sync builds its Alpaca client in `asset_sync.wiring.alpaca_client` with default
`ClientOptions` (30 s read timeout, 0.5 s backoff factor); there is no setting to shrink them, so
child-process tests that exhaust retries use this entry point, which swaps in small timeouts and
backoff (`tests.support.reliability.FAST_CLIENT`) and then runs the unchanged CLI. The Lambda
handler can be run the same way (`--handler`, see `run_handler`).
"""

from __future__ import annotations

import functools
import sys

from tests.support.lambda_invocation import run_handler_once, scheduled_event

from asset_sync import wiring
from asset_sync.alpaca.client import ClientOptions

FAST_CLIENT = {
    "connect_timeout": 2.0,
    "read_timeout": 1.0,
    "backoff_factor": 0.01,
    "backoff_max": 0.1,
    "backoff_jitter": 0.0,
    "max_retry_wait": 5.0,
}


def install() -> None:
    """Make every client the sync builds use FAST_CLIENT's options."""
    wiring.ClientOptions = functools.partial(ClientOptions, **FAST_CLIENT)  # type: ignore[misc]


def run_handler() -> int:
    """Invoke the Lambda handler once with a scheduled event (see `run_handler_once`)."""
    return run_handler_once(scheduled_event("evt-1"))


if __name__ == "__main__":
    install()
    if sys.argv[1:2] == ["--handler"]:
        sys.exit(run_handler())
    from asset_sync.cli import main

    main()

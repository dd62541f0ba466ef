"""`python -m tests.support.fast_cli ...`: the real `asset-sync` CLI with fast Alpaca retries.

The sync builds its Alpaca client in `asset_sync.wiring.alpaca_client` with default
`ClientOptions` (30 s read timeout, 0.5 s backoff factor); there is no setting to shrink them, so
child-process tests that exhaust retries use this entry point, which swaps in small timeouts and
backoff (`tests.support.reliability.FAST_CLIENT`) and then runs the unchanged CLI. The Lambda
handler can be run the same way (`--handler`, see `run_handler`).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
import traceback

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


class FakeLambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    function_name = "asset-sync"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:asset-sync"
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/asset-sync"
    log_stream_name = "local"

    def __init__(self) -> None:
        """The invocation's time limit: FAKE_LAMBDA_REMAINING_MS (default 900 s) from now."""
        remaining = int(os.environ.get("FAKE_LAMBDA_REMAINING_MS", "900000"))
        self.deadline = time.monotonic() + remaining / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def run_handler() -> int:
    """Invoke the Lambda handler once; print its result, or the exception with its traceback."""
    from asset_sync.handler import lambda_handler  # noqa: PLC0415 - after install()

    event = {"id": "evt-1", "source": "aws.events", "detail-type": "Scheduled Event"}
    try:
        result = lambda_handler(event, FakeLambdaContext())  # type: ignore[arg-type]
    except BaseException as error:
        sys.stderr.write(f"EXCEPTION {type(error).__name__}: {error!s} | {error!r}\n")
        traceback.print_exc()
        return 1
    sys.stdout.write("RESULT " + json.dumps(result, sort_keys=True, default=str) + "\n")
    return 0


if __name__ == "__main__":
    install()
    if sys.argv[1:2] == ["--handler"]:
        sys.exit(run_handler())
    from asset_sync.cli import main

    main()

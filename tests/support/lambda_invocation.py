"""A scheduled event, a Lambda context and a one-shot handler run, as the tests invoke the handler.

Stdlib only at import time: child processes (`fast_cli`, `skewed_clock`) import it before the
code under test is set up (fast clients installed, the clock moved).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

SCHEDULE_RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/asset-sync-daily"


def scheduled_event(event_id: str, rule_arn: str = SCHEDULE_RULE_ARN) -> dict[str, Any]:
    """The event an EventBridge schedule rule delivers to the function."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-30T04:00:00Z",
        "region": "us-east-1",
        "resources": [rule_arn],
        "detail": {},
    }


@dataclass
class LambdaContext:
    """The attributes Powertools reads from a Lambda context, with a time limit from now."""

    function_name: str = "asset-sync"
    remaining_ms: int = 600_000
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    log_stream_name: str = "local"
    deadline: float = field(init=False)

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.remaining_ms / 1000

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def run_handler_once(event: dict[str, Any]) -> int:
    """Invoke the handler once in this process (child-process tests).

    The time limit is FAKE_LAMBDA_REMAINING_MS (default 900 s). Prints `RESULT {...}` on stdout,
    or `EXCEPTION name: message | repr` and the traceback on stderr; returns 0 or 1.
    """
    from asset_sync.handler import lambda_handler  # noqa: PLC0415 - after the caller's setup

    remaining = int(os.environ.get("FAKE_LAMBDA_REMAINING_MS", "900000"))
    try:
        result = lambda_handler(event, LambdaContext(remaining_ms=remaining))  # type: ignore[arg-type]
    except BaseException as error:
        sys.stderr.write(f"EXCEPTION {type(error).__name__}: {error!s} | {error!r}\n")
        traceback.print_exc()
        return 1
    sys.stdout.write("RESULT " + json.dumps(result, sort_keys=True, default=str) + "\n")
    return 0

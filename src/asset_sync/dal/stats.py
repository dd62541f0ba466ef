"""Counting DynamoDB requests as they go over the wire (botocore event hooks).

`before-send` fires once per HTTP attempt, retries included, and also for attempts that end in a
dropped connection, so the counts equal what DynamoDB (or a proxy in front of it) received.
`before-call` fires once per API call; the difference is boto3's retries.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from asset_sync.contract import WRITE_OPERATIONS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class IoStats:
    """Thread-safe counts of DynamoDB HTTP requests, write requests and retries."""

    def __init__(self) -> None:
        self.requests = 0
        self.writes = 0
        self.calls = 0
        self._lock = threading.Lock()

    @property
    def retries(self) -> int:
        """HTTP attempts beyond the first of each call."""
        return max(0, self.requests - self.calls)

    def attach(self, client: DynamoDBClient) -> None:
        """Count every call and HTTP attempt `client` makes from now on."""
        events = client.meta.events
        events.register("before-call.dynamodb", self._on_call)
        events.register("before-send.dynamodb", self._on_send)

    def _on_call(self, **_kwargs: Any) -> None:
        with self._lock:
            self.calls += 1

    def _on_send(self, request: Any, **_kwargs: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"")
        operation = (target.decode() if isinstance(target, bytes) else str(target)).rsplit(".")[-1]
        with self._lock:
            self.requests += 1
            self.writes += int(operation in WRITE_OPERATIONS)

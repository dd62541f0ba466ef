"""Counting DynamoDB requests, writes and boto3's retries as they happen."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from botocore.exceptions import ClientError

Response = TypeVar("Response")


class IoStats:
    """Thread-safe counts of DynamoDB requests, write requests and retries."""

    def __init__(self) -> None:
        self.requests = 0
        self.writes = 0
        self.retries = 0
        self._lock = threading.Lock()

    def call(self, operation: Callable[..., Response], *, write: bool, **kwargs: Any) -> Response:
        """Run one boto3 operation and count it, whether it succeeds or raises ClientError."""
        try:
            response = operation(**kwargs)
        except ClientError as error:
            self._record(error.response, write)
            raise
        self._record(response, write)  # type: ignore[arg-type]
        return response

    def _record(self, response: Mapping[str, Any], write: bool) -> None:
        attempts = int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0))
        with self._lock:
            self.requests += 1
            self.writes += int(write)
            self.retries += attempts

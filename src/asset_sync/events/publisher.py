"""PutEvents with bounded retries of exactly the entries EventBridge reports as failed.

boto3's standard retry mode already retries a whole request on throttling, 5xx and connection
errors. A request that succeeds can still fail some of its entries (`FailedEntryCount`, an
`ErrorCode` on `Entries[i]`): those entries, and only those, are sent again with full-jitter
exponential backoff, up to `max_attempts` times in all.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from asset_sync.events.entries import request_batches

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 4


def events_client(region: str | None = None, max_attempts: int = 5) -> EventBridgeClient:
    """An EventBridge client in standard retry mode (AWS_ENDPOINT_URL_EVENTBRIDGE is honoured)."""
    config = Config(
        region_name=region,
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=5,
        read_timeout=20,
    )
    client: EventBridgeClient = boto3.session.Session().client("events", config=config)
    return client


@dataclass
class PublishOutcome:
    """Which entries could not be published after every attempt, and what it took."""

    failed: dict[int, str] = field(default_factory=dict)  # entry index -> last error code
    published: int = 0
    requests: int = 0
    attempts: int = 0


@dataclass
class Publisher:
    """Sends entries to one bus; retries failed entries with backoff, a bounded number of times."""

    client: EventBridgeClient
    bus_name: str
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    base_delay: float = 0.1
    max_delay: float = 2.0
    sleep: Callable[[float], None] = time.sleep

    def publish(self, entries: Sequence[Mapping[str, Any]]) -> PublishOutcome:
        """Publish every entry; the outcome names those that still failed at the end."""
        outcome = PublishOutcome()
        pending: dict[int, str] = dict.fromkeys(range(len(entries)), "")
        while pending and outcome.attempts < self.max_attempts:
            if outcome.attempts:
                delay = min(self.max_delay, self.base_delay * 2 ** (outcome.attempts - 1))
                self.sleep(random.uniform(0, delay))  # noqa: S311 - jitter, not crypto
            outcome.attempts += 1
            still_failed: dict[int, str] = {}
            for batch in request_batches((i, entries[i]) for i in pending):
                outcome.requests += 1
                still_failed |= self._send(batch)
            outcome.published += len(pending) - len(still_failed)
            pending = still_failed
        outcome.failed = pending
        return outcome

    def _send(self, batch: list[tuple[int, Mapping[str, Any]]]) -> dict[int, str]:
        """One PutEvents request; the indices of its entries that failed, with their codes."""
        request: list[Any] = [{**entry, "EventBusName": self.bus_name} for _, entry in batch]
        try:
            response = self.client.put_events(Entries=request)
        except (ClientError, BotoCoreError) as error:
            code = (
                str(error.response.get("Error", {}).get("Code", "ClientError"))
                if isinstance(error, ClientError)
                else type(error).__name__
            )
            logger.warning("PutEvents request failed", extra={"error": code, "entries": len(batch)})
            return {index: code for index, _ in batch}
        if not response.get("FailedEntryCount"):
            return {}
        failed: dict[int, str] = {}
        for (index, _), result in zip(batch, response.get("Entries", []), strict=False):
            if result.get("ErrorCode"):
                failed[index] = str(result["ErrorCode"])
        if len(response.get("Entries", [])) < len(batch):  # never seen; fail safe
            failed |= {index: "MissingResult" for index, _ in batch[len(response["Entries"]) :]}
        logger.warning(
            "PutEvents failed some entries",
            extra={"failed": len(failed), "codes": sorted(set(failed.values()))},
        )
        return failed

"""PutEvents within a deadline: the publisher owns every retry, boto3 makes one attempt.

A request can fail whole (throttling, 5xx, a timeout, a missing bus, a lost permission): all
its entries are retried, as an operator can fix each of these. A request that succeeds can
still fail some entries (`FailedEntryCount`, an `ErrorCode` on `Entries[i]`): entries with a
code EventBridge documents as retryable (`InternalFailure`, `ThrottlingException`) or an
unknown one are retried; the documented non-retryable codes end the entry (`refused`).
Retries use full-jitter exponential backoff, and no request or sleep starts unless it ends
before the deadline: what is left is `pending`, for the caller to report.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from asset_sync.events.clock import Deadline
from asset_sync.events.entries import request_batches
from asset_sync.logic.pacing import full_jitter

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 5.0
# The longest one PutEvents request can take with boto3 making a single attempt.
REQUEST_SECONDS = CONNECT_TIMEOUT + READ_TIMEOUT + 0.5
BASE_DELAY = 0.5
MAX_DELAY = 20.0
# Per-entry codes EventBridge documents as non-retryable (PutEventsResultEntry, API reference).
FINAL_ENTRY_CODES = frozenset(
    {
        "AccessDeniedException",
        "InvalidAccountIdException",
        "InvalidArgument",
        "MalformedDetail",
        "RedactionFailure",
        "NotAuthorizedForSourceException",
        "NotAuthorizedForDetailTypeException",
    }
)
# Request-level codes that blame the request's content, not the service: the entries are sent
# again one per request, and an entry that fails alone with one of them is refused.
INVALID_REQUEST_CODES = frozenset(
    {"ValidationException", "ValidationError", "SerializationException", "ParamValidationError"}
)


def events_client(
    region: str | None = None,
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
) -> EventBridgeClient:
    """An EventBridge client that makes one attempt per call (AWS_ENDPOINT_URL_EVENTBRIDGE is
    honoured): the publisher retries, so its budget is the only one."""
    config = Config(
        region_name=region,
        # total_max_attempts counts the first attempt; botocore's max_attempts counts retries
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    client: EventBridgeClient = boto3.session.Session().client("events", config=config)
    return client


@dataclass
class PublishOutcome:
    """What became of each entry: published, refused for good, or still pending."""

    published: set[int] = field(default_factory=set)
    refused: dict[int, str] = field(default_factory=dict)  # entry index -> final error code
    pending: dict[int, str] = field(default_factory=dict)  # entry index -> last error code
    requests: int = 0
    rounds: int = 0


@dataclass
class Publisher:
    """Sends entries to one bus until each is published or refused, or the deadline comes."""

    client: EventBridgeClient
    bus_name: str
    sleep: Callable[[float], None]
    request_seconds: float = REQUEST_SECONDS
    base_delay: float = BASE_DELAY
    max_delay: float = MAX_DELAY
    jitter: random.Random = field(default_factory=random.Random)

    def publish(self, entries: Sequence[Mapping[str, Any]], deadline: Deadline) -> PublishOutcome:
        """Publish every entry it can before `deadline`."""
        outcome = PublishOutcome()
        pending: dict[int, str] = dict.fromkeys(range(len(entries)), "NotSent")
        alone: set[int] = set()  # entries to send one per request (their request was invalid)
        while pending:
            if outcome.rounds:
                rounds = outcome.rounds
                delay = full_jitter(rounds - 1, self.base_delay, self.max_delay, self.jitter)
                if not deadline.allows(delay + self.request_seconds):
                    break
                self.sleep(delay)
            outcome.rounds += 1
            pending = self._round(entries, pending, alone, deadline, outcome)
        outcome.pending = pending
        return outcome

    def _round(
        self,
        entries: Sequence[Mapping[str, Any]],
        pending: dict[int, str],
        alone: set[int],
        deadline: Deadline,
        outcome: PublishOutcome,
    ) -> dict[int, str]:
        """One pass over the pending entries; the ones still pending after it."""
        still: dict[int, str] = {}
        together = [(i, entries[i]) for i in pending if i not in alone]
        batches = [*request_batches(together), *([(i, entries[i])] for i in pending if i in alone)]
        for batch in batches:
            if not deadline.allows(self.request_seconds):
                still |= {index: pending[index] for index, _ in batch}
                continue
            outcome.requests += 1
            failed, whole_request = self._send(batch)
            outcome.published |= {index for index, _ in batch if index not in failed}
            for index, code in failed.items():
                if code in INVALID_REQUEST_CODES and index not in alone:
                    alone.add(index)  # which entry made the request invalid? send each alone
                if (code in FINAL_ENTRY_CODES and not whole_request) or (
                    code in INVALID_REQUEST_CODES and len(batch) == 1
                ):
                    outcome.refused[index] = code
                else:
                    still[index] = code
        return still

    def _send(self, batch: list[tuple[int, Mapping[str, Any]]]) -> tuple[dict[int, str], bool]:
        """One PutEvents request: its entries that failed, with their codes, and whether the
        request failed whole (then a code is the request's, never an entry's)."""
        request: list[Any] = [{**entry, "EventBusName": self.bus_name} for _, entry in batch]
        try:
            response = self.client.put_events(Entries=request)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code") or "ClientError")
            logger.warning("PutEvents request failed", extra={"error": code, "entries": len(batch)})
            return {index: code for index, _ in batch}, True
        except (BotoCoreError, OSError) as error:
            name = type(error).__name__
            code = "ParamValidationError" if isinstance(error, ParamValidationError) else name
            logger.warning("PutEvents request failed", extra={"error": code, "entries": len(batch)})
            return {index: code for index, _ in batch}, True
        results = response.get("Entries", [])
        failed = {
            index: str(result["ErrorCode"])
            for (index, _), result in zip(batch, results, strict=False)
            if result.get("ErrorCode")
        }
        if len(results) < len(batch):  # never seen; fail safe
            failed |= {index: "MissingResult" for index, _ in batch[len(results) :]}
        if failed:
            logger.warning(
                "PutEvents failed some entries",
                extra={"failed": len(failed), "codes": sorted(set(failed.values()))},
            )
        return failed, False
